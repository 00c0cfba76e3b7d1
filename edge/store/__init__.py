"""The SQLite store: every table's SQL lives in this package, and nowhere else.

`Store` (`edge.store.core`) opens ``proactive.db`` and applies the migrations
(`edge.store.migrations`); the other modules hold the typed queries of one
room each. Nothing outside this package touches the connection.
"""

from __future__ import annotations

from edge.store.core import VERDICTS, Store

__all__ = ["VERDICTS", "Store"]
