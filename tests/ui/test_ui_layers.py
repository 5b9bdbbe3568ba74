"""Who imports what: only tui_pacs.ui imports Textual; the UI imports neither pynetdicom
nor SQLite (it talks to services); the command line loads Textual only for the app."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, cli_env

PACKAGE = REPO / "tui_pacs"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def modules_importing(prefixes: tuple[str, ...], where: Path) -> list[str]:
    found = []
    for path in where.rglob("*.py"):
        if any(name == p or name.startswith(p + ".") for name in imported_modules(path)
               for p in prefixes):
            found.append(str(path.relative_to(REPO)))
    return sorted(found)


def test_only_the_ui_imports_textual():
    outside = [path for path in modules_importing(("textual", "rich_pixels"), PACKAGE)
               if not path.startswith("tui_pacs/ui/")]
    assert outside == []


def test_the_ui_talks_to_services_not_to_the_network_or_sql():
    assert modules_importing(("pynetdicom", "sqlite3", "aiosqlite", "tui_pacs.net",
                              "tui_pacs.store.db", "tui_pacs.store.queries",
                              "tui_pacs.store.writer"), PACKAGE / "ui") == []


def test_the_command_line_loads_textual_only_for_the_app():
    code = ("import sys; from tui_pacs.cli import build_parser; build_parser(); "
            "import tui_pacs.services.node, tui_pacs.services.client; "
            "print('textual' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=cli_env(), cwd=REPO, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
