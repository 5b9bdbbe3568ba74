"""The access policy: who may use which service, and when an association is refused."""

from __future__ import annotations

import dataclasses

import pytest

from tui_pacs.config import AccessConfig, LimitsConfig, Modality, Settings
from tui_pacs.net.server.policy import AccessPolicy, Refusal

CT1 = Modality("ct", "CT1", "10.0.0.5", 104)


def policy(**access) -> AccessPolicy:
    settings = Settings(access=AccessConfig(**access), modalities=(CT1,),
                        limits=LimitsConfig(max_associations=4))
    return AccessPolicy(settings)


def test_defaults_are_a_cautious_orthanc():
    p = policy()
    assert p.services_for("ANYBODY") == ["echo", "store"]
    assert p.services_for("CT1") == ["echo", "store", "find", "move", "get", "commit"]
    assert p.services_for(" CT1 ") == ["echo", "store", "find", "move", "get", "commit"]


def test_named_aets_and_anyone():
    p = policy(echo=("*",), store=("CT1", "MR2"), find=(), move=(), get=())
    assert p.allows("store", "MR2") and not p.allows("store", "US3")
    assert p.allows("echo", "US3")
    assert not p.allows("find", "CT1")


@pytest.mark.parametrize("calling, called, active, refusal", [
    ("CT1", "TUIPACS", 1, None),
    ("NOBODY", "TUIPACS", 1, Refusal.CALLING_AE_TITLE),
    ("CT1", "OTHER", 1, None),
    ("CT1", "TUIPACS", 5, Refusal.TOO_MANY_ASSOCIATIONS),
])
def test_association_refusals(calling, called, active, refusal):
    p = policy(echo=("@modalities",), store=("@modalities",))
    assert p.association_refusal(calling, called, active=active) is refusal


def test_called_aet_checked_only_when_asked():
    p = policy(check_called_aet=True)
    assert p.association_refusal("CT1", "OTHER", active=1) is Refusal.CALLED_AE_TITLE
    assert p.association_refusal("CT1", "TUIPACS ", active=1) is None


def test_unknown_service_is_a_programming_error():
    with pytest.raises(ValueError):
        policy().allows("print", "CT1")


def test_modalities_are_looked_up_when_asked():
    p = policy(find=("@modalities",))
    later = AccessPolicy(dataclasses.replace(p.settings, modalities=()))
    assert p.allows("find", "CT1") and not later.allows("find", "CT1")
