"""The dashboard's reads: proposals with their answer and result, recent observations, desktops, stats.

Typed, read-only queries over the hub's tables (``proposals``, ``feedback``,
``results``, ``observations``), for ``tui/``; the schema is the one
`edge.store.migrations` creates, so no column is guessed. Writes go through
`Store`'s own methods.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from edge.store.core import VERDICTS, Store

STATUSES = ("pending", *VERDICTS)


def data_version(store: Store) -> int:
    """Changes whenever another connection (the hub) commits to the store file."""
    return int(store.db.execute("PRAGMA data_version").fetchone()[0])


# ------------------------------------------------------------------ proposals


@dataclass(frozen=True)
class ProposalRow:
    """A proposal joined with its answer and, when the hub recorded one, its result."""

    id: str
    observation_id: str
    desktop: str
    task: str
    response: str
    score: float | None
    status: str
    created_at: float
    expires_at: float | None
    answered_at: float | None = None
    result: str | None = None
    observation: str = ""

    def expired(self, now: float) -> bool:
        return self.status == "pending" and self.expires_at is not None and now > self.expires_at

    def shown_status(self, now: float) -> str:
        return "expired" if self.expired(now) else self.status


_PROPOSALS = """
    select p.id, coalesce(p.observation_id, ''), coalesce(p.desktop, ''), coalesce(p.task, ''),
           coalesce(p.response, ''), p.score, coalesce(p.status, 'pending'), p.created_at, p.expires_at,
           (select min(f.created_at) from feedback f where f.proposal_id = p.id),
           (select r.text from results r where r.proposal_id = p.id limit 1),
           coalesce((select o.text from observations o where o.id = p.observation_id), '')
    from proposals p
"""


@dataclass(frozen=True)
class ProposalFilter:
    """Which proposals to list: of a desktop, with a status, created in [start, end); None or "" is any."""

    desktop: str | None = None
    status: str | None = None
    start: float | None = None
    end: float | None = None
    limit: int = 200


ALL = ProposalFilter()


def query_proposals(store: Store, which: ProposalFilter = ALL) -> list[ProposalRow]:
    """Proposals newest first, with the time of their answer and their result when known."""
    conditions = (
        ("p.desktop = ?", which.desktop),
        ("p.status = ?", which.status),
        ("p.created_at >= ?", which.start),
        ("p.created_at < ?", which.end),
    )
    used = [(cond, value) for cond, value in conditions if value is not None and value != ""]
    where = "where " + " and ".join(cond for cond, _ in used) if used else ""
    sql = f"{_PROPOSALS} {where} order by p.created_at desc, p.rowid desc limit ?"
    rows = store.db.execute(sql, [*(value for _, value in used), which.limit]).fetchall()
    return [ProposalRow(*r) for r in rows]


# ------------------------------------------------------------------ observations


@dataclass(frozen=True)
class ObservationRow:
    id: str
    desktop: str
    app: str
    text: str
    time: str
    created_at: float


def recent_observations(store: Store, limit: int = 100) -> list[ObservationRow]:
    """The newest observations of every desktop, newest first."""
    rows = store.db.execute(
        "select id, coalesce(desktop, ''), coalesce(app, ''), coalesce(text, ''), coalesce(time, ''), "
        "created_at from observations order by created_at desc, rowid desc limit ?",
        [limit],
    ).fetchall()
    return [ObservationRow(*r) for r in rows]


def desktops(store: Store) -> list[str]:
    """Every desktop that has sent an observation or received a proposal, sorted."""
    rows = store.db.execute(
        "select desktop from proposals union select desktop from observations order by desktop"
    ).fetchall()
    return [r[0] for r in rows if r[0]]


def proposed_tasks(store: Store, source: str, key: str) -> list[str]:
    """Tasks the hub proposed for the event ``(source, key)`` of a trace, under any desktop, oldest first."""
    rows = store.db.execute(
        "select distinct p.task from proposals p join observations o on o.id = p.observation_id "
        "where o.source = ? and o.key = ? and p.task is not null order by p.created_at",
        [source, key],
    ).fetchall()
    return [r[0] for r in rows]


# ------------------------------------------------------------------ stats


@dataclass(frozen=True)
class Stats:
    counts: dict[str, int]
    per_hour: list[int]
    answer_p50: float | None
    answer_p90: float | None
    hub_latency_p50_ms: float | None
    observations: int
    last_observation_at: float | None

    @property
    def answered(self) -> int:
        return sum(self.counts.get(v, 0) for v in VERDICTS)

    @property
    def acceptance(self) -> float | None:
        return self.counts.get("accepted", 0) / self.answered if self.answered else None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def compute_stats(store: Store, now: float, hours: int = 24) -> Stats:
    """Acceptance, proposals per hour over the last ``hours`` hours (oldest first), answer times."""
    db = store.db
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in db.execute("select status, count(*) from proposals group by status"):
        counts[status or "pending"] = counts.get(status or "pending", 0) + n
    start = now - hours * 3600
    per_hour = [0] * hours
    for (created,) in db.execute(
        "select created_at from proposals where created_at > ? and created_at <= ?", [start, now]
    ):
        per_hour[min(hours - 1, int((created - start) // 3600))] += 1
    waits = sorted(
        w
        for (w,) in db.execute(
            "select min(f.created_at) - p.created_at from feedback f "
            "join proposals p on p.id = f.proposal_id "
            "where f.verdict != 'ignored' group by p.id"
        )
        if w is not None and w >= 0
    )
    latency = sorted(
        v for (v,) in db.execute("select latency_ms from proposals where latency_ms is not null")
    )
    last = db.execute("select max(created_at) from observations").fetchone()[0]
    return Stats(
        counts=counts,
        per_hour=per_hour,
        answer_p50=_quantile(waits, 0.5),
        answer_p90=_quantile(waits, 0.9),
        hub_latency_p50_ms=_quantile(latency, 0.5),
        observations=store.count("observations"),
        last_observation_at=last,
    )
