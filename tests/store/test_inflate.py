"""Deflated datasets are checked as they inflate: in bounded memory, up to a limit."""

import asyncio
import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.deflate_bombs import MB, bomb, deflate, explicit_le, part10
from tests.dicom_factory import make_dataset
from tests.store.test_integrity import mutated
from tui_pacs.config import StorageConfig
from tui_pacs.store.archive import Archive, StoreFailure
from tui_pacs.store.inflate import TooLarge, scan_deflated
from tui_pacs.store.ingest import INDEXED_TAGS, parse_dataset_bytes
from tui_pacs.store.integrity import MalformedDataset, scan_dataset

DEFLATED = "1.2.840.10008.1.2.1.99"
ZEROS_MB = 256


def with_sequence():
    from pydicom.dataset import Dataset

    ds = make_dataset(rows=4, columns=4)
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = "1.2.3", "1.2.3.4"
    ds.ReferencedImageSequence = [item, item]
    return explicit_le(ds)


VALID = with_sequence()


def outcome(scan):
    try:
        return scan()
    except MalformedDataset:
        return "malformed"


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_the_stream_scan_agrees_with_the_buffer_scan(data):
    """Flip, cut and splice bytes: inflating as a stream accepts, refuses and
    collects exactly what the scan of the inflated bytes does."""
    raw = mutated(data, VALID)
    assert outcome(lambda: scan_deflated(deflate(raw), INDEXED_TAGS, None)) == \
        outcome(lambda: scan_dataset(raw, False, True, INDEXED_TAGS))


def peak_while(call):
    """(peak bytes Python allocated, seconds) while ``call`` runs."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        call()
    finally:
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, elapsed


def test_a_deflate_bomb_stops_inflating_at_the_limit():
    data = bomb(make_dataset(rows=4, columns=4), ZEROS_MB)
    assert len(data) < MB

    def refuse():
        with pytest.raises(TooLarge):
            parse_dataset_bytes(data, DEFLATED, max_inflated=64 * MB)

    peak, _ = peak_while(refuse)
    assert peak < 8 * MB


def test_within_the_limit_a_bomb_is_walked_in_bounded_memory():
    data = bomb(make_dataset(rows=4, columns=4), ZEROS_MB)
    headers = []
    peak, _ = peak_while(lambda: headers.append(parse_dataset_bytes(data, DEFLATED)))
    assert headers[0].text("PatientID") == "PAT1"
    assert peak < 8 * MB


def test_a_value_longer_than_any_indexed_value_is_not_read():
    # PatientID (LO) written as UN with a length of 100 MB.
    raw = explicit_le(make_dataset()).replace(b"\x10\x00\x20\x00LO\x04\x00PAT1",
                                              b"\x10\x00\x20\x00UN\x00\x00"
                                              + (100 * MB).to_bytes(4, "little"))
    with pytest.raises(MalformedDataset, match="too many"):
        scan_deflated(deflate(raw), INDEXED_TAGS, None)


@pytest.fixture
async def small_archive(data_dir):
    archive = await Archive.open(data_dir, StorageConfig(min_free_mb=0), max_dataset_mb=8)
    yield archive
    await archive.close()


async def test_import_refuses_a_bomb_and_stores_a_deflated_file_as_it_is(small_archive,
                                                                         tmp_path):
    ds = make_dataset(rows=4, columns=4)
    (tmp_path / "bomb.dcm").write_bytes(part10(ds, bomb(ds, 16)))
    with pytest.raises(StoreFailure, match=r"inflates past max_dataset_mb \(8 MB\)") as refused:
        await small_archive.store_file(tmp_path / "bomb.dcm")
    assert refused.value.too_large
    sound = part10(ds, deflate(explicit_le(ds)))
    (tmp_path / "sound.dcm").write_bytes(sound)
    result = await small_archive.store_file(tmp_path / "sound.dcm")
    assert small_archive.path_of(result.path).read_bytes() == sound


async def test_a_dataset_received_larger_than_the_limit_is_refused(small_archive, tmp_path):
    raw = explicit_le(make_dataset(rows=2048, columns=2048, instance=2))
    assert len(raw) > 8 * MB
    with pytest.raises(StoreFailure, match=r"larger than max_dataset_mb \(8 MB\)"):
        await asyncio.to_thread(small_archive.store_received, raw, "1.2.840.10008.1.2.1", "X")
    (tmp_path / "large.dcm").write_bytes(raw)
    with pytest.raises(StoreFailure, match=r"larger than max_dataset_mb \(8 MB\)"):
        await small_archive.store_file(tmp_path / "large.dcm")
