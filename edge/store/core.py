"""The store's connection and the ``checkpoints`` table; `Store` gathers the hub's own tables.

One file (``proactive.db`` in the data directory), WAL mode so the dashboard can
read while the hub writes. Schema changes are migrations in `edge.store.migrations`.
`Store` is the connection plus the queries of ``observations``
(`edge.store.observations`) and of ``proposals``, ``feedback`` and ``results``
(`edge.store.proposals`); the other rooms' tables have their own classes over a
`Store` (`edge.store.feedback`, `edge.store.memory`, `edge.store.relay`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from edge.errors import StoreError
from edge.store.migrations import migrations
from edge.store.proposals import Proposals

log = logging.getLogger(__name__)


class Store(Proposals):
    """Typed access to the hub's tables. Takes a `Database` so tests can pass an in-memory one.

    ``db`` is the connection, for the modules of `edge.store` only.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        try:
            migrations.apply(db)
        except sqlite3.DatabaseError as e:
            raise StoreError(
                f"Cannot open the store: {e}",
                "The file may be corrupt or not a SQLite database; move it aside and retry.",
            ) from e

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) the store at ``path`` in WAL mode. Raises `StoreError`."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = Database(path)
            db.execute("PRAGMA busy_timeout = 5000")
            db.enable_wal()
            # WAL + NORMAL stays consistent after a crash (the last commits may be
            # lost on power failure, which the relay's outbox resends) and cuts
            # fsyncs: hub->desktop p99 fell from 46 ms to 1.2 ms (bench_relay).
            db.execute("PRAGMA synchronous = NORMAL")
            # Memory retrieval reads ~120 rows of a multi-GB file per decision.
            db.execute("PRAGMA mmap_size = 268435456")
            db.execute("PRAGMA cache_size = -65536")
        except (OSError, sqlite3.DatabaseError) as e:
            raise StoreError(
                f"Cannot open the store at {path}: {e}",
                "Check that the data directory is writable (set PROACTIVE_HOME to move it).",
            ) from e
        return cls(db)

    @classmethod
    def memory(cls) -> Store:
        """A fresh in-memory store (tests, throw-away runs)."""
        return cls(Database(memory=True))

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        self.db.close()

    # ------------------------------------------------------------ the connection

    @property
    def path(self) -> Path | None:
        """The store's SQLite file, or None for an in-memory database. Raises `StoreError`."""
        try:
            rows = self.db.execute("PRAGMA database_list").fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"Store query failed: {e}", "The database may be locked or damaged.") from e
        return Path(rows[0][2]) if rows and rows[0][2] else None

    def data_version(self) -> int:
        """Changes whenever another connection (the hub) commits to the store file."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def set_synchronous(self, mode: str) -> None:
        """Set SQLite's ``synchronous`` pragma (``full`` or ``normal``): the outbox's durability."""
        if mode.lower() not in ("full", "normal", "off", "extra"):
            raise ValueError(f"unknown synchronous mode {mode!r}")
        self.db.execute(f"PRAGMA synchronous = {mode}")

    def count(self, table: str) -> int:
        """Rows in ``table`` (any table; 0 when it does not exist)."""
        return self.db[table].count if self.db[table].exists() else 0

    # ------------------------------------------------------------ checkpoints

    def get_checkpoint(self, name: str) -> Any | None:
        """The JSON value stored under ``name``, or None (also when the stored value is not JSON:
        the owner starts that checkpoint over, which its idempotent keys make harmless; logged)."""
        rows = list(self.db.table("checkpoints").rows_where("name = ?", [name]))
        if not rows:
            return None
        try:
            return json.loads(rows[0]["value"])
        except (TypeError, ValueError):
            log.warning("checkpoint %r is unreadable (%.40r); starting it over", name, rows[0]["value"])
            return None

    def set_checkpoint(self, name: str, value: Any, now: float) -> None:
        self.db.table("checkpoints").upsert(
            {"name": name, "value": json.dumps(value), "updated_at": now}, pk="name"
        )

    def clear_checkpoints(self) -> None:
        """Forget every checkpoint: sources read their span again (the rows' ids make that an upsert)."""
        with self.db.conn:
            self.db.execute("DELETE FROM checkpoints")
