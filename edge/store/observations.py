"""The ``observations`` table: the events the sources saw, one row each.

`Observations` is one part of `edge.store.Store` (it uses the store's
connection); this module is the only one with SQL over ``observations``. Every
row has a deterministic primary key (see `edge.records.stable_id`), so
re-reading an ActivityWatch span or a redelivered MQTT message is an upsert,
never a duplicate.

Reads never trust a row: a row written by an older version or planted by hand
(``ts`` stored as text, NULLs, unreadable ``activity`` JSON) is coerced field by
field (an unreadable ``ts`` becomes None, ``activity`` None, ``help_needed``
None), and a row without usable text is skipped; either way with one log line
per row and process, never an exception that would crash-loop the hub.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from edge.errors import StoreError
from edge.records import Observation, observation_from_dict

log = logging.getLogger(__name__)

_WARNED: set[str] = set()  # ids of unreadable rows already logged (one line per row and process)


@dataclass(frozen=True)
class ObservationRow:
    """An observation as the dashboard lists it."""

    id: str
    desktop: str
    app: str
    text: str
    time: str
    created_at: float


def _chunks(items: Sequence[Any], n: int = 500) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``n`` (SQLite limits the parameters of one statement)."""
    for i in range(0, len(items), n):
        yield list(items[i : i + n])


class Observations:
    """Queries over ``observations``; mixed into `edge.store.Store`, which sets ``db``."""

    db: Database

    def add_observation(self, obs: Observation, now: float) -> bool:
        """Store ``obs``; return True when it is new. A re-read of the same event updates it in place."""
        oid = obs.id
        table = self.db.table("observations")
        existed = table.count_where("id = ?", [oid]) > 0
        row = {
            "id": oid,
            "desktop": obs.desktop,
            "source": obs.source,
            "ts": finite(obs.ts),
            "time": obs.time,
            "text": obs.text,
            "app": obs.app,
            "key": obs.key,
            "help_needed": None if obs.help_needed is None else int(obs.help_needed),
            "activity": None if obs.activity is None else json.dumps(obs.activity.to_dict()),
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
        return [o for o in map(_obs, reversed(rows)) if o is not None]

    def observations(self, desktop: str | None = None) -> Iterator[Observation]:
        """Every observation (of ``desktop`` if given), oldest first; unreadable rows are skipped."""
        where, args = ("desktop = ?", [desktop]) if desktop else (None, [])
        for r in self.db.table("observations").rows_where(where, args, order_by="created_at, rowid"):
            o = _obs(r)
            if o is not None:
                yield o

    def observation_rows(self, limit: int = 100) -> list[ObservationRow]:
        """The newest observations of every desktop, newest first (the dashboard's list)."""
        rows = self.db.execute(
            "select id, coalesce(desktop, ''), coalesce(app, ''), coalesce(text, ''), coalesce(time, ''), "
            "created_at from observations order by created_at desc, rowid desc limit ?",
            [limit],
        ).fetchall()
        return [ObservationRow(*r) for r in rows]

    def observation_texts(self, ids: Collection[str]) -> dict[str, str]:
        """``{id: text}`` of the observations with these ids (unknown ids are left out)."""
        out: dict[str, str] = {}
        for chunk in _chunks(sorted(ids)):
            marks = ",".join("?" * len(chunk))
            sql = f"select id, coalesce(text, '') from observations where id in ({marks})"
            out.update((str(i), str(t)) for i, t in self.db.execute(sql, chunk).fetchall())
        return out

    def observation_ids_of_event(self, source: str, key: str) -> list[str]:
        """Ids of the observations of the trace event ``(source, key)``, under any desktop."""
        rows = self.db.execute(
            "select id from observations where source = ? and key = ?", [source, key]
        ).fetchall()
        return [str(r[0]) for r in rows]

    def observation_desktops(self) -> set[str]:
        """Every desktop that has sent an observation."""
        return {r[0] for r in self.db.execute("select distinct desktop from observations") if r[0]}

    def observation_count(self) -> int:
        return int(self.db.execute("select count(*) from observations").fetchone()[0])

    def last_observation_at(self) -> float | None:
        """When the newest observation was stored, or None when there is none."""
        last = self.db.execute("select max(created_at) from observations").fetchone()[0]
        return None if last is None else float(last)

    def delete_observations(self, ids: Sequence[str]) -> None:
        """Delete the observations with these ids (``forget`` removes the raw events behind records)."""
        try:
            with self.db.conn:
                for chunk in _chunks(list(ids)):
                    marks = ",".join("?" * len(chunk))
                    self.db.execute(f"DELETE FROM observations WHERE id IN ({marks})", chunk)
        except sqlite3.Error as e:
            raise StoreError(f"Cannot delete observations: {e}", "Nothing was deleted; retry.") from e


def finite(value: object) -> float | None:
    """``value`` as a finite float, or None (text that is not a number, NaN, inf, bool, NULL)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        f = float(value)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _obs(r: dict[str, Any]) -> Observation | None:
    """The row as an `Observation`, coercing what it can; None (logged) when it has no usable text."""
    rid = _text(r.get("id"))
    text = r.get("text")
    if not isinstance(text, str) or not text.strip():
        _warn(rid, f"no usable text ({text!r:.40}); skipped")
        return None
    problems: list[str] = []
    ts = finite(r.get("ts"))
    if r.get("ts") is not None and ts is None:
        problems.append(f"ts {r.get('ts')!r:.40}")
    hn = r.get("help_needed")
    if hn not in (None, 0, 1):
        problems.append(f"help_needed {hn!r:.20}")
        hn = None
    act = r.get("activity")
    try:
        activity = json.loads(act) if act else None
    except (TypeError, ValueError):
        problems.append("activity JSON")
        activity = None  # an unreadable structure is re-parsed from the text by its user
    if problems:
        _warn(rid, "unreadable " + ", ".join(problems) + "; read as unknown")
    return observation_from_dict(
        {
            "text": text,
            "time": _text(r.get("time")) or ("" if ts is None else str(ts)),
            "ts": ts,
            "desktop": _text(r.get("desktop")),
            "app": _text(r.get("app")),
            "source": _text(r.get("source")),
            "key": _text(r.get("key")),
            "help_needed": None if hn is None else bool(hn),
            "activity": activity,
        }
    )


def _warn(row_id: str, what: str) -> None:
    if row_id not in _WARNED:
        _WARNED.add(row_id)
        log.warning("observation row %r: %s", row_id, what)
