"""The Textual app: the only package of tui-pacs that imports Textual.

``app`` holds the App and its wiring to the services (``backend``);
``screens`` one module per screen; ``widgets`` the reusable pieces (the
virtual table, the tag tree, the status bar); ``dialogs`` the modal
questions and forms; ``styles`` the CSS, which takes its colours from the
themes (``themes.py`` loads the top-level ``themes/`` files). Modules that
do not import Textual (``rows``, ``filters``, ``datasets``, ``activity``,
``transfers``) hold the logic the screens show.
"""
