import dataclasses
from pathlib import Path

import pytest
from pydicom.uid import CTImageStorage, SecondaryCaptureImageStorage

from tests.dicom_factory import make_dataset, write_instance
from tui_pacs.config import (
    ANYONE,
    CONFIGURED_MODALITIES,
    ConfigError,
    ForwardingConfig,
    ForwardRule,
    Modality,
    Settings,
    load_settings,
)
from tui_pacs.store.ingest import read_record

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


PACS = '[[modalities]]\nname = "pacs"\naet = "PACS"\nhost = "10.0.0.5"\nport = 104\n'


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
    ('[[forward]]\nto = ["pacs"]\n', "forward[1].to",
     "'pacs' is not a [[modalities]] name (none are configured)"),
    (PACS + '[[forward]]\nto = ["pacs", "backup"]\n', "forward[1].to",
     "'backup' is not a [[modalities]] name (configured: pacs)"),
    (PACS + '[[forward]]\nmodality = ["CT"]\n', "forward[1]", "missing to"),
    (PACS + '[[forward]]\nto = []\n', "forward[1].to", "must be a non-empty list"),
    (PACS + '[[forward]]\nto = "pacs"\n', "forward[1].to", "must be a non-empty list"),
    (PACS + '[[forward]]\nto = ["pacs"]\nsop_class = ["CTImgStorage"]\n',
     "forward[1].sop_class", "'CTImgStorage' is not a SOP class keyword"),
    (PACS + '[[forward]]\nto = ["pacs"]\nsop_class = ["ExplicitVRLittleEndian"]\n',
     "forward[1].sop_class", "is not a SOP class keyword"),
    (PACS + '[[forward]]\nto = ["pacs"]\nsop_class = ["1.2.03"]\n',
     "forward[1].sop_class", "'1.2.03' is not a valid UID"),
    (PACS + '[[forward]]\nto = ["pacs"]\nmodality = ["ct"]\n',
     "forward[1].modality", "'ct' is not a Modality value"),
    (PACS + '[[forward]]\nto = ["pacs"]\ncalling = ["WAY_TOO_LONG_AE_TITLE"]\n',
     "forward[1].calling", "21 characters long"),
    (PACS + '[[forward]]\nto = ["pacs"]\nevery = true\n', "forward[1].every", "unknown key"),
    ("[forward]\nto = 1\n", "forward", "must be an array of tables ([[forward]])"),
    ("[forwarding]\nfirst_retry = 45\n", "forwarding.first_retry", "at most 30 seconds"),
    ("[forwarding]\nfirst_retry = 10\nmax_retry = 5\n", "forwarding.max_retry",
     "must not be less than first_retry"),
    ("[forwarding]\nmax_attempts = 0\n", "forwarding.max_attempts", "out of range"),
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


FORWARDING = PACS + """
[[modalities]]
name = "backup"
aet = "BACKUP"
host = "10.0.0.6"
port = 104

[[forward]]
to = ["pacs"]

[[forward]]
to = ["backup", "pacs"]
calling = ["CT1", "MR1"]
modality = ["CT"]
sop_class = ["CTImageStorage", "1.2.840.10008.5.1.4.1.1.4"]

[forwarding]
max_attempts = 4
first_retry = 2.5
max_retry = 60
"""


@pytest.fixture
def received(tmp_path):
    """The index record of an instance received from ``calling``."""

    def record(calling: str, modality: str = "CT", sop_class: str = CTImageStorage):
        path = write_instance(tmp_path / "in.dcm", make_dataset(modality=modality))
        return dataclasses.replace(read_record(path, calling), sop_class_uid=sop_class)

    return record


def test_forward_rules_are_read_with_keywords_as_uids(tmp_path):
    settings = load_settings(write(tmp_path, FORWARDING))
    assert settings.forward == (
        ForwardRule(to=("pacs",)),
        ForwardRule(to=("backup", "pacs"), calling=("CT1", "MR1"), modality=("CT",),
                    sop_class=(CTImageStorage, "1.2.840.10008.5.1.4.1.1.4")))
    assert settings.forwarding == ForwardingConfig(max_attempts=4, first_retry=2.5,
                                                   max_retry=60)
    # Every modality may come after the rules that name it.
    tail_first = FORWARDING.split("[forwarding]")[0]
    rules, modalities = tail_first.split("[[forward]]", 1)
    assert load_settings(write(tmp_path, "[[forward]]" + modalities + rules)).forward


def test_an_instance_goes_to_every_matching_rule_once_and_never_back_to_its_sender(
        tmp_path, received):
    settings = load_settings(write(tmp_path, FORWARDING))
    assert settings.forward_to(received("CT1")) == ("pacs", "backup")
    assert settings.forward_to(received("CT2")) == ("pacs",)
    assert settings.forward_to(received("CT1", modality="MR")) == ("pacs",)
    assert settings.forward_to(received("MR1", sop_class=SecondaryCaptureImageStorage)) == (
        "pacs",)
    assert settings.forward_to(received("PACS")) == ()
    assert settings.forward_to(received("BACKUP")) == ("pacs",)
    assert Settings().forward_to(received("CT1")) == ()
