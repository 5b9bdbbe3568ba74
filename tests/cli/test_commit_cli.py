"""`tui-pacs commit` refusing what it cannot ask about, before any connection."""

from __future__ import annotations

from tests.conftest import run_cli

# Nothing listens there: a test that got that far would fail with exit status 4.
NOBODY = "PACS@127.0.0.1:1"


def test_what_to_commit_must_be_said_once(data_dir, tmp_path):
    neither = run_cli("--data", data_dir, "commit", NOBODY)
    assert neither.returncode == 2
    assert neither.stderr == ("tui-pacs: say what to commit: files and directories, or one "
                              "of --study, --series\n")
    both = run_cli("--data", data_dir, "commit", NOBODY, tmp_path, "--study", "1.2.3")
    assert both.returncode == 2


def test_files_that_are_not_dicom_leave_nothing_to_commit(data_dir, tmp_path):
    (tmp_path / "notes.txt").write_text("not DICOM")
    result = run_cli("--data", data_dir, "commit", NOBODY, tmp_path / "notes.txt")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"tui-pacs: nothing to commit: none of the 1 file(s) is a DICOM instance "
        f"({tmp_path / 'notes.txt'}: not a DICOM instance (no SOPClassUID or SOPInstanceUID))")


def test_a_study_the_archive_lacks_is_named(data_dir):
    result = run_cli("--data", data_dir, "commit", NOBODY, "--study", "1.2.3")
    assert result.returncode == 1
    assert result.stderr == ("tui-pacs: no archive in " f"{data_dir} (nothing imported or "
                             "received yet)\n")
