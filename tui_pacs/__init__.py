"""tui-pacs: a DICOM node in the terminal."""

__version__ = "0.1.0"
