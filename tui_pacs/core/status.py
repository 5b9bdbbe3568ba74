"""DIMSE status codes tui-pacs uses (PS3.7 Annex C, PS3.4)."""

SUCCESS = 0x0000
PENDING = 0xFF00
PENDING_WARNING = 0xFF01
CANCEL = 0xFE00
WARNING_SUBOPERATIONS = 0xB000
PROCESSING_FAILURE = 0x0110
SOP_CLASS_NOT_SUPPORTED = 0x0122
OUT_OF_RESOURCES = 0xA700
# C-MOVE/C-GET: "Refused: Out of resources - unable to perform sub-operations".
OUT_OF_RESOURCES_SUBOPERATIONS = 0xA702
MOVE_DESTINATION_UNKNOWN = 0xA801
IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
CANNOT_UNDERSTAND = 0xC000
UNABLE_TO_PROCESS = 0xC001
# "Refused: Not authorized" (PS3.7 C.5.3): the access policy says no.
NOT_AUTHORIZED = 0x0124


def category(code: int) -> str:
    """'success', 'pending', 'cancel', 'warning' or 'failure'."""
    if code == SUCCESS:
        return "success"
    if code in (PENDING, PENDING_WARNING):
        return "pending"
    if code == CANCEL:
        return "cancel"
    if code in (0x0001, 0x0107, 0x0116) or 0xB000 <= code <= 0xBFFF:
        return "warning"
    return "failure"
