"""Where tui-pacs keeps its configuration and data by default (platformdirs)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "tui-pacs"
CONFIG_ENV = "TUI_PACS_CONFIG"


def default_config_path() -> Path:
    """The config file: ``$TUI_PACS_CONFIG`` or ``<user config dir>/config.toml``."""
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def default_data_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME)


def user_theme_dir(config_path: Path) -> Path:
    """User themes live beside the config file, in ``themes/``."""
    return config_path.parent / "themes"
