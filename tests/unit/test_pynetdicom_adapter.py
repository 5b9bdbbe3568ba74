"""The pynetdicom code the wire layer's adapter copies, overrides or relies on."""

from __future__ import annotations

import pathlib
import re

import pytest

from tui_pacs.core.upstream import source_digest
from tui_pacs.net.wire import pynetdicom_adapter


@pytest.mark.parametrize("name", sorted(pynetdicom_adapter.UPSTREAM))
def test_the_adapted_pynetdicom_code_is_unchanged(name):
    """When this fails after a pynetdicom upgrade, read the new source of ``name``
    and bring tui_pacs/net/wire/pynetdicom_adapter.py in line with it (the
    reactors are copies: a change there can make associations hang, not fail);
    then record the new digest and widen the pin in pyproject.toml."""
    function, digest = pynetdicom_adapter.UPSTREAM[name]
    assert source_digest(function) == digest, (
        f"pynetdicom's {name} changed: check the adapter against it")


def test_only_the_adapter_imports_pynetdicom_internals():
    """Everything else uses pynetdicom's documented API."""
    internal = re.compile(r"pynetdicom(\.(_\w+|pdu|dul|fsm|transport|dimse|dimse_messages|acse)\b"
                          r"| import [^\n]*\b_\w+)")
    package = pathlib.Path(pynetdicom_adapter.__file__).parents[2]
    offenders = [str(path.relative_to(package)) for path in package.rglob("*.py")
                 if path.name != "pynetdicom_adapter.py" and internal.search(path.read_text())]
    assert offenders == []
