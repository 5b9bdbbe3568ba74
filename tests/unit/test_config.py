from pathlib import Path

import pytest

from tui_pacs.config import (
    ANYONE,
    CONFIGURED_MODALITIES,
    ConfigError,
    Modality,
    Settings,
    load_settings,
)

EXAMPLE = """
[node]
aet = "TUIPACS"        # default
port = 11112           # default
bind = "0.0.0.0"       # default
data = "/var/lib/tui-pacs"

[[modalities]]
name = "orthanc"       # symbolic name used on the command line and in the UI
aet = "ORTHANC"
host = "127.0.0.1"
port = 4242
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_max_dataset_mb_is_read_from_limits(tmp_path):
    assert load_settings(tmp_path / "absent.toml").limits.max_dataset_mb == 4096
    path = write(tmp_path, "[limits]\nmax_dataset_mb = 64\n")
    assert load_settings(path).limits.max_dataset_mb == 64


def test_retention_limits_are_read_and_off_by_default(tmp_path):
    assert not load_settings(tmp_path / "absent.toml").retention.enabled
    path = write(tmp_path, "[retention]\nmax_studies = 500\nmax_size_gb = 0.5\n"
                           "keep_days = 90\n")
    retention = load_settings(path).retention
    assert (retention.max_studies, retention.max_size_gb, retention.keep_days) == (500, 0.5, 90)
    assert retention.enabled


def test_missing_file_means_defaults(tmp_path):
    settings = load_settings(tmp_path / "absent.toml")
    assert settings.node.aet == "TUIPACS"
    assert settings.node.port == 11112
    assert settings.node.bind == "0.0.0.0"
    assert settings.node.data.name == "tui-pacs"
    assert settings.modalities == ()
    assert settings.access.echo == (ANYONE,)
    assert settings.access.find == (CONFIGURED_MODALITIES,)


def test_default_data_dir_is_the_user_data_dir(isolated_home):
    settings = load_settings()
    assert settings.node.data == isolated_home / ".local/share/tui-pacs"


def test_the_documented_example_parses(tmp_path):
    settings = load_settings(write(tmp_path, EXAMPLE))
    assert settings.node.data == Path("/var/lib/tui-pacs")
    assert settings.modalities == (Modality("orthanc", "ORTHANC", "127.0.0.1", 4242),)
    assert settings.modality("orthanc").aet == "ORTHANC"
    assert settings.modality_by_aet("ORTHANC").name == "orthanc"


def test_environment_variable_points_at_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, '[node]\naet = "FROMENV"\n')
    monkeypatch.setenv("TUI_PACS_CONFIG", str(path))
    assert load_settings().node.aet == "FROMENV"


def test_readme_example_is_valid(tmp_path):
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1]
    example = section.split("```toml", 1)[1].split("```", 1)[0]
    settings = load_settings(write(tmp_path, example))
    assert settings.modality("orthanc") is not None


@pytest.mark.parametrize("text, key, reason", [
    ("[node\naet='X'", "", "not valid TOML"),
    ('[node]\ncolour = "red"\n', "node.colour", "unknown key"),
    ('[nodes]\naet = "X"\n', "nodes", "unknown section"),
    ('[node]\naet = "THIS_IS_MUCH_TOO_LONG"\n', "node.aet", "21 characters long"),
    ('[node]\naet = "BAD\\\\AET"\n', "node.aet", "backslash"),
    ('[node]\naet = "BAD\\u0007"\n', "node.aet", "control characters"),
    ('[node]\naet = "   "\n', "node.aet", "must not be empty"),
    ("[node]\nport = 70000\n", "node.port", "out of range"),
    ("[node]\nport = 0\n", "node.port", "out of range"),
    ('[node]\nport = "11112"\n', "node.port", "whole number"),
    ('[node]\nbind = "not an address"\n', "node.bind", "not an IP address"),
    ("[limits]\ndimse_timeout = -1\n", "limits.dimse_timeout", "more than 0"),
    ("[limits]\nmax_dataset_mb = 0\n", "limits.max_dataset_mb", "out of range"),
    ('[access]\nfind = "ANY"\n', "access.find", "must be a list"),
    ('[[modalities]]\nname = "a"\naet = "A"\nhost = "h"\nport = 1\n'
     '[[modalities]]\nname = "a"\naet = "B"\nhost = "h"\nport = 2\n',
     'modalities "a"', "duplicate modality name"),
    ('[[modalities]]\nname = "a"\naet = "A"\nhost = "h"\n', 'modalities "a"', "missing port"),
    ('[[modalities]]\nname = "a"\naet = "A"\nhost = "h"\nport = 99999\n',
     'modalities "a".port', "out of range"),
    ('[[modalities]]\nname = "a"\naet = "A"\nhost = "h"\nport = 1\nfoo = 1\n',
     'modalities "a".foo', "unknown key"),
    ("[tls]\nenabled = true\n", "tls", "needs both certificate and key"),
    ("[retention]\nmax_studies = 0\n", "retention.max_studies", "out of range"),
    ("[retention]\nmax_size_gb = -1\n", "retention.max_size_gb", "more than 0"),
    ('[retention]\nmax_size_gb = "10G"\n', "retention.max_size_gb", "must be a number"),
    ("[retention]\nkeep_days = 1.5\n", "retention.keep_days", "whole number"),
    ("[retention]\nkeep_weeks = 2\n", "retention.keep_weeks", "unknown key"),
])
def test_invalid_files_name_file_key_and_reason(tmp_path, text, key, reason):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert key in message
    assert reason in message
    assert "\n" not in message


def test_command_line_overrides_the_file(tmp_path):
    settings = load_settings(write(tmp_path, '[node]\naet = "FILE"\nport = 2000\n'))
    changed = settings.with_node(port=3000, aet=None)
    assert changed.node.port == 3000
    assert changed.node.aet == "FILE"


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().node.port = 1  # type: ignore[misc]
