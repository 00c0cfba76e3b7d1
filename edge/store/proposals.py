"""A proposal and its answers: the ``proposals``, ``feedback`` and ``results`` tables.

`Proposals` is one part of `edge.store.Store` (built on `Observations`, whose
rows the proposals answer); this module is the only one with SQL over these
three tables: the loop's writes, the verdicts, the help written for accepted
proposals, the dashboard's lists and figures, the feedback room's sweeps and
counts, and the rows the memory stream copies.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

from edge.errors import StoreError
from edge.records import AgentResponse, Anchor, HelpResult, Observation
from edge.store.observations import Observations

VERDICTS = ("accepted", "rejected", "ignored")
STATUSES = ("pending", *VERDICTS)


# ------------------------------------------------------------------ the dashboard's rows


@dataclass(frozen=True)
class ProposalRow:
    """A proposal joined with its answer and, when the hub recorded one, its result.

    ``anchor`` is what the proposal is about and ``p_help`` the trigger's P(help now);
    None for proposals made without them (no trigger, or stored before they existed)."""

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
    anchor: Anchor | None = None
    p_help: float | None = None

    def expired(self, now: float) -> bool:
        return self.status == "pending" and self.expires_at is not None and now > self.expires_at

    def shown_status(self, now: float) -> str:
        return "expired" if self.expired(now) else self.status


@dataclass(frozen=True)
class ProposalFilter:
    """Which proposals to list: of a desktop, with a status, created in [start, end); None or "" is any."""

    desktop: str | None = None
    status: str | None = None
    start: float | None = None
    end: float | None = None
    limit: int = 200


ALL = ProposalFilter()

_PROPOSALS = """
    select p.id, coalesce(p.observation_id, ''), coalesce(p.desktop, ''), coalesce(p.task, ''),
           coalesce(p.response, ''), p.score, coalesce(p.status, 'pending'), p.created_at, p.expires_at,
           (select min(f.created_at) from feedback f where f.proposal_id = p.id),
           (select r.text from results r where r.proposal_id = p.id limit 1),
           p.anchor_kind, p.anchor_text, p.p_help
    from proposals p
"""


def _proposal_row(r: Sequence[Any], observation: str) -> ProposalRow:
    """A `ProposalRow` from a row of `_PROPOSALS` and the text of the observation it followed."""
    kind, text, p_help = r[11:]
    anchor = Anchor(kind, text) if kind and text else None
    return replace(ProposalRow(*r[:11]), observation=observation, anchor=anchor, p_help=p_help)


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


# ------------------------------------------------------------------ the memory stream's rows


class ProposalEntry(NamedTuple):
    """A proposal as the memory copies it (``rowid`` orders the copying)."""

    rowid: int
    id: str
    desktop: str | None
    task: str | None
    created_at: float | None


class FeedbackEntry(NamedTuple):
    """A verdict with the task of the proposal it answers."""

    rowid: int
    id: str
    desktop: str | None
    verdict: str
    created_at: float | None
    task: str | None


class RecentProposal(NamedTuple):
    """A proposal as the loop's repeat check sees it."""

    task: str
    anchor: Anchor | None
    created_at: float


class Proposals(Observations):
    """Queries over ``proposals``, ``feedback`` and ``results``; mixed into `edge.store.Store`."""

    # ------------------------------------------------------------ proposals

    def add_proposal(
        self,
        proposal_id: str,
        obs: Observation,
        response: AgentResponse,
        score: float | None,
        now: float,
        ttl_s: float,
        latency_ms: float | None = None,
        anchor: Anchor | None = None,
        p_help: float | None = None,
        template: bool = False,
    ) -> bool:
        """Store a proposal (status ``pending``, expiring ``ttl_s`` after ``now``); True when it is new.

        ``latency_ms`` is how long the decision took (trigger + LLM + scoring); ``anchor`` what
        the task is about, ``p_help`` the trigger's P(help now), ``template`` whether the task
        is the anchor's deterministic one."""
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
                "anchor_kind": anchor.kind if anchor is not None else None,
                "anchor_text": anchor.text if anchor is not None else None,
                "p_help": p_help,
                "template": int(template),
            }
        )
        return True

    def recent_proposals(self, desktop: str, since: float) -> list[RecentProposal]:
        """Proposals made on ``desktop`` at or after ``since`` (clock time), oldest first."""
        rows = self.db.execute(
            "select task, anchor_kind, anchor_text, created_at from proposals "
            "where desktop = ? and created_at >= ? order by created_at, rowid",
            [desktop, since],
        ).fetchall()
        return [
            RecentProposal(
                task or "",
                Anchor(kind, text) if kind and text is not None else None,
                float(at),
            )
            for task, kind, text, at in rows
        ]

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

    def pending_expired_before(self, before: float) -> list[dict[str, Any]]:
        """Proposals still ``pending`` whose ``expires_at`` is before ``before``."""
        return list(self.db.table("proposals").rows_where("status = 'pending' and expires_at < ?", [before]))

    def proposal_counts(self) -> dict[str, int]:
        """Proposals by status (pending, accepted, rejected, ignored)."""
        return {
            str(s): int(n)
            for s, n in self.db.execute("select status, count(*) from proposals group by status").fetchall()
        }

    # ------------------------------------------------------------ feedback

    def add_feedback(
        self, feedback_id: str, proposal_id: str, verdict: str, desktop: str, now: float
    ) -> bool:
        """Record a proposal's verdict; True when it is recorded, False when the proposal already had one.

        One verdict per proposal, the first wins: a repeated ``feedback_id``, or any other answer to a
        proposal already answered (under another id, from a redelivery or a second device), changes
        nothing. Raises `StoreError` for an unknown verdict or proposal."""
        if verdict not in VERDICTS:
            raise StoreError(f"Unknown verdict {verdict!r}.", f"Use one of {', '.join(VERDICTS)}.")
        table = self.db.table("feedback")
        if table.count_where("id = ? or proposal_id = ?", [feedback_id, proposal_id]) > 0:
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

    def get_feedback(self, feedback_id: str) -> dict[str, Any] | None:
        rows = list(self.db.table("feedback").rows_where("id = ?", [feedback_id]))
        return rows[0] if rows else None

    def verdict_counts(self) -> dict[str, int]:
        return {
            str(v): int(n)
            for v, n in self.db.execute("select verdict, count(*) from feedback group by verdict").fetchall()
        }

    # ------------------------------------------------------------ results

    def add_result(self, result_id: str, result: HelpResult) -> None:
        """Store the help written for an accepted proposal (again: replaced)."""
        row = {"id": result_id, **asdict(result)}
        del row["task"]  # the proposal has it
        self.db.table("results").insert(row, replace=True)

    def results(self, proposal_id: str) -> list[dict[str, Any]]:
        """The results stored for a proposal (at most one unless written by hand), oldest first."""
        return list(self.db.table("results").rows_where("proposal_id = ?", [proposal_id], order_by="rowid"))

    # ------------------------------------------------------------ the dashboard's reads

    def proposal_rows(self, which: ProposalFilter = ALL) -> list[ProposalRow]:
        """Proposals newest first, with the time of their answer, their result and observation when known."""
        conditions = (
            ("p.desktop = ?", which.desktop),
            ("p.status = ?", which.status),
            ("p.created_at >= ?", which.start),
            ("p.created_at < ?", which.end),
        )
        used = [(cond, value) for cond, value in conditions if value is not None and value != ""]
        where = "where " + " and ".join(cond for cond, _ in used) if used else ""
        sql = f"{_PROPOSALS} {where} order by p.created_at desc, p.rowid desc limit ?"
        rows = self.db.execute(sql, [*(value for _, value in used), which.limit]).fetchall()
        texts = self.observation_texts({r[1] for r in rows if r[1]})
        return [_proposal_row(r, texts.get(r[1], "")) for r in rows]

    def desktops(self) -> list[str]:
        """Every desktop that has sent an observation or received a proposal, sorted."""
        proposed = {r[0] for r in self.db.execute("select distinct desktop from proposals") if r[0]}
        return sorted(proposed | self.observation_desktops())

    def proposed_tasks(self, source: str, key: str) -> list[str]:
        """Tasks proposed for the trace event ``(source, key)``, under any desktop, oldest first."""
        ids = self.observation_ids_of_event(source, key)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"select task from proposals where observation_id in ({marks}) and task is not null "
            "order by created_at",
            ids,
        ).fetchall()
        return list(dict.fromkeys(str(r[0]) for r in rows))

    def stats(self, now: float, hours: int = 24) -> Stats:
        """Acceptance, proposals per hour over the last ``hours`` hours (oldest first), answer times."""
        db = self.db
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
        return Stats(
            counts=counts,
            per_hour=per_hour,
            answer_p50=_quantile(waits, 0.5),
            answer_p90=_quantile(waits, 0.9),
            hub_latency_p50_ms=_quantile(latency, 0.5),
            observations=self.observation_count(),
            last_observation_at=self.last_observation_at(),
        )

    # ------------------------------------------------------------ the memory stream's reads

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return list(self.db.execute(sql, list(args)).fetchall())
        except sqlite3.Error as e:
            raise StoreError(f"Store query failed: {e}", "The database may be locked or damaged.") from e

    def proposals_after(self, rowid: int) -> list[ProposalEntry]:
        """Proposals stored after ``rowid``, in insertion order. Raises `StoreError`."""
        sql = "SELECT rowid, id, desktop, task, created_at FROM proposals WHERE rowid > ? ORDER BY rowid"
        return [ProposalEntry(*r) for r in self._rows(sql, [rowid])]

    def feedback_after(self, rowid: int) -> list[FeedbackEntry]:
        """Verdicts stored after ``rowid``, in insertion order, with the task they answer (or None)."""
        sql = (
            "SELECT f.rowid, f.id, f.desktop, f.verdict, f.created_at, p.task FROM feedback f"
            " LEFT JOIN proposals p ON p.id = f.proposal_id WHERE f.rowid > ? ORDER BY f.rowid"
        )
        return [FeedbackEntry(*r) for r in self._rows(sql, [rowid])]

    def accepted_tasks(self, limit: int = 500) -> list[str]:
        """Distinct non-empty tasks of the ``limit`` newest accepted proposals, newest first."""
        rows = self._rows(
            "SELECT task FROM proposals WHERE status = 'accepted' AND task IS NOT NULL AND task != ''"
            " ORDER BY created_at DESC LIMIT ?",
            [limit],
        )
        return list(dict.fromkeys(str(r[0]) for r in rows))
