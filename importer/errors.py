"""The one error the importer raises for bad input: shown to the user as is, never as a traceback."""

from __future__ import annotations


class ImportFailed(Exception):
    """The Compose file could not be imported at all (missing, unreadable, or an unknown service named)."""
