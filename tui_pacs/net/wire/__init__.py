"""What both roles share on the wire: PDUs, command sets, fragments, negotiation, TLS.

Everything that reaches into pynetdicom's internals sits in
:mod:`tui_pacs.net.wire.pynetdicom_adapter`.
"""
