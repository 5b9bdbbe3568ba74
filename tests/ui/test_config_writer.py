"""Writing modalities and the theme back to the config file, comments and all."""

from __future__ import annotations

import os

import pytest

from tui_pacs import config_writer
from tui_pacs.config import ConfigError, Modality, load_settings

ORIGINAL = """\
# Our node. Keep the AE title short: the modalities type it by hand.
[node]
aet = "ARCHIVE"   # agreed with radiology
port = 11112

# The CT in room 3.
[[modalities]]
name = "ct3"      # by room
aet = "CT3"
host = "10.0.3.3"
port = 104

[[modalities]]
# The hospital PACS.
name = "pacs"
aet = "PACS"
host = "pacs.example.org"
port = 11112

[ui]
theme = "tui-pacs-dark"  # changed from the app
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(ORIGINAL, encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def test_theme_change_keeps_comments(config):
    settings = config_writer.set_theme(config, "tui-pacs-light")
    assert settings.ui.theme == "tui-pacs-light"
    text = config.read_text()
    assert text == ORIGINAL.replace('theme = "tui-pacs-dark"', 'theme = "tui-pacs-light"')
    assert load_settings(config).ui.theme == "tui-pacs-light"
    assert config.stat().st_mode & 0o777 == 0o600


def test_theme_in_a_new_file(tmp_path):
    path = tmp_path / "new" / "config.toml"
    config_writer.set_theme(path, "tui-pacs-ansi")
    assert load_settings(path).ui.theme == "tui-pacs-ansi"


def test_add_edit_remove_modality(config):
    added = config_writer.add_modality(config, Modality("mr1", "MR1", "10.0.4.1", 4104))
    assert added.modality("mr1") == Modality("mr1", "MR1", "10.0.4.1", 4104)
    edited = config_writer.update_modality(config, "ct3",
                                           Modality("ct-room3", "CT3", "10.0.3.4", 104, True))
    assert edited.modality("ct3") is None
    assert edited.modality("ct-room3") == Modality("ct-room3", "CT3", "10.0.3.4", 104, True)
    text = config.read_text()
    assert 'name = "ct-room3"      # by room' in text
    assert "# The CT in room 3." in text and "# The hospital PACS." in text
    removed = config_writer.remove_modality(config, "pacs")
    assert [m.name for m in removed.modalities] == ["ct-room3", "mr1"]
    assert "# agreed with radiology" in config.read_text()
    assert load_settings(config) == removed


def test_last_modality_removed_leaves_a_valid_file(tmp_path):
    path = tmp_path / "config.toml"
    config_writer.add_modality(path, Modality("a", "A", "h", 104))
    config_writer.remove_modality(path, "a")
    assert load_settings(path).modalities == ()


@pytest.mark.parametrize("change, message", [
    (lambda p: config_writer.add_modality(p, Modality("ct3", "X", "h", 1)), "already exists"),
    (lambda p: config_writer.update_modality(p, "nope", Modality("n", "N", "h", 1)),
     "no modality named"),
    (lambda p: config_writer.update_modality(p, "ct3", Modality("pacs", "N", "h", 1)),
     "already exists"),
    (lambda p: config_writer.remove_modality(p, "nope"), "no modality named"),
    (lambda p: config_writer.add_modality(p, Modality("bad", "A\\B", "h", 1)), "backslash"),
    (lambda p: config_writer.add_modality(p, Modality("bad", "A", "h", 70000)), "out of range"),
])
def test_invalid_changes_write_nothing(config, change, message):
    with pytest.raises(ConfigError, match=message):
        change(config)
    assert config.read_text() == ORIGINAL
    assert [p.name for p in config.parent.iterdir()] == ["config.toml"]


def test_broken_file_is_not_overwritten(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[node\naet = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config_writer.set_theme(path, "x")
    assert path.read_text() == "[node\naet = 1"
