"""The app under test: a real archive on disk with fixed studies, and helpers to drive it."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.conftest import REPO, cli_env, free_port
from tests.dicom_factory import write_study
from tui_pacs.config import Modality, Settings
from tui_pacs.store.archive import Archive
from tui_pacs.ui.app import PacsApp
from tui_pacs.ui.failures import FaultReports
from tui_pacs.ui.screens.query import QueryScreen

S = TypeVar("S")

# "Today" for every app under test: date presets and snapshots never depend on the clock.
TODAY = datetime(2024, 1, 15, 9, 30)

# (study number, patient id, patient name, study date, modality, accession, description)
STUDIES = [
    (1, "PAT1", "DOE^JANE", "20240115", "CT", "ACC001", "CT HEAD"),
    (2, "PAT1", "DOE^JANE", "20240110", "MR", "ACC002", "MR KNEE"),
    (3, "PAT2", "SMITH^JOHN", "20240114", "CT", "ACC003", "CT CHEST"),
    (4, "PAT3", "MÜLLER^ÅSA", "20231201", "CT", "ACC004", "CT ABDOMEN"),
]


def study_files(folder: Path) -> list[Path]:
    files = []
    for number, patient_id, name, day, modality, accession, description in STUDIES:
        files += write_study(folder, study=number, series=2, instances=3, patient_id=patient_id,
                             patient_name=name, study_date=day, modality=modality,
                             accession=accession, description=description,
                             charset="ISO_IR 192")
    return files


async def seed(data_dir: Path, files: list[Path]) -> None:
    archive = await Archive.open(data_dir)
    try:
        for result in await archive.store_files(files):
            assert not isinstance(result, Exception), result
    finally:
        await archive.close()


@pytest.fixture(autouse=True)
def faults(monkeypatch) -> list[BaseException]:
    """Faults the app contained during the test, which fail it unless it clears the list:
    the app keeps running after one, so Textual's run_test no longer re-raises it."""
    contained: list[BaseException] = []
    report = FaultReports.report

    def recording(self, app, where, error):
        contained.append(error)
        report(self, app, where, error)

    monkeypatch.setattr(FaultReports, "report", recording)
    yield contained
    assert not contained, f"the app contained {contained!r}; the log output has the tracebacks"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(path=tmp_path / "config.toml").with_node(data=tmp_path / "data")


@pytest.fixture
def seeded(settings, tmp_path) -> Settings:
    """Settings of a data directory holding STUDIES (4 studies, 2 series x 3 instances)."""
    asyncio.run(seed(settings.node.data, study_files(tmp_path / "incoming")))
    return settings


def make_app(settings: Settings, *, listen: bool = False) -> PacsApp:
    """The app on a fixed clock; without its DICOM server unless ``listen``."""
    return PacsApp(settings, listen=listen, clock=lambda: TODAY)


def listening(settings: Settings, aet: str = "TUIPACS") -> Settings:
    """The settings with the node on a free loopback port."""
    return settings.with_node(aet=aet, port=free_port(), bind="127.0.0.1")


async def settle(pilot: Pilot) -> None:
    """Wait until the app is idle: workers done, messages handled, no blinking cursor."""
    app = pilot.app
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    for field in app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


async def opened_by(pilot: Pilot, kind: type[S], *keys: str) -> S:
    """The screen that ``keys``, pressed in turn once the app has settled, open:
    a ``kind``, or the test fails."""
    await settle(pilot)
    for key in keys:
        await pilot.press(key)
        await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, kind), screen
    return screen


async def open_query(pilot: Pilot) -> QueryScreen:
    """From the app's first screen, the Query screen as key 2 opens it."""
    return await opened_by(pilot, QueryScreen, "2")


async def until(pilot: Pilot, done: Callable[[], bool], timeout: float = 30) -> None:
    """Let the app handle messages until ``done()`` holds (an outcome, not a guessed delay)."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the app never got there"
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()


def column(app: PacsApp, key: str) -> list:
    """One column of the rows the current screen's table has fetched."""
    return [row.get(key) for row in app.screen.table.loaded_rows()]


def screen_text(app: PacsApp) -> str:
    """What the terminal shows, as plain text lines."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


@pytest.fixture
def remote_node(tmp_path_factory):
    """Another tui-pacs node (``tui-pacs serve``) holding STUDIES, which lets this app
    (TUIPACS) query it: a real remote without DCMTK or Orthanc. Stopped at the end."""
    folder = tmp_path_factory.mktemp("remote")
    asyncio.run(seed(folder / "data", study_files(folder / "incoming")))
    port = free_port()
    config = folder / "config.toml"
    config.write_text('[[modalities]]\nname = "app"\naet = "TUIPACS"\nhost = "127.0.0.1"\n'
                      'port = 1\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_pacs", "serve", "--config", str(config), "--data",
         str(folder / "data"), "--aet", "REMOTE", "--port", str(port), "--bind", "127.0.0.1"],
        env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    try:
        _wait_for_port(port, process)
        yield Modality("remote", "REMOTE", "127.0.0.1", port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the remote node exited: {process.stderr.read().decode()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the remote node did not start listening")


# Two remotes that need not answer: the app's choice between them is what is tested.
TWO_REMOTES = (Modality("pacs", "PACS", "pacs.example.org", 104),
               Modality("ct3", "CT3", "10.0.3.3", 4104, tls=True))


def with_modalities(settings: Settings, *modalities: Modality) -> Settings:
    return dataclasses.replace(settings, modalities=modalities)
