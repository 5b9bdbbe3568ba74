"""The reload registry on an in-process node: a section plugs in with one entry."""

from __future__ import annotations

import dataclasses
import logging

from tests.server.node_fixtures import settings_for, started
from tui_pacs.config import AccessConfig, ConfigError, StorageConfig
from tui_pacs.services import reload
from tui_pacs.services.reload import Reloadable, Reloader


async def test_a_section_with_its_own_service_is_applied_and_described(
        tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    node = await started(settings_for(tmp_path / "data"))
    applied = []
    monkeypatch.setattr(reload, "RELOADABLE", [
        *reload.RELOADABLE,
        Reloadable("storage", apply=lambda node, value: applied.append(value)),
    ])
    new = dataclasses.replace(node.settings, storage=StorageConfig(min_free_mb=1),
                              access=AccessConfig(store=("CT1",)))
    try:
        assert await Reloader(node, lambda: new).reload()
        assert applied == [StorageConfig(min_free_mb=1)]
        assert node.settings.storage.min_free_mb == 1
        assert node.settings.access.store == ("CT1",)
    finally:
        await node.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "tui_pacs.reload"]
    assert "storage: min_free_mb now 1 (was 64)" in lines
    assert "access: allowed calling AE titles for store now CT1 (was anyone)" in lines


async def test_a_file_that_does_not_load_changes_nothing(tmp_path, caplog):
    node = await started(settings_for(tmp_path / "data"))
    before = node.settings

    def broken():
        raise ConfigError("config.toml: access.store: must be a list of AE titles")

    try:
        assert not await Reloader(node, broken).reload()
        assert node.settings is before
    finally:
        await node.stop()
    [refusal] = [r for r in caplog.records if r.name == "tui_pacs.reload"]
    assert refusal.levelno == logging.ERROR
    assert refusal.getMessage() == ("reload refused, the settings in use are kept: "
                                    "config.toml: access.store: must be a list of AE titles")
