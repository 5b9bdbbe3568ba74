"""Targets: a configured modality's name, or AET@host:port."""

import re

import pytest

from tui_pacs.config import Modality
from tui_pacs.core.target import BadTarget, Target, parse_target

MODALITIES = (Modality("orthanc", "ORTHANC", "pacs.example.org", 4242),
              Modality("ct-1", "CT1", "10.0.0.7", 104, tls=True))


def test_a_configured_name_gives_its_modality():
    assert parse_target("orthanc", MODALITIES) == Target("ORTHANC", "pacs.example.org", 4242,
                                                         "orthanc")
    assert parse_target("ct-1", MODALITIES).tls


@pytest.mark.parametrize("text, expected", [
    ("PACS@10.1.2.3:104", Target("PACS", "10.1.2.3", 104)),
    ("PACS@pacs.local:11112", Target("PACS", "pacs.local", 11112)),
    ("  ANY SCP@host:1  ", Target("ANY SCP", "host", 1)),
    ("DCM4CHEE@[fd00::5]:11112", Target("DCM4CHEE", "fd00::5", 11112)),
])
def test_the_dcm4che_address_form(text, expected):
    assert parse_target(text, MODALITIES) == expected


def test_a_name_wins_over_the_address_form():
    odd = (Modality("A@b:1", "REAL", "real.host", 2),)
    assert parse_target("A@b:1", odd).aet == "REAL"


@pytest.mark.parametrize("text, message", [
    ("nowhere", "neither a configured modality (configured: orthanc, ct-1)"),
    ("PACS@host", "the port is missing"),
    ("PACS@host:0", "port must be a number from 1 to 65535"),
    ("PACS@host:http", "port must be a number"),
    ("@host:104", "must not be empty"),
    ("WAY_TOO_LONG_AE_TITLE@host:104", "the limit is 16"),
    ("PACS@:104", "is not a host name"),
    ("PACS@[fd00::5:104", "[address]:port"),
])
def test_bad_targets_say_what_is_wrong(text, message):
    with pytest.raises(BadTarget, match=re.escape(message)):
        parse_target(text, MODALITIES)


def test_without_configured_modalities_the_message_says_so():
    with pytest.raises(BadTarget, match="none are configured"):
        parse_target("orthanc")


def test_a_target_prints_as_it_can_be_typed_back():
    assert Target("PACS", "fd00::5", 104).address == "PACS@[fd00::5]:104"
    assert str(parse_target("orthanc", MODALITIES)) == "orthanc (ORTHANC@pacs.example.org:4242)"
