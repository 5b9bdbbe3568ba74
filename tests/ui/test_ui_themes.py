"""Themes: the built-in files, user files, the choice persisted, NO_COLOR, the wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO
from tests.ui.conftest import make_app, settle
from tui_pacs import paths
from tui_pacs.config import load_settings
from tui_pacs.ui.themes import load_theme_file, load_themes

BUILTIN = {"tui-pacs-dark", "tui-pacs-light", "tui-pacs-high-contrast", "tui-pacs-ansi"}


def test_builtin_themes_load():
    loaded = load_themes(None)
    assert set(loaded.themes) == BUILTIN and loaded.problems == []
    assert loaded.themes["tui-pacs-ansi"].ansi
    assert not loaded.themes["tui-pacs-light"].dark


def test_user_theme_added_and_overriding(tmp_path):
    folder = tmp_path / "themes"
    folder.mkdir()
    (folder / "mine.toml").write_text('name = "mine"\nprimary = "#ff8800"\n')
    (folder / "dark.toml").write_text('name = "tui-pacs-dark"\nprimary = "#00ff00"\n')
    (folder / "broken.toml").write_text('name = "broken"\nprimary = "no colour"\n')
    (folder / "typo.toml").write_text('name = "typo"\nprimray = "#000000"\n')
    loaded = load_themes(folder)
    assert loaded.themes["mine"].primary == "#ff8800"
    assert loaded.themes["tui-pacs-dark"].primary == "#00ff00"
    assert len(loaded.problems) == 2
    assert "broken.toml: primary: 'no colour' is not a colour" in loaded.problems[0]
    assert "typo.toml: primray: unknown key" in loaded.problems[1]


def test_theme_file_needs_a_name(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('primary = "#000000"\n')
    with pytest.raises(ValueError, match="every theme needs a name"):
        load_theme_file(path)


async def test_theme_from_config_and_choice_persisted(settings, config_file):
    path = config_file('# mine\n[ui]\ntheme = "tui-pacs-light"  # bright room\n')
    settings = load_settings(path).with_node(data=settings.node.data)
    app = make_app(settings)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.theme == "tui-pacs-light"
        app.theme = "tui-pacs-high-contrast"
        await settle(pilot)
    assert load_settings(path).ui.theme == "tui-pacs-high-contrast"
    assert path.read_text().startswith("# mine\n")
    assert "# bright room" in path.read_text()


async def test_user_theme_dropped_into_the_config_directory(settings):
    folder = paths.user_theme_dir(settings.path)
    folder.mkdir(parents=True)
    (folder / "ward.toml").write_text('name = "ward"\nprimary = "#aa3377"\ndark = false\n')
    settings.path.write_text('[ui]\ntheme = "ward"\n')
    app = make_app(load_settings(settings.path).with_node(data=settings.node.data))
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.theme == "ward"


async def test_unknown_theme_falls_back_with_a_notice(settings):
    settings.path.write_text('[ui]\ntheme = "no-such-theme"\n')
    app = make_app(load_settings(settings.path).with_node(data=settings.node.data))
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.theme == "tui-pacs-dark"
        assert any("no-such-theme" in str(n.message) for n in app._notifications)


async def test_no_color(settings, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(settings)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.no_color


@pytest.mark.slow
def test_wheel_carries_the_themes(tmp_path):
    # Built from a copy: setuptools leaves build/ and *.egg-info beside the sources.
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "tui_pacs", source / "tui_pacs", symlinks=True, ignore=ignore)
    shutil.copytree(REPO / "themes", source / "themes")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
         str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    [wheel] = (tmp_path / "dist").glob("tui_pacs-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for theme in ("dark", "light", "high-contrast", "ansi"):
        assert f"tui_pacs/themes/{theme}.toml" in names
    assert "tui_pacs/ui/styles/app.tcss" in names
    assert "tui_pacs/ui/screens/studies.py" in names


def test_styles_use_theme_variables_only():
    """No colour is written into the app's CSS: themes decide them all."""
    import re

    styles = sorted((REPO / "tui_pacs" / "ui" / "styles").glob("*.tcss"))
    assert styles
    colour = re.compile(r"#[0-9a-fA-F]{3,8}\b|\brgba?\(|\b(?:red|green|blue|yellow|white|black)\b")
    for path in styles:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("/*")[0]
            assert not colour.search(code), f"{path.name}:{number}: {line.strip()}"
