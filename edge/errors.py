"""The project's one error family.

Every expected failure is an `EdgeError` with a message (what went wrong) and
a hint (what the user can do about it). The CLI prints both on stderr and exits
with code 2; the dashboard shows them in a modal. Third-party failures are
wrapped with ``raise XError(...) from exc`` so the cause is kept for logs.
"""

from __future__ import annotations


class EdgeError(Exception):
    """An expected failure, reported to the user without a traceback."""

    title = "Error"

    def __init__(self, msg: str, hint: str = "") -> None:
        super().__init__(msg)
        self.msg = msg
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.msg}\nHint: {self.hint}" if self.hint else self.msg


class ConfigError(EdgeError):
    """The configuration file, an environment override or a flag is invalid."""

    title = "Configuration error"


class ModelError(EdgeError):
    """A model file is missing, unreadable or produced unusable output."""

    title = "Model error"


class RelayError(EdgeError):
    """The MQTT broker cannot be reached or refused an operation."""

    title = "Relay error"


class StoreError(EdgeError):
    """The SQLite store or the vector index cannot be read or written."""

    title = "Storage error"


class SourceError(EdgeError):
    """An activity source (ActivityWatch, a trace file) is unreachable or malformed."""

    title = "Source error"
