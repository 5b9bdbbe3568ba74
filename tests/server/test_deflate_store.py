"""C-STORE of deflated datasets: a bomb is refused in bounded memory and the
association goes on; a sound one is stored exactly as it was sent."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import CTImageStorage, Verification

from tests.deflate_bombs import MB, bomb, deflate, explicit_le, part10
from tests.dicom_factory import make_dataset
from tests.server.node_fixtures import associate, settings_for, started
from tui_pacs.config import LimitsConfig
from tui_pacs.store.ingest import part10_prefix
from tui_pacs.store.staging import staged_files

BOMB_MB = 1024


def send_files(node, paths):
    """C-STORE each Part 10 file as its bytes are (no decoding) and C-ECHO after
    each: [(status, error comment, seconds)] and the echo statuses."""
    assoc = associate(node, [(CTImageStorage, [DeflatedExplicitVRLittleEndian]),
                             Verification], aet="MODALITY")
    stores, echoes = [], []
    try:
        for path in paths:
            started_at = time.monotonic()
            rsp = assoc.send_c_store(path)
            stores.append((rsp.Status, str(rsp.get("ErrorComment", "")),
                           time.monotonic() - started_at))
            echoes.append(assoc.send_c_echo().Status)
    finally:
        assoc.release()
    return stores, echoes


async def test_a_deflate_bomb_is_refused_and_the_association_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)
    hostile = make_dataset(rows=4, columns=4, instance=1)
    bomb_file = tmp_path / "bomb.dcm"
    bomb_file.write_bytes(part10(hostile, bomb(hostile, BOMB_MB)))
    assert bomb_file.stat().st_size < 1.1 * MB
    sound = make_dataset(rows=16, columns=16, instance=2)
    deflated = deflate(explicit_le(sound))
    sound_file = tmp_path / "sound.dcm"
    sound_file.write_bytes(part10(sound, deflated))

    node = await started(settings_for(tmp_path / "data", limits=LimitsConfig(max_dataset_mb=64)))
    tracemalloc.start()
    try:
        stores, echoes = await asyncio.to_thread(send_files, node, [bomb_file, sound_file])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        await node.stop()

    (bomb_status, comment, seconds), (sound_status, _, _) = stores
    assert bomb_status == 0xA700
    assert comment == "dataset inflates past max_dataset_mb (64 MB)"
    assert seconds < 10
    assert peak < 16 * MB, f"peak {peak / MB:.1f} MB while refusing a {BOMB_MB} MB bomb"
    assert echoes == [0x0000, 0x0000]
    assert sound_status == 0x0000
    [stored] = [p for p in (tmp_path / "data" / "storage").rglob("*") if p.is_file()]
    assert stored.read_bytes() == part10_prefix(sound.SOPClassUID, sound.SOPInstanceUID,
                                                DeflatedExplicitVRLittleEndian,
                                                "MODALITY") + deflated



async def test_a_dataset_over_the_limit_is_refused_as_it_streams(tmp_path):
    """A native dataset larger than max_dataset_mb: its fragments stop being
    written once past the limit, the request is refused with a comment that
    names the setting, nothing is left in the staging directory, and the
    association goes on."""
    large = make_dataset(rows=1024, columns=1024, instance=1)  # 2 MB of pixels
    large_file = tmp_path / "large.dcm"
    large_file.write_bytes(part10_prefix(large.SOPClassUID, large.SOPInstanceUID,
                                         ExplicitVRLittleEndian, "") + explicit_le(large))
    node = await started(settings_for(tmp_path / "data", limits=LimitsConfig(max_dataset_mb=1)))

    def send() -> tuple[int, str, int]:
        assoc = associate(node, [(CTImageStorage, [ExplicitVRLittleEndian]), Verification],
                          aet="MODALITY")
        try:
            rsp = assoc.send_c_store(large_file)
            return rsp.Status, str(rsp.get("ErrorComment", "")), assoc.send_c_echo().Status
        finally:
            assoc.release()

    try:
        code, comment, echo = await asyncio.to_thread(send)
    finally:
        await node.stop()
    assert (code, comment, echo) == (0xA700, "dataset larger than max_dataset_mb (1 MB)", 0)
    assert not staged_files(tmp_path / "data" / "tmp")
    assert not any((tmp_path / "data" / "storage").rglob("*.dcm"))
