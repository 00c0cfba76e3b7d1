"""The memory stream's four tables and their queries.

`MemoryDB` holds the SQL of ``memories``, ``memory_vectors``,
``memory_citations`` and ``memory_importance_cache`` (created by migration
m003 in `edge.store.migrations`). It works on a `Store`, so the memory lives
in the same file as observations and proposals and tests pass
``Store.memory()``. Vectors are float32 blobs; ``memories.id`` is the FAISS id.

The rows the stream copies from the hub's own tables are `Store` methods
(`edge.store.proposals`, `edge.store.observations`); ``CK_*`` name the
checkpoints the memory keeps.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edge.errors import StoreError
from edge.store.core import Store

KINDS = ("observation", "proposal", "feedback", "reflection", "plan")
DERIVED_KINDS = ("reflection", "plan")
# What a prompt or a reflection recalls: every kind but plans (the current plan is given apart).
RECALLED_KINDS = ("observation", "proposal", "feedback", "reflection")

# Checkpoints (``Store.get_checkpoint``) of the memory stream.
CK_REFLECTED = "memory.last_reflection_id"
CK_PLAN = "memory.plan_id"
CK_SYNC_PROPOSALS = "memory.sync.proposals_rowid"
CK_SYNC_FEEDBACK = "memory.sync.feedback_rowid"
CK_EMBEDDER = "memory.embedder"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class NewMemory:
    """A record about to be stored (its id comes from SQLite)."""

    kind: str
    text: str
    created_at: float
    importance: int
    desktop: str = ""
    app: str = ""
    source_id: str | None = None
    importance_src: str = "cheap"
    cites: list[int] = field(default_factory=list)


@dataclass
class Memory:
    """One stored record of the memory stream."""

    id: int
    kind: str
    text: str
    desktop: str
    app: str
    source_id: str | None
    created_at: float
    last_accessed: float
    importance: int
    importance_src: str
    cites: list[int] = field(default_factory=list)

    @property
    def vector_id(self) -> int:
        """The record's id in the FAISS index (the same as ``id``)."""
        return self.id

    def to_json(self) -> dict[str, Any]:
        """The columns, then ``vector_id`` and ``cites``."""
        row = asdict(self)
        cites = row.pop("cites")
        return {**row, "vector_id": self.vector_id, "cites": cites}


_COLS = "id, kind, text, desktop, app, source_id, created_at, last_accessed, importance, importance_src"


def _memory(row: Sequence[Any]) -> Memory:
    return Memory(*row)


def to_blob(v: np.ndarray) -> bytes:
    return np.ascontiguousarray(v, dtype=np.float32).tobytes()


def from_blobs(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    if not blobs:
        return np.zeros((0, dim), np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)


class MemoryDB:
    """Typed queries over the memory tables of ``store``. Raises `StoreError` on SQLite failures."""

    def __init__(self, store: Store) -> None:
        self.db = db = store.db
        if not db["memories"].exists():
            raise StoreError(
                "The memory tables are missing.", "Open the database through edge.store.Store first."
            )

    def _q(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return list(self.db.execute(sql, list(args)).fetchall())
        except sqlite3.Error as e:
            raise StoreError(f"Memory query failed: {e}", "The database may be locked or damaged.") from e

    # ------------------------------------------------------------ writes

    def insert(self, records: Sequence[NewMemory], vectors: np.ndarray) -> list[tuple[int, bool]]:
        """Store records with their vectors in one transaction.

        Returns ``(id, is_new)`` per record; a record whose ``source_id`` is
        already stored is not inserted again and its existing id is returned.
        """
        out: list[tuple[int, bool]] = []
        conn = self.db.conn
        try:
            with conn:
                for rec, vec in zip(records, vectors, strict=True):
                    if rec.source_id is not None:
                        row = conn.execute(
                            "SELECT id FROM memories WHERE source_id = ?", [rec.source_id]
                        ).fetchone()
                        if row is not None:
                            out.append((int(row[0]), False))
                            continue
                    cur = conn.execute(
                        "INSERT INTO memories (kind, text, text_hash, desktop, app, source_id, created_at,"
                        " last_accessed, importance, importance_src) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        [
                            rec.kind,
                            rec.text,
                            text_hash(rec.text),
                            rec.desktop,
                            rec.app,
                            rec.source_id,
                            rec.created_at,
                            rec.created_at,
                            int(rec.importance),
                            rec.importance_src,
                        ],
                    )
                    mid = int(cur.lastrowid or 0)
                    conn.execute("INSERT INTO memory_vectors (id, vector) VALUES (?, ?)", [mid, to_blob(vec)])
                    if rec.cites:
                        conn.executemany(
                            "INSERT OR IGNORE INTO memory_citations (memory_id, cited_id) VALUES (?, ?)",
                            [(mid, int(c)) for c in rec.cites],
                        )
                    out.append((mid, True))
        except sqlite3.Error as e:
            raise StoreError(f"Cannot store memory records: {e}", "Nothing was stored; retry.") from e
        return out

    def touch(self, ids: Iterable[int], now: float) -> None:
        """Set ``last_accessed`` of ``ids`` to ``now``."""
        idl = [int(i) for i in ids]
        if not idl:
            return
        try:
            with self.db.conn:
                self.db.conn.executemany(
                    "UPDATE memories SET last_accessed = ? WHERE id = ?", [(now, i) for i in idl]
                )
        except sqlite3.Error as e:
            raise StoreError(f"Cannot update memory access times: {e}", "Retry.") from e

    def touch_many(self, when: dict[int, float]) -> None:
        """Set ``last_accessed`` per id (never moving it backwards)."""
        if not when:
            return
        try:
            with self.db.conn:
                self.db.conn.executemany(
                    "UPDATE memories SET last_accessed = max(last_accessed, ?) WHERE id = ?",
                    [(t, int(i)) for i, t in when.items()],
                )
        except sqlite3.Error as e:
            raise StoreError(f"Cannot update memory access times: {e}", "Retry.") from e

    def set_importance(self, scores: dict[int, int], src: str) -> None:
        try:
            with self.db.conn:
                self.db.conn.executemany(
                    "UPDATE memories SET importance = ?, importance_src = ? WHERE id = ?",
                    [(int(s), src, int(i)) for i, s in scores.items()],
                )
        except sqlite3.Error as e:
            raise StoreError(f"Cannot update importance: {e}", "Retry.") from e

    def delete(self, ids: Iterable[int]) -> list[int]:
        """Delete ``ids`` and, transitively, the reflections and plans citing them.

        Returns every deleted id (a derived record could repeat what it cites).
        """
        todo = {int(i) for i in ids}
        deleted: set[int] = set()
        while todo:
            deleted |= todo
            batch = list(todo)
            todo = set()
            for chunk in _chunks(batch, 500):
                marks = ",".join("?" * len(chunk))
                rows = self._q(
                    f"SELECT DISTINCT memory_id FROM memory_citations WHERE cited_id IN ({marks})", chunk
                )
                todo |= {int(r[0]) for r in rows} - deleted
        try:
            with self.db.conn:
                for chunk in _chunks(sorted(deleted), 500):
                    marks = ",".join("?" * len(chunk))
                    self.db.conn.execute(f"DELETE FROM memories WHERE id IN ({marks})", chunk)
                    self.db.conn.execute(f"DELETE FROM memory_vectors WHERE id IN ({marks})", chunk)
                    self.db.conn.execute(
                        f"DELETE FROM memory_citations WHERE memory_id IN ({marks}) OR cited_id IN ({marks})",
                        chunk + chunk,
                    )
        except sqlite3.Error as e:
            raise StoreError(f"Cannot delete memory records: {e}", "Nothing was deleted; retry.") from e
        return sorted(deleted)

    def add_cache(self, th: str, model: str, score: int) -> None:
        self._q(
            "INSERT OR REPLACE INTO memory_importance_cache (text_hash, model, score) VALUES (?,?,?)",
            [th, model, int(score)],
        )
        self.db.conn.commit()

    # ------------------------------------------------------------ reads

    def get(self, ids: Sequence[int]) -> dict[int, Memory]:
        """The records among ``ids`` that exist (missing ids are skipped), with citations."""
        out: dict[int, Memory] = {}
        for chunk in _chunks([int(i) for i in ids], 500):
            marks = ",".join("?" * len(chunk))
            for row in self._q(f"SELECT {_COLS} FROM memories WHERE id IN ({marks})", chunk):
                out[int(row[0])] = _memory(row)
            for mid, cited in self._q(
                f"SELECT memory_id, cited_id FROM memory_citations WHERE memory_id IN ({marks})"
                " ORDER BY memory_id, cited_id",
                chunk,
            ):
                if mid in out:
                    out[mid].cites.append(int(cited))
        return out

    def vectors(self, ids: Sequence[int], dim: int) -> tuple[list[int], np.ndarray]:
        """(ids found, their vectors) for ``ids``, in the order of ``ids``."""
        found: dict[int, bytes] = {}
        for chunk in _chunks([int(i) for i in ids], 500):
            marks = ",".join("?" * len(chunk))
            for i, blob in self._q(f"SELECT id, vector FROM memory_vectors WHERE id IN ({marks})", chunk):
                found[int(i)] = blob
        order = [int(i) for i in ids if int(i) in found]
        return order, from_blobs([found[i] for i in order], dim)

    def iter_vectors(
        self, dim: int, chunk: int = 20000, after: int = 0
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All (ids, vectors) with id > ``after``, in id order, ``chunk`` rows at a time."""
        last = after
        while True:
            rows = self._q(
                "SELECT id, vector FROM memory_vectors WHERE id > ? ORDER BY id LIMIT ?", [last, chunk]
            )
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            yield ids, from_blobs([r[1] for r in rows], dim)
            last = int(ids[-1])

    def vectors_by_hash(self, hashes: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """Stored vectors of records whose text has one of ``hashes`` (the embedding cache)."""
        out: dict[str, np.ndarray] = {}
        for chunk in _chunks(list(dict.fromkeys(hashes)), 500):
            marks = ",".join("?" * len(chunk))
            for th, blob in self._q(
                f"SELECT m.text_hash, v.vector FROM memories m JOIN memory_vectors v ON v.id = m.id"
                f" WHERE m.text_hash IN ({marks}) GROUP BY m.text_hash",
                chunk,
            ):
                if len(blob) == 4 * dim:
                    out[th] = np.frombuffer(blob, dtype=np.float32)
        return out

    def fingerprint(self) -> tuple[int, int, int]:
        """(count, sum of ids, max id) of the records: what the index must hold.

        Read from a small index of ``memories`` (records and vectors are
        written and deleted in the same transactions), not from the 1.5 KB
        vector rows, so it stays fast at a million records.
        """
        row = self._q(
            "SELECT count(*), coalesce(sum(id), 0), coalesce(max(id), 0)"
            " FROM memories INDEXED BY idx_memories_kind"
        )[0]
        return int(row[0]), int(row[1]), int(row[2])

    def fingerprint_upto(self, max_id: int) -> tuple[int, int]:
        row = self._q("SELECT count(*), coalesce(sum(id), 0) FROM memories WHERE id <= ?", [max_id])[0]
        return int(row[0]), int(row[1])

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return int(self._q("SELECT count(*) FROM memories")[0][0])
        return int(self._q("SELECT count(*) FROM memories WHERE kind = ?", [kind])[0][0])

    def counts_by_kind(self) -> dict[str, int]:
        return {str(k): int(n) for k, n in self._q("SELECT kind, count(*) FROM memories GROUP BY kind")}

    def latest(self, n: int, kinds: Sequence[str] | None = None, after: int = 0) -> list[Memory]:
        """The ``n`` newest records (by id) with id > ``after``, oldest first."""
        where, args = self._kinds(kinds)
        rows = self._q(
            f"SELECT {_COLS} FROM memories WHERE id > ? {where} ORDER BY id DESC LIMIT ?",
            [after, *args, n],
        )
        return [_memory(r) for r in reversed(rows)]

    def latest_ids(self, n: int, kinds: Sequence[str] | None = None) -> list[int]:
        where, args = self._kinds(kinds)
        return [
            int(r[0])
            for r in self._q(f"SELECT id FROM memories WHERE 1 {where} ORDER BY id DESC LIMIT ?", [*args, n])
        ]

    def importance_since(self, after: int) -> float:
        """Summed importance of the records with id > ``after`` that are not reflections or plans."""
        row = self._q(
            "SELECT coalesce(sum(importance), 0) FROM memories"
            " WHERE id > ? AND kind NOT IN ('reflection', 'plan')",
            [after],
        )[0]
        return float(row[0])

    def max_id(self) -> int:
        return int(self._q("SELECT coalesce(max(id), 0) FROM memories")[0][0])

    def cheap_scored(self, limit: int, kinds: Sequence[str] | None = None) -> list[Memory]:
        """Newest records whose importance is still the cheap estimate."""
        where, args = self._kinds(kinds)
        rows = self._q(
            f"SELECT {_COLS} FROM memories WHERE importance_src = 'cheap' {where} ORDER BY id DESC LIMIT ?",
            [*args, limit],
        )
        return [_memory(r) for r in rows]

    def cached_importance(self, th: str, model: str) -> int | None:
        rows = self._q(
            "SELECT score FROM memory_importance_cache WHERE text_hash = ? AND model = ?", [th, model]
        )
        return int(rows[0][0]) if rows else None

    def select_ids(
        self,
        before: float | None = None,
        app: str | None = None,
        match: str | None = None,
        source_ids: Sequence[str] | None = None,
    ) -> list[int]:
        """Ids of records matching every given filter (at least one must be given).

        ``before``: created before this unix time; ``app``: the application
        name (case-insensitive); ``match``: text containing this (case-insensitive).
        """
        marks = ",".join("?" * len(source_ids or ()))
        filters: list[tuple[bool, str, list[Any]]] = [
            (before is not None, "created_at < ?", [before]),
            (bool(app), "lower(app) = lower(?)", [app]),
            (bool(match), "instr(lower(text), lower(?)) > 0", [match]),
            (source_ids is not None, f"source_id IN ({marks})", list(source_ids or ())),
        ]
        used = [(cond, args) for given, cond, args in filters if given]
        if not used:
            raise StoreError("No filter given.", "Pass --before DATE, --app NAME or --match TEXT.")
        where = " AND ".join(cond for cond, _ in used)
        args = [a for _, values in used for a in values]
        return [int(r[0]) for r in self._q(f"SELECT id FROM memories WHERE {where}", args)]

    def stats(self) -> dict[str, Any]:
        row = self._q(
            "SELECT count(*), min(created_at), max(created_at), avg(importance),"
            " sum(importance_src = 'llm') FROM memories"
        )[0]
        return {
            "records": int(row[0]),
            "by_kind": self.counts_by_kind(),
            "oldest": row[1],
            "newest": row[2],
            "mean_importance": None if row[3] is None else round(float(row[3]), 2),
            "llm_scored": int(row[4] or 0),
            "citations": int(self._q("SELECT count(*) FROM memory_citations")[0][0]),
        }

    @staticmethod
    def _kinds(kinds: Sequence[str] | None) -> tuple[str, list[Any]]:
        if not kinds:
            return "", []
        return f"AND kind IN ({','.join('?' * len(kinds))})", list(kinds)


def _chunks(items: Sequence[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield list(items[i : i + n])
