"""Services the front ends (``tui-pacs serve``, the Textual app) run; no Textual here."""
