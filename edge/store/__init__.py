"""The SQLite store: every table's SQL lives in this package, each table's in one module.

`Store` (`edge.store.core`) opens ``proactive.db``, applies the migrations
(`edge.store.migrations`, which name the module that owns each table) and
carries the hub's own tables: ``observations`` (`edge.store.observations`),
``proposals``/``feedback``/``results`` (`edge.store.proposals`) and
``checkpoints`` (`edge.store.core`). The feedback room's, the memory's and
the relay's tables have their own classes over a `Store`
(`edge.store.feedback`, `edge.store.memory`, `edge.store.relay`). Nothing
outside this package touches the connection.
"""

from __future__ import annotations

from edge.store.core import Store
from edge.store.proposals import STATUSES, VERDICTS

__all__ = ["STATUSES", "VERDICTS", "Store"]
