"""The store's connection, and the hub's own tables: observations, proposals, feedback, checkpoints.

One file (``proactive.db`` in the data directory), WAL mode so the dashboard can
read while the hub writes. Schema changes are migrations in `edge.store.migrations`.
Every row has a deterministic primary key (see `edge.records.stable_id`), so
re-reading an ActivityWatch span or a redelivered MQTT message is an upsert,
never a duplicate.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from edge.errors import StoreError
from edge.records import AgentResponse, Observation, observation_from_dict
from edge.store.migrations import migrations

VERDICTS = ("accepted", "rejected", "ignored")


class Store:
    """Typed access to the hub's tables. Takes a `Database` so tests can pass an in-memory one."""

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

    # ------------------------------------------------------------ observations

    def add_observation(self, obs: Observation, now: float) -> bool:
        """Store ``obs``; return True when it is new. A re-read of the same event updates it in place."""
        oid = obs.id
        table = self.db.table("observations")
        existed = table.count_where("id = ?", [oid]) > 0
        row = {
            "id": oid,
            "desktop": obs.desktop,
            "source": obs.source,
            "ts": obs.ts,
            "time": obs.time,
            "text": obs.text,
            "app": obs.app,
            "key": obs.key,
            "help_needed": None if obs.help_needed is None else int(obs.help_needed),
        }
        if existed:
            table.update(oid, row)
        else:
            table.insert({**row, "created_at": now})
        return not existed

    def recent_observations(self, desktop: str | None = None, limit: int = 8) -> list[Observation]:
        """The ``limit`` newest observations (of ``desktop`` if given), oldest first."""
        where, args = ("desktop = ?", [desktop]) if desktop else (None, [])
        rows = list(
            self.db.table("observations").rows_where(
                where, args, order_by="created_at desc, rowid desc", limit=limit
            )
        )
        return [self._obs(r) for r in reversed(rows)]

    def observations(self, desktop: str | None = None) -> Iterator[Observation]:
        where, args = ("desktop = ?", [desktop]) if desktop else (None, [])
        for r in self.db.table("observations").rows_where(where, args, order_by="created_at, rowid"):
            yield self._obs(r)

    def count(self, table: str) -> int:
        return self.db[table].count if self.db[table].exists() else 0

    @staticmethod
    def _obs(r: dict[str, Any]) -> Observation:
        d = dict(r)
        hn = d.pop("help_needed", None)
        d["help_needed"] = None if hn is None else bool(hn)
        return observation_from_dict(d)

    # ------------------------------------------------------------ proposals

    def add_proposal(
        self,
        proposal_id: str,
        obs: Observation,
        response: AgentResponse,
        score: float | None,
        now: float,
        ttl_s: float = 120.0,
        latency_ms: float | None = None,
    ) -> bool:
        """Store a proposal (status ``pending``); return True when it is new.

        ``latency_ms`` is how long the decision took (gate + LLM + scoring)."""
        table = self.db.table("proposals")
        if table.count_where("id = ?", [proposal_id]) > 0:
            return False
        table.insert(
            {
                "id": proposal_id,
                "observation_id": obs.id,
                "desktop": obs.desktop,
                "task": response.task,
                "purpose": response.purpose,
                "thoughts": response.thoughts,
                "response": response.response,
                "score": score,
                "status": "pending",
                "created_at": now,
                "expires_at": now + ttl_s,
                "latency_ms": latency_ms,
            }
        )
        return True

    def proposals(self, desktop: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""
        where, args = ("desktop = ?", [desktop]) if desktop else (None, [])
        return list(
            self.db.table("proposals").rows_where(
                where, args, order_by="created_at desc, rowid desc", limit=limit
            )
        )

    def get_proposal(self, proposal_id: str) -> dict[str, Any] | None:
        rows = list(self.db.table("proposals").rows_where("id = ?", [proposal_id]))
        return rows[0] if rows else None

    # ------------------------------------------------------------ feedback

    def add_feedback(
        self, feedback_id: str, proposal_id: str, verdict: str, desktop: str, now: float
    ) -> bool:
        """Record a verdict; return True when new. A repeated ``feedback_id`` is ignored."""
        if verdict not in VERDICTS:
            raise StoreError(f"Unknown verdict {verdict!r}.", f"Use one of {', '.join(VERDICTS)}.")
        table = self.db.table("feedback")
        if table.count_where("id = ?", [feedback_id]) > 0:
            return False
        if self.get_proposal(proposal_id) is None:
            raise StoreError(
                f"Unknown proposal {proposal_id!r}.", "Feedback must answer a proposal the hub sent."
            )
        with self.db.conn:
            table.insert(
                {
                    "id": feedback_id,
                    "proposal_id": proposal_id,
                    "desktop": desktop,
                    "verdict": verdict,
                    "created_at": now,
                }
            )
            self.db.table("proposals").update(proposal_id, {"status": verdict})
        return True

    # ------------------------------------------------------------ checkpoints

    def get_checkpoint(self, name: str) -> Any | None:
        """The JSON value stored under ``name``, or None."""
        rows = list(self.db.table("checkpoints").rows_where("name = ?", [name]))
        return json.loads(rows[0]["value"]) if rows else None

    def set_checkpoint(self, name: str, value: Any, now: float) -> None:
        self.db.table("checkpoints").upsert(
            {"name": name, "value": json.dumps(value), "updated_at": now}, pk="name"
        )
