"""The store's connection and the ``checkpoints`` table; `Store` gathers the hub's own tables.

One file (``proactive.db`` in the data directory), WAL mode so the dashboard can
read while the hub writes. It holds the user's activity, so it is private: a
data directory `Store.open` creates is 0700, the database is created 0600
(SQLite gives its -wal and -shm files the database's mode), and existing
files of the store (the database, -wal, -shm, the memory's index files beside
it) that others could read are tightened to 0600 on open, with one log line.
A file that is not a SQLite database, or a damaged one, is a `StoreError`
that says so, where the file is, and how to restore a backup or start fresh.
Schema changes are migrations in `edge.store.migrations`.
`Store` is the connection plus the queries of ``observations``
(`edge.store.observations`) and of ``proposals``, ``feedback`` and ``results``
(`edge.store.proposals`); the other rooms' tables have their own classes over a
`Store` (`edge.store.feedback`, `edge.store.memory`, `edge.store.relay`).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from edge.errors import StoreError
from edge.store.migrations import migrations
from edge.store.proposals import Proposals

log = logging.getLogger(__name__)


def is_damaged(e: sqlite3.Error) -> bool:
    """SQLITE_NOTADB or SQLITE_CORRUPT (any extended code): the file's content, not its access."""
    name = str(getattr(e, "sqlite_errorname", "") or "")
    text = str(e).lower()
    return (
        name == "SQLITE_NOTADB"
        or name.startswith("SQLITE_CORRUPT")
        or "not a database" in text
        or ("malformed" in text)
    )


def damaged_store(path: Path | None, e: sqlite3.Error) -> StoreError:
    """The error for a store file SQLite cannot read as a database: what, where, and the two ways out."""
    where = str(path.absolute()) if path is not None else "the store"
    return StoreError(
        f"The store {where} is damaged or not a SQLite database (SQLite: {e}).",
        f"Stop the hub, then either restore your latest backup over it and delete {where}-wal and "
        f"{where}-shm (firmware-notes/README.md, 'Backup and restore'), or start fresh by moving it "
        f"aside with its -wal/-shm files (mv {where} {where}.damaged); the next start creates a new, "
        "empty store and the memory index is rebuilt.",
    )


def _make_private_dir(directory: Path) -> None:
    """Create ``directory`` 0700 (parents as the umask says); an existing one named like ours is tightened."""
    if not directory.exists():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        directory.chmod(0o700)  # mkdir's mode is masked by the umask
    elif directory.name == "proactive-edge" and stat.S_IMODE(directory.stat().st_mode) & 0o077:
        # ours by name (the XDG default and the systemd StateDirectory): never chmod a directory the
        # user chose for other things too (PROACTIVE_HOME=/tmp)
        directory.chmod(0o700)
        log.warning("data directory %s was readable by others; tightened to 0700", directory)


def _private_files(path: Path) -> None:
    """Create the database file 0600 if absent; tighten the store's existing files to 0600 (one log line)."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # SQLite takes an empty file as new
    ours = [path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))]
    ours += sorted(path.parent.glob(f"{path.stem}.memory.faiss*"))  # the memory's index and sidecar
    loose = []
    for f in ours:
        try:
            if f.is_file() and stat.S_IMODE(f.stat().st_mode) & 0o077:
                f.chmod(0o600)
                loose.append(f.name)
        except OSError:
            continue  # another user's file: SQLite will say what it cannot open
    if loose:
        log.warning("store files readable by others, tightened to 0600: %s", ", ".join(loose))


class Store(Proposals):
    """Typed access to the hub's tables. Takes a `Database` so tests can pass an in-memory one.

    ``db`` is the connection, for the modules of `edge.store` only.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        try:
            migrations.apply(db)
        except sqlite3.DatabaseError as e:
            if is_damaged(e):
                raise damaged_store(self._file(), e) from e
            raise StoreError(
                f"Cannot prepare the store's tables: {e}",
                "Check that the file is writable and that no other program holds it locked, then retry.",
            ) from e

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) the store at ``path`` in WAL mode, its files private (see the
        module docstring). Raises `StoreError`: a damaged file, or one that cannot be opened."""
        try:
            _make_private_dir(path.parent)
            _private_files(path)
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
        except sqlite3.DatabaseError as e:
            if is_damaged(e):
                raise damaged_store(path, e) from e
            raise StoreError(
                f"Cannot open the store at {path}: {e}",
                "Check that the data directory is writable and that no other program locks the file "
                "(set PROACTIVE_HOME to move it).",
            ) from e
        except OSError as e:
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

    def _file(self) -> Path | None:
        try:
            return self.path
        except StoreError:
            return None

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
