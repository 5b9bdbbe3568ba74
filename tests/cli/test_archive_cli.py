"""The archive commands as a user runs them: subprocesses, real files, real index."""

import json
import sqlite3

import pytest

from tests.conftest import PYDICOM_DATA, pydicom_file, run_cli
from tests.dicom_factory import make_dataset, write_instance, write_study


@pytest.fixture
def archive_dir(tmp_path):
    """A data directory holding two studies of two patients."""
    data = tmp_path / "data"
    write_study(tmp_path / "in", study=1, series=2, instances=2, patient_name="SMITH^ANNA",
                study_date="20230510", accession="ACC1")
    write_study(tmp_path / "in", study=2, series=1, instances=1, patient_id="PAT2",
                patient_name="JONES^BOB", study_date="20240115", modality="OT")
    result = run_cli("import", tmp_path / "in", "--data", data)
    assert result.returncode == 0, result.stderr
    return data


def test_import_reports_a_summary_and_each_failure(tmp_path):
    folder = tmp_path / "mixed"
    write_study(folder / "good", study=1, instances=3)
    (folder / "notes.txt").write_text("not dicom")
    good = pydicom_file("CT_small.dcm").read_bytes()
    (folder / "truncated.dcm").write_bytes(good[:1000])
    write_instance(folder / "again.dcm", make_dataset(study=1, instance=1))
    result = run_cli("import", folder, "--data", tmp_path / "data")
    assert result.returncode == 1
    assert result.stdout.strip() == ("3 imported, 1 duplicate(s), 1 skipped (not DICOM), "
                                     "1 failed")
    [failure] = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert "truncated.dcm" in failure and "malformed" in failure
    assert "Traceback" not in result.stderr


def test_import_of_many_files_with_broken_ones_keeps_going(tmp_path):
    folder = tmp_path / "many"
    broken = 0
    for number in range(1, 301):
        path = write_instance(folder / f"{number:04}.dcm", make_dataset(
            study=number // 50, series=1, instance=number, rows=8, columns=8))
        if number % 37 == 0:
            path.write_bytes(path.read_bytes()[:-20])
            broken += 1
    result = run_cli("import", folder, "--data", tmp_path / "data")
    assert result.returncode == 1
    assert result.stdout.startswith(f"{300 - broken} imported, 0 duplicate(s), 0 skipped")
    assert result.stderr.count("failed:") == broken
    listed = run_cli("ls", "--level", "instance", "--json", "--data", tmp_path / "data")
    assert len(json.loads(listed.stdout)) == 300 - broken


def test_import_of_pydicom_test_files_never_crashes(tmp_path):
    result = run_cli("import", PYDICOM_DATA / "test_files", PYDICOM_DATA / "charset_files",
                     "--data", tmp_path / "data")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    imported = int(result.stdout.split()[0])
    assert imported > 50
    assert "DICOMDIR" not in result.stderr  # media directories are skipped, not failed


def test_ls_table_and_json(archive_dir):
    table = run_cli("ls", "--data", archive_dir)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["Patient name", "Patient ID", "Date"]
    assert lines[1].startswith("JONES^BOB\tPAT2\t2024-01-15")
    assert len(lines) == 3

    rows = json.loads(run_cli("ls", "--json", "--data", archive_dir).stdout)
    assert [r["PatientName"] for r in rows] == ["JONES^BOB", "SMITH^ANNA"]
    assert rows[1]["NumberOfStudyRelatedInstances"] == 4
    assert rows[1]["ModalitiesInStudy"] == "CT"


@pytest.mark.parametrize("keys, names", [
    (["PatientName=smith*"], ["SMITH^ANNA"]),
    (["PatientName=*O*"], ["JONES^BOB"]),
    (["StudyDate=20240101-"], ["JONES^BOB"]),
    (["StudyDate=-20231231"], ["SMITH^ANNA"]),
    (["StudyDate=20230101-20241231"], ["JONES^BOB", "SMITH^ANNA"]),
    (["ModalitiesInStudy=OT"], ["JONES^BOB"]),
    (["AccessionNumber=ACC1"], ["SMITH^ANNA"]),
    (["0010,0020=PAT2"], ["JONES^BOB"]),
    (["PatientName=' OR 1=1 --"], []),
])
def test_ls_matches_like_c_find(archive_dir, keys, names):
    args = [arg for key in keys for arg in ("-k", key)]
    result = run_cli("ls", "--json", *args, "--data", archive_dir)
    assert result.returncode == 0, result.stderr
    assert [r["PatientName"] for r in json.loads(result.stdout)] == names


def test_ls_with_a_uid_list_at_series_level(archive_dir):
    studies = json.loads(run_cli("ls", "--json", "--data", archive_dir).stdout)
    uids = "\\".join(s["StudyInstanceUID"] for s in studies)
    series = json.loads(run_cli("ls", "-l", "series", "-k", f"StudyInstanceUID={uids}",
                                "--json", "--data", archive_dir).stdout)
    assert len(series) == 3


@pytest.mark.parametrize("args, message", [
    (["-k", "NoSuchKey=1"], "NoSuchKey: not a DICOM keyword"),
    (["-k", "SeriesNumber=1"], "SeriesNumber cannot be matched at study level"),
    (["-k", "Manufacturer=X"], "Manufacturer: the archive does not index this key"),
    (["--level", "galaxy"], "'galaxy' is not a level"),
])
def test_ls_bad_keys_give_one_line(archive_dir, args, message):
    result = run_cli("ls", *args, "--data", archive_dir)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_dump_a_file_and_an_archived_instance(archive_dir, tmp_path):
    text = run_cli("dump", pydicom_file("nested_priv_SQ.dcm"))
    assert text.returncode == 0
    assert "(0001,0001) SQ Private tag data  1 item(s)\n  Item 1\n    (0001,0001) SQ" in text.stdout

    sop = make_dataset(study=2, series=1, instance=1).SOPInstanceUID
    archived = run_cli("dump", sop, "--data", archive_dir)
    assert archived.returncode == 0
    assert "(0010,0010) PN PatientName  JONES^BOB" in archived.stdout
    assert "<pixel data, 8192 bytes>" in archived.stdout

    model = json.loads(run_cli("dump", sop, "--json", "--data", archive_dir).stdout)
    assert model["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "JONES^BOB"}]}
    assert model["7FE00010"]["BulkDataURI"].endswith("#7FE00010")


def test_dump_of_something_unknown_is_one_line(archive_dir):
    result = run_cli("dump", "1.2.3.4.5.6.7", "--data", archive_dir)
    assert result.returncode == 1
    assert result.stderr.strip() == ("tui-pacs: 1.2.3.4.5.6.7: no such file, and no instance "
                                     "with this SOPInstanceUID in the archive")


def test_dump_of_a_file_that_is_not_dicom_is_one_line(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not an image\n")
    result = run_cli("dump", text)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"tui-pacs: {text}: not a DICOM file (no DICM marker, "
                                     "and it does not begin like a dataset)")


def test_dump_reads_a_dataset_stored_without_its_preamble():
    result = run_cli("dump", pydicom_file("ExplVR_LitEndNoMeta.dcm"))
    assert result.returncode == 0, result.stderr
    assert "(0008,0016) UI SOPClassUID" in result.stdout


def test_ls_of_a_directory_with_no_archive_says_so_and_creates_nothing(tmp_path):
    typo = tmp_path / "no-such-archive"
    result = run_cli("ls", "--data", typo)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"tui-pacs: no archive in {typo} (nothing imported or "
                                     "received yet)")
    assert not typo.exists()


def test_dump_private_tags_name_their_creator():
    result = run_cli("dump", pydicom_file("CT_small.dcm"))
    assert "(0009,0010) LO Private Creator  GEMS_IDEN_01" in result.stdout
    assert "(0009,1002) SH Suite id [GEMS_IDEN_01]  CT01" in result.stdout


@pytest.mark.parametrize("option, attribute, remaining_instances", [
    ("--patient", "PatientID", 1),
    ("--study", "StudyInstanceUID", 1),
    ("--series", "SeriesInstanceUID", 3),
    ("--instance", "SOPInstanceUID", 4),
])
def test_rm_removes_files_and_rows(archive_dir, option, attribute, remaining_instances):
    value = getattr(make_dataset(study=1, series=1, instance=1), attribute)
    result = run_cli("rm", option, value, "--data", archive_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("removed ")
    instances = json.loads(run_cli("ls", "-l", "instance", "--json", "--data",
                                   archive_dir).stdout)
    assert len(instances) == remaining_instances
    files = [p for p in (archive_dir / "storage").rglob("*.dcm")]
    assert len(files) == remaining_instances


def test_rm_of_nothing_says_so(archive_dir):
    result = run_cli("rm", "--study", "9.9.9", "--data", archive_dir)
    assert result.returncode == 1
    assert "nothing removed: no study with StudyInstanceUID '9.9.9'" in result.stderr


def arrived_days_ago(data, study_uid: str, days: int) -> None:
    """Time passing, for the index: the study's last instance arrived ``days`` ago."""
    with sqlite3.connect(data / "index.sqlite") as conn:
        conn.execute("UPDATE studies SET received_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', "
                     "?) WHERE study_uid = ?", (f"-{days} days", study_uid))


def test_rm_older_than_dry_run_lists_and_removes_nothing_then_removes(archive_dir):
    old, recent = make_dataset(study=1).StudyInstanceUID, make_dataset(study=2).StudyInstanceUID
    arrived_days_ago(archive_dir, old, 100)
    arrived_days_ago(archive_dir, recent, 10)
    dry = run_cli("rm", "--older-than", "90d", "--dry-run", "--data", archive_dir)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        f"would remove study {old} of SMITH^ANNA (PAT1), 2023-05-10, 35.4 KB",
        "1 study(ies) would be removed (dry run: nothing removed)"]
    assert len(json.loads(run_cli("ls", "--json", "--data", archive_dir).stdout)) == 2

    done = run_cli("rm", "--older-than", "12w", "--data", archive_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "removed 1 study(ies), 4 instance(s)"
    [left] = json.loads(run_cli("ls", "--json", "--data", archive_dir).stdout)
    assert left["StudyInstanceUID"] == recent
    checked = run_cli("check", "--data", archive_dir)
    assert "the index and the files agree" in checked.stdout


def test_rm_older_than_passes_protected_studies_by(archive_dir):
    old = make_dataset(study=1).StudyInstanceUID
    arrived_days_ago(archive_dir, old, 400)
    assert run_cli("protect", "--study", old, "--data", archive_dir).returncode == 0
    result = run_cli("rm", "--older-than", "24h", "--data", archive_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "removed 0 study(ies), 0 instance(s)"
    unprotected = run_cli("protect", "--unprotect", "--study", old, "--data", archive_dir)
    assert unprotected.stdout.strip() == f"study {old} no longer protected"
    result = run_cli("rm", "--older-than", "24h", "--data", archive_dir)
    assert result.stdout.strip().endswith("removed 1 study(ies), 4 instance(s)")


@pytest.mark.parametrize("args, message", [
    (["--older-than", "90"], "'90' is not an age: a number and h, d or w (24h, 90d, 12w)"),
    (["--older-than", "0d"], "'0d' is not an age"),
    (["--study", "1.2.3", "--dry-run"], "--dry-run goes with --older-than"),
])
def test_rm_usage_errors_are_one_line(archive_dir, args, message):
    result = run_cli("rm", *args, "--data", archive_dir)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_protect_of_an_unknown_study_fails_clearly(archive_dir):
    result = run_cli("protect", "--study", "9.9.9", "--data", archive_dir)
    assert result.returncode == 1
    assert result.stderr.strip() == "tui-pacs: no study with StudyInstanceUID '9.9.9'"


def test_common_options_before_or_after_the_command(archive_dir, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'[node]\ndata = "{archive_dir}"\n')
    before = run_cli("--config", config, "ls", "--json")
    after = run_cli("ls", "--json", "--config", config)
    data_first = run_cli("--data", archive_dir, "ls", "--json")
    assert before.returncode == after.returncode == data_first.returncode == 0
    assert json.loads(before.stdout) == json.loads(after.stdout) == json.loads(
        data_first.stdout)
    assert len(json.loads(before.stdout)) == 2


@pytest.mark.parametrize("text, expected", [
    ('[node]\nport = 99999\n', "node.port: 99999 is out of range (1-65535)"),
    ('[node]\nfoo = 1\n', "node.foo: unknown key"),
    ('[node\n', "not valid TOML"),
    ('[node]\naet = "WAY_TOO_LONG_AE_TITLE"\n', "node.aet: AE title"),
])
def test_a_bad_config_is_one_line_and_status_2(tmp_path, text, expected):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    result = run_cli("ls", "--config", config)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"tui-pacs: {config}: ")
    assert expected in line


def test_index_is_a_real_sqlite_file_with_a_schema_version(archive_dir):
    with sqlite3.connect(archive_dir / "index.sqlite") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM instances").fetchone()[0] == 5


def test_python_dash_m_and_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("tui-pacs ")
