"""What the dashboard reads and sends, kept apart from the widgets.

Everything here works against a `Store` alone (a store file). Parts that other
rooms provide (the MQTT relay, the memory stream, the reward model) are found
by guarded imports; when one is missing the adapter returns None plus a
sentence the UI shows, never an exception.

Nothing here imports Textual, so the logic is testable without an app.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

from edge.clock import Clock
from edge.errors import EdgeError, StoreError
from edge.records import stable_id
from edge.store import VERDICTS, Store

STATUSES = ("pending", *VERDICTS)


# ------------------------------------------------------------------ formatting


def fmt_time(ts: float | None, now: float) -> str:
    """``HH:MM:SS`` for today (local time), ``MM-DD HH:MM`` otherwise."""
    if ts is None:
        return "-"
    t = datetime.fromtimestamp(ts).astimezone()
    if t.date() == datetime.fromtimestamp(now).astimezone().date():
        return t.strftime("%H:%M:%S")
    return t.strftime("%m-%d %H:%M")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def fmt_score(score: float | None) -> str:
    return "-" if score is None else f"{score:.2f}"


def clip(text: str | None, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    s = " ".join((text or "").split())
    return s if len(s) <= width else s[: max(0, width - 1)] + "…"


# ------------------------------------------------------------------ store reads


def data_version(store: Store) -> int:
    """Changes whenever another connection (the hub) commits to the store file."""
    return int(store.db.execute("PRAGMA data_version").fetchone()[0])


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


def _has_table(store: Store, name: str) -> bool:
    return bool(store.db[name].exists())


def _result_column(store: Store) -> str | None:
    """The text column of a ``results`` table (written by the feedback room), if there is one."""
    if not _has_table(store, "results"):
        return None
    cols = {c.name for c in store.db["results"].columns}
    if "proposal_id" not in cols:
        return None
    return next((c for c in ("text", "result", "body", "content", "output") if c in cols), None)


def query_proposals(
    store: Store,
    *,
    desktop: str | None = None,
    status: str | None = None,
    start: float | None = None,
    end: float | None = None,
    limit: int = 200,
) -> list[ProposalRow]:
    """Proposals newest first, with the time of their answer and their result when known."""
    where: list[str] = []
    args: list[object] = []
    if desktop:
        where.append("p.desktop = ?")
        args.append(desktop)
    if status:
        where.append("p.status = ?")
        args.append(status)
    if start is not None:
        where.append("p.created_at >= ?")
        args.append(start)
    if end is not None:
        where.append("p.created_at < ?")
        args.append(end)
    rcol = _result_column(store)
    result_sql = f"(select r.[{rcol}] from results r where r.proposal_id = p.id limit 1)" if rcol else "null"
    sql = f"""
        select p.*, {result_sql} as result,
               (select min(f.created_at) from feedback f where f.proposal_id = p.id) as answered_at,
               (select o.text from observations o where o.id = p.observation_id) as obs_text
        from proposals p
        {"where " + " and ".join(where) if where else ""}
        order by p.created_at desc, p.rowid desc
        limit ?
    """
    cur = store.db.execute(sql, [*args, limit])
    names = [d[0] for d in cur.description]
    out = []
    for values in cur.fetchall():
        r = dict(zip(names, values, strict=True))
        out.append(
            ProposalRow(
                id=r["id"],
                observation_id=r["observation_id"] or "",
                desktop=r["desktop"] or "",
                task=r["task"] or "",
                response=r["response"] or "",
                score=r["score"],
                status=r["status"] or "pending",
                created_at=r["created_at"],
                expires_at=r["expires_at"],
                answered_at=r["answered_at"],
                result=None if r["result"] is None else str(r["result"]),
                observation=r["obs_text"] or "",
            )
        )
    return out


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
    rows = store.db.table("observations").rows_where(order_by="created_at desc, rowid desc", limit=limit)
    return [
        ObservationRow(
            r["id"], r["desktop"] or "", r["app"] or "", r["text"] or "", r["time"] or "", r["created_at"]
        )
        for r in rows
    ]


def desktops(store: Store) -> list[str]:
    """Every desktop that has sent an observation or received a proposal, sorted."""
    rows = store.db.execute(
        "select desktop from proposals union select desktop from observations order by desktop"
    ).fetchall()
    return [r[0] for r in rows if r[0]]


def parse_dates(text: str) -> tuple[float | None, float | None]:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD..YYYY-MM-DD`` (either end may be empty) -> local [start, end).

    Raises `EdgeError` with an example when the text is not a date.
    """
    text = text.strip()
    if not text:
        return None, None
    first, sep, last = text.partition("..")
    try:
        d0 = date.fromisoformat(first.strip()) if first.strip() else None
        d1 = date.fromisoformat(last.strip()) if last.strip() else None
    except ValueError as e:
        raise EdgeError(f"'{text}' is not a date.", "Type 2024-06-03 or 2024-06-01..2024-06-03.") from e
    if not sep:
        d1 = d0

    def local(d: date) -> float:
        return datetime.combine(d, time()).astimezone().timestamp()

    return (
        None if d0 is None else local(d0),
        None if d1 is None else local(d1 + timedelta(days=1)),
    )


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
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in store.db.execute("select status, count(*) from proposals group by status"):
        counts[status or "pending"] = counts.get(status or "pending", 0) + n
    start = now - hours * 3600
    per_hour = [0] * hours
    for (created,) in store.db.execute(
        "select created_at from proposals where created_at > ? and created_at <= ?", [start, now]
    ):
        per_hour[min(hours - 1, int((created - start) // 3600))] += 1
    waits = [
        w
        for (w,) in store.db.execute(
            "select min(f.created_at) - p.created_at from feedback f "
            "join proposals p on p.id = f.proposal_id "
            "where f.verdict != 'ignored' group by p.id"
        )
        if w is not None and w >= 0
    ]
    waits.sort()
    latency = None
    if "latency_ms" in {c.name for c in store.db["proposals"].columns}:
        lat = sorted(v for (v,) in store.db.execute("select latency_ms from proposals") if v is not None)
        latency = _quantile(lat, 0.5)
    last = store.db.execute("select max(created_at) from observations").fetchone()[0]
    return Stats(
        counts=counts,
        per_hour=per_hour,
        answer_p50=_quantile(waits, 0.5),
        answer_p90=_quantile(waits, 0.9),
        hub_latency_p50_ms=latency,
        observations=store.count("observations"),
        last_observation_at=last,
    )


# ------------------------------------------------------------------ feedback


def feedback_id_for(proposal_id: str) -> str:
    """The id a desktop companion gives its answer (`edge.relay.feedback_payload`): one per proposal."""
    return stable_id("feedback", proposal_id)


@dataclass(frozen=True)
class FeedbackOutcome:
    proposal_id: str
    feedback_id: str
    verdict: str
    desktop: str
    stored: bool
    previous: str | None = None


def record_feedback(store: Store, proposal_id: str, verdict: str, now: float) -> FeedbackOutcome:
    """Store a verdict as the proposal's desktop would send it. Raises `StoreError`.

    ``stored`` is False when the proposal already had an answer (``previous``).
    """
    prop = store.get_proposal(proposal_id)
    if prop is None:
        raise StoreError(f"Unknown proposal {proposal_id!r}.", "Refresh the list; it may have been removed.")
    desktop = prop["desktop"]
    fid = feedback_id_for(proposal_id)
    if prop["status"] != "pending":
        return FeedbackOutcome(proposal_id, fid, verdict, desktop, False, prop["status"])
    stored = store.add_feedback(fid, proposal_id, verdict, desktop, now)
    return FeedbackOutcome(proposal_id, fid, verdict, desktop, stored)


class FeedbackPublisher(Protocol):
    """Sends a verdict to the hub on ``proactive/v1/<desktop>/feedback``, as a companion does.

    Used from the UI thread only (the relay's outbox lives in the store); `pump` is
    called about four times a second.
    """

    @property
    def connected(self) -> bool: ...

    @property
    def hub_online(self) -> bool: ...

    def describe(self) -> str: ...

    def publish_feedback(self, *, desktop: str, proposal_id: str, verdict: str, now: float) -> str: ...

    def start(self) -> None: ...

    def pump(self) -> None: ...

    def close(self) -> None: ...


class RelayFeedback:
    """`FeedbackPublisher` over `edge.relay`: the companion's payload, topic and outbox.

    The dashboard connects as its own client (``dashboard-<desktop>``) and
    follows the hub's retained status. While the hub is online, verdicts go over
    MQTT and the hub records them (and adapts, and carries out accepted tasks);
    otherwise the dashboard writes them to the store itself.
    """

    def __init__(self, relay_module: Any, relay: Any) -> None:
        self.mod = relay_module
        self.relay = relay
        self.hub_state = "unknown"
        relay.subscribe(relay_module.HUB_STATUS, self._hub_status, dedupe=False)

    def _hub_status(self, desktop: str, kind: str, payload: dict[str, Any]) -> None:
        self.hub_state = str(payload.get("state", "unknown"))

    @property
    def connected(self) -> bool:
        return bool(self.relay.connected)

    @property
    def hub_online(self) -> bool:
        return self.connected and self.hub_state == "online"

    def describe(self) -> str:
        if not self.relay.connected:
            err = getattr(self.relay, "last_error", "") or "not connected"
            return f"MQTT broker unreachable ({err}): answers are saved in the store only."
        if self.hub_state != "online":
            return f"Hub is {self.hub_state} on the broker: answers are saved in the store only."
        return "Answers go to the hub over MQTT."

    def publish_feedback(self, *, desktop: str, proposal_id: str, verdict: str, now: float) -> str:
        payload = self.mod.feedback_payload(proposal_id, desktop, verdict, now)
        self.relay.publish(self.mod.topic(desktop, "feedback"), payload, peer=self.mod.HUB)
        return str(payload["id"])

    def start(self) -> None:
        self.relay.start()

    def pump(self) -> None:
        self.relay.pump(0)

    def close(self) -> None:
        self.relay.close()


@dataclass
class Optional_:
    """An optional part: the object when available, else None and what to tell the user."""

    value: Any
    note: str

    @property
    def available(self) -> bool:
        return self.value is not None


def _module(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            return None
        raise


def dashboard_name(settings: Any) -> str:
    """The dashboard's MQTT name: never a real desktop's, so its status and will touch no one else."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(getattr(settings, "desktop", "") or "hub")).strip("-.")
    return f"dashboard-{base or 'hub'}"[:64]


def load_relay(settings: Any, store: Store, clock: Clock) -> Optional_:
    """The relay publisher when ``edge.relay`` is installed (not yet started), else a note why not."""
    try:
        mod = _module("edge.relay")
    except Exception as e:  # a broken relay module must not stop the dashboard
        return Optional_(None, f"The MQTT relay failed to load ({e}); answers are saved in the store only.")
    if mod is None or not hasattr(mod, "make_relay"):
        return Optional_(
            None, "MQTT relay not installed (edge/relay.py): answers are saved in the store only."
        )
    try:
        # A client id set for the hub must not be reused: two clients with one id evict each other.
        own = settings.model_copy(update={"relay": settings.relay.model_copy(update={"client_id": ""})})
        relay = mod.make_relay(own, store, "desktop", dashboard_name(settings), clock)
    except EdgeError as e:
        return Optional_(None, f"{e.msg} Answers are saved in the store only. {e.hint}".strip())
    return Optional_(RelayFeedback(mod, relay), "")


# ------------------------------------------------------------------ memory


@dataclass(frozen=True)
class MemoryHit:
    id: str
    kind: str
    text: str
    score: float | None
    created_at: float | None


@dataclass(frozen=True)
class Reflection:
    id: str
    text: str
    created_at: float | None
    cites: list[MemoryHit] = field(default_factory=list)


class MemoryBackend(Protocol):
    """What the Memory screen needs from the memory stream. Raises `EdgeError` subclasses."""

    def search(self, query: str, k: int = 20) -> list[MemoryHit]: ...

    def reflections(self, limit: int = 20) -> list[Reflection]: ...

    def forget(self, match: str) -> int:
        """Delete every record whose text contains ``match``; return how many went."""
        ...

    def close(self) -> None: ...


def _hit(m: Any, score: float | None = None) -> MemoryHit:
    return MemoryHit(str(m.id), str(m.kind), str(m.text), score, m.created_at)


class StreamMemory:
    """`MemoryBackend` over `edge.memory.stream.MemoryStream` (UI thread only, like the store)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def search(self, query: str, k: int = 20) -> list[MemoryHit]:
        # touch=False: browsing from the dashboard is not the agent recalling, so recency is left alone.
        return [_hit(r.memory, r.scored.score) for r in self.stream.retrieve(query, k, touch=False)]

    def reflections(self, limit: int = 20) -> list[Reflection]:
        db = self.stream.db
        newest = [m.id for m in reversed(db.latest(limit, kinds=["reflection"]))]
        full = db.get(newest)  # `latest` leaves out citations; `get` has them
        refl = [full[i] for i in newest if i in full]
        cited = db.get(sorted({c for r in refl for c in r.cites}))
        return [
            Reflection(str(r.id), r.text, r.created_at, [_hit(cited[c]) for c in r.cites if c in cited])
            for r in refl
        ]

    def forget(self, match: str) -> int:
        return len(self.stream.forget(match=match))

    def close(self) -> None:
        self.stream.close()


MEMORY_ABSENT = (
    "Memory is not available: edge/memory (search, reflections, forget) is not installed in this "
    "build. The Live and History screens show the raw observations."
)


def open_stream_memory(settings: Any, store: Store, clock: Clock, embedder: Any = None) -> Optional_:
    """The memory stream over ``store`` via `edge.memory.open_memory` (UI thread: it shares the
    store's connection). ``embedder`` None loads the shipped ONNX model (about 0.3 s)."""
    try:
        mod = _module("edge.memory")
    except Exception as e:
        return Optional_(None, f"The memory module failed to load ({e}).")
    if mod is None or not hasattr(mod, "open_memory"):
        return Optional_(None, MEMORY_ABSENT)
    try:
        return Optional_(StreamMemory(mod.open_memory(settings, store, clock, embedder=embedder)), "")
    except ModuleNotFoundError as e:
        return Optional_(None, f"{MEMORY_ABSENT} ({e})")
    except EdgeError as e:
        return Optional_(None, f"{e.msg} {e.hint}".strip())


# ------------------------------------------------------------------ health


@dataclass(frozen=True)
class Health:
    name: str
    ok: bool
    detail: str
    hint: str = ""


HealthFn = Callable[[], list[Health]]


def _guarded(name: str, fn: Callable[[], Any]) -> Health:
    try:
        c = fn()
    except EdgeError as e:
        return Health(name, False, e.msg, e.hint)
    except Exception as e:
        return Health(
            name, False, f"check failed: {type(e).__name__}: {e}", "Run `proactive doctor` for details."
        )
    return Health(c.name, c.ok, c.detail, c.hint)


def doctor_health(settings: Any) -> list[Health]:
    """`edge.doctor` checks, each guarded, plus broker and reward presence. Blocking: use a thread."""
    from edge import doctor

    try:
        checks = [Health(c.name, c.ok, c.detail, c.hint) for c in doctor.run_checks(settings)]
    except Exception:
        checks = [
            _guarded("model", lambda: doctor.check_model(settings)),
            _guarded("data directory", doctor.check_data_dir),
            _guarded("activitywatch", lambda: doctor.check_activitywatch(settings)),
        ]
    names = {c.name for c in checks}
    # The broker and the hub are reported by the dashboard's own relay connection (see the app).
    if not _present("edge.relay") and not any("broker" in n or "mqtt" in n for n in names):
        checks.append(_broker_presence())
    if not any("reward" in n for n in names):
        checks.append(_reward_presence())
    return checks


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _broker_presence() -> Health:
    if _present("edge.relay"):
        return Health("broker", True, "relay module installed (not probed)")
    return Health(
        "broker",
        False,
        "MQTT relay not installed: desktops get no proposals or feedback",
        "Until edge/relay.py lands, answer proposals here; they are saved in the store.",
    )


def _reward_presence() -> Health:
    if _present("edge.reward"):
        return Health("reward model", True, "reward gate module installed")
    return Health(
        "reward model",
        False,
        "no reward gate: the LLM is asked on every event",
        "Train one with `proactive reward train --data ROWS.jsonl --out models/reward.onnx`.",
    )


def unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for i in items:
        seen.setdefault(i, None)
    return list(seen)
