"""What a reload says changed, section by section (services/reload.py)."""

from __future__ import annotations

from tui_pacs.config import AccessConfig, LimitsConfig, Modality
from tui_pacs.services.reload import described, described_access


def test_access_says_who_may_now_do_what():
    old = AccessConfig()
    new = AccessConfig(store=("CT1", "@modalities"), find=("*",), check_called_aet=True)
    assert described_access(old, new) == [
        "allowed calling AE titles for store now CT1, the configured modalities (was anyone)",
        "allowed calling AE titles for find now anyone (was the configured modalities)",
        "called AE title checked now on (was off)",
    ]
    assert described_access(old, AccessConfig(get=())) == [
        "allowed calling AE titles for get now no one (was the configured modalities)"]


def test_named_entries_are_added_removed_and_changed():
    pacs = Modality("pacs", "PACS", "10.0.0.5", 104)
    ct = Modality("ct", "CT1", "10.0.0.7", 11112)
    moved = Modality("pacs", "PACS", "10.0.0.6", 104, tls=True)
    assert described((pacs, ct), (moved, Modality("mr", "MR1", "10.0.0.8", 104))) == [
        "added mr: aet MR1, host 10.0.0.8, port 104, tls off",
        "removed ct",
        "pacs now aet PACS, host 10.0.0.6, port 104, tls on "
        "(was aet PACS, host 10.0.0.5, port 104, tls off)",
    ]


def test_a_table_says_each_key_that_changed():
    assert described(LimitsConfig(), LimitsConfig(max_associations=4, dimse_timeout=30)) == [
        "max_associations now 4 (was 32)", "dimse_timeout now 30 (was 60.0)"]
    assert described(3, 4) == ["now 4 (was 3)"]

