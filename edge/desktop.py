"""The desktop companion (``proactive desktop --name NAME``).

It runs on each desktop: forwards the local ActivityWatch observations to the
hub over the relay, shows each proposal (a native notification with Accept and
Reject buttons, or on the console with ``--console``), and publishes the
answer. No answer before the proposal's ``expires_at`` is sent as ``ignored``.
Results of accepted proposals are shown when the hub publishes them. A
proposal shows what it is about (its anchor: the search query, error, file...)
when the hub says; one from an older hub, without an anchor, is shown without.

`build_companion` is the companion process's one composition root: store,
UI, local source and relay are built here from `Settings` and handed to
`Companion`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

from edge.clock import Clock, SystemClock
from edge.config import Settings, store_path
from edge.errors import EdgeError, SourceError
from edge.mqtt.client import make_relay
from edge.mqtt.links import DesktopLink
from edge.mqtt.payloads import anchor_of
from edge.mqtt.relay import Relay
from edge.mqtt.topics import check_name
from edge.ports import ActivitySource
from edge.records import Anchor, Observation
from edge.sources.activitywatch import ActivityWatchSource
from edge.sources.trace import TraceSource, load_trace
from edge.store import Store

log = logging.getLogger(__name__)

KEYS = {"a": "accepted", "r": "rejected", "i": "ignored"}
KIND_WORDS = {"query": "search query"}  # an anchor kind as a proposal line names it; else the kind
ANCHOR_SHOWN = 80  # characters of the anchor's text shown with a proposal


def about(anchor: Anchor) -> str:
    """What a proposal is about, in words: ``the search query 'pandas groupby'``."""
    text = " ".join(anchor.text.split())
    if len(text) > ANCHOR_SHOWN:
        text = text[: ANCHOR_SHOWN - 1] + "…"
    return f"the {KIND_WORDS.get(anchor.kind, anchor.kind)} '{text}'"


def notification(proposal: dict[str, Any]) -> tuple[str, str]:
    """The title and message of a proposal's notification: the task, what the assistant would say,
    and what it is about when the payload says."""
    anchor = anchor_of(proposal)
    message = proposal.get("response") or proposal["task"]
    if anchor is not None:
        message += f"\n(about {about(anchor)})"
    return f"Help: {proposal['task']}"[:120], message


class ProposalUI(Protocol):
    """Shows proposals and results; ``poll`` returns the answers given since the last call."""

    def show_proposal(self, proposal: dict[str, Any], now: float) -> None: ...

    def show_result(self, result: dict[str, Any]) -> None: ...

    def show_expired(self, proposal: dict[str, Any]) -> None: ...

    def poll(self) -> list[tuple[str, str]]: ...

    def close(self) -> None: ...


class ConsoleUI:
    """Proposals printed to ``out``; answers typed on ``inp`` as ``a``, ``r`` or ``i``.

    A key answers the newest open proposal; ``a ID`` (any prefix of the id)
    answers a specific one. Reading happens in a daemon thread.
    """

    def __init__(self, out: TextIO | None = None, inp: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._lines: queue.Queue[str] = queue.Queue()
        self._open: list[str] = []
        src = inp or sys.stdin
        threading.Thread(target=self._read, args=(src,), name="console-keys", daemon=True).start()

    def _read(self, src: TextIO) -> None:
        for line in src:
            self._lines.put(line)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def show_proposal(self, proposal: dict[str, Any], now: float) -> None:
        pid = proposal["id"]
        self._open.append(pid)
        left = max(0, round(proposal["expires_at"] - now))
        anchor = anchor_of(proposal)
        where = "" if anchor is None else f"about: {about(anchor)}; "
        keys = f"{where}a=accept r=reject i=ignore; expires in {left} s"
        self.say(f"[proposal {pid}] {proposal['task']}  ({keys})")
        if proposal.get("response"):
            self.say(f"    {proposal['response']}")

    def show_result(self, result: dict[str, Any]) -> None:
        self.say(f"[result {result['proposal_id']}] ({result['kind']})")
        for line in (result.get("text") or "").splitlines() or [""]:
            self.say(f"    {line}")

    def show_expired(self, proposal: dict[str, Any]) -> None:
        self._forget(proposal["id"])
        self.say(f"[expired {proposal['id']}] no answer: counted as ignored")

    def _forget(self, pid: str) -> None:
        if pid in self._open:
            self._open.remove(pid)

    def poll(self) -> list[tuple[str, str]]:
        answers: list[tuple[str, str]] = []
        while True:
            try:
                line = self._lines.get_nowait().strip()
            except queue.Empty:
                return answers
            if not line:
                continue
            key, _, ref = line.partition(" ")
            verdict = KEYS.get(key.lower())
            if verdict is None:
                self.say(f"? type a (accept), r (reject) or i (ignore), not {line!r}")
                continue
            match = [p for p in self._open if p.startswith(ref.strip())] if ref.strip() else self._open[-1:]
            if not match:
                self.say("? no open proposal to answer")
                continue
            self._forget(match[-1])
            answers.append((match[-1], verdict))
            self.say(f"[{verdict} {match[-1]}]")

    def close(self) -> None:
        pass


class NotifierUI:
    """Native notifications with Accept/Reject buttons via ``desktop-notifier`` (its own asyncio thread).

    Raises `EdgeError` from the constructor when no notification service is
    available (no D-Bus session on Linux, library missing), so the caller can
    fall back to the console.
    """

    def __init__(self, app_name: str = "proactive-edge") -> None:
        try:
            from desktop_notifier import DesktopNotifier  # noqa: PLC0415 -- the optional `desktop` extra
        except ImportError as e:
            raise EdgeError("desktop-notifier is not installed.", "pip install desktop-notifier") from e
        if sys.platform.startswith("linux") and not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            raise EdgeError(
                "No D-Bus session bus, so no notification server.", "Run inside a desktop session."
            )
        self._answers: queue.Queue[tuple[str, str]] = queue.Queue()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="notifier", daemon=True)
        self._thread.start()
        self._notifier = DesktopNotifier(app_name=app_name)
        if sys.platform.startswith("linux"):
            ok = self._run(self._has_server(), 5.0)
            if not ok:
                self.close()
                raise EdgeError("No notification server on the D-Bus session.", "Start a desktop session.")

    def _run(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @staticmethod
    async def _has_server() -> bool:
        try:
            from dbus_fast import Message  # noqa: PLC0415 -- comes with the optional `desktop` extra
            from dbus_fast.aio import MessageBus  # noqa: PLC0415

            bus = await MessageBus().connect()
            reply = await bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="NameHasOwner",
                    signature="s",
                    body=["org.freedesktop.Notifications"],
                )
            )
            bus.disconnect()
            return bool(reply is not None and reply.body and reply.body[0])
        except Exception:
            return False

    def show_proposal(self, proposal: dict[str, Any], now: float) -> None:
        from desktop_notifier import Button  # noqa: PLC0415 -- the optional `desktop` extra

        pid = proposal["id"]

        def answer(verdict: str) -> Callable[[], None]:
            return lambda: self._answers.put((pid, verdict))

        ttl = max(1, int(proposal["expires_at"] - now))
        title, message = notification(proposal)
        coro = self._notifier.send(
            title=title,
            message=message,
            buttons=[
                Button("Accept", on_pressed=answer("accepted")),
                Button("Reject", on_pressed=answer("rejected")),
            ],
            timeout=ttl,
        )
        asyncio.run_coroutine_threadsafe(coro, self._loop)

    def show_result(self, result: dict[str, Any]) -> None:
        coro = self._notifier.send(
            title=f"Done: {result.get('task') or result['kind']}"[:120], message=result["text"]
        )
        asyncio.run_coroutine_threadsafe(coro, self._loop)

    def show_expired(self, proposal: dict[str, Any]) -> None:
        pass

    def poll(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        while True:
            try:
                out.append(self._answers.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(2)


class Companion:
    """One desktop's companion: source -> activity out; proposal in -> UI -> feedback out."""

    def __init__(
        self,
        name: str,
        relay: Relay,
        clock: Clock,
        ui: ProposalUI,
        source: ActivitySource | None = None,
        poll_interval_s: float = 10.0,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.relay = relay
        self.clock = clock
        self.ui = ui
        self.source = source
        self.poll_interval_s = poll_interval_s
        self.on_note = on_note or (lambda msg: log.warning("%s", msg))
        self.pending: dict[str, dict[str, Any]] = {}
        self.answered: list[tuple[str, str]] = []
        self.results: list[dict[str, Any]] = []
        self.forwarded = 0
        self.link = DesktopLink(relay, name, clock, self._proposal, self._result)
        self._next_poll = 0.0
        self._source_warned = False

    def _proposal(self, p: dict[str, Any]) -> None:
        now = self.clock.now()
        if p["expires_at"] <= now:
            log.info("companion: proposal %s arrived expired; not shown", p["id"])
            return
        self.pending[p["id"]] = p
        self.ui.show_proposal(p, now)

    def _result(self, r: dict[str, Any]) -> None:
        self.results.append(r)
        self.ui.show_result(r)

    def answer(self, proposal_id: str, verdict: str) -> bool:
        """Publish the verdict for an open proposal; False when it is not open any more."""
        if self.pending.pop(proposal_id, None) is None:
            return False
        self.link.send_feedback(proposal_id, verdict)
        self.answered.append((proposal_id, verdict))
        return True

    def forward(self, observations: list[Observation]) -> None:
        for obs in observations:
            self.link.send_activity(obs)
            self.forwarded += 1

    def step(self, timeout: float = 0.2) -> None:
        """One round: relay events, answers typed or clicked, expiries, the local source."""
        self.relay.pump(timeout)
        for pid, verdict in self.ui.poll():
            self.answer(pid, verdict)
        now = self.clock.now()
        for pid, p in list(self.pending.items()):
            if p["expires_at"] <= now:
                self.answer(pid, "ignored")
                self.ui.show_expired(p)
        if self.source is not None and not self.source.exhausted and time.monotonic() >= self._next_poll:
            try:
                got = self.source.fetch()
                self._source_warned = False
                self.forward(got)
                if not got:
                    self._next_poll = time.monotonic() + self.poll_interval_s
            except SourceError as e:
                if not self._source_warned:
                    self.on_note(f"{e.msg} Retrying every {self.poll_interval_s:.0f} s.")
                    self._source_warned = True
                self._next_poll = time.monotonic() + self.poll_interval_s
        self.relay.pump(0)

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        self.relay.start()
        try:
            while not should_stop():
                self.step(0.2)
        finally:
            self.relay.flush(2.0)
            self.relay.close()
            self.ui.close()


def activitywatch_source(
    settings: Settings, name: str, store: Store, clock: Clock
) -> tuple[ActivitySource | None, str]:
    """The local ActivityWatch source for this desktop, or None with the reason."""
    local = settings.model_copy(update={"desktop": name})
    try:
        src: ActivitySource = ActivityWatchSource(local, store, clock)
    except EdgeError as e:
        return None, f"ActivityWatch unavailable ({e.msg}): forwarding nothing."
    return src, ""


class PacedTrace:
    """A trace source that gives one event per ``interval`` seconds, attributed to ``name`` (demos, tests)."""

    def __init__(self, path: Path, name: str, interval: float) -> None:
        self.inner = TraceSource(load_trace(path, desktop=name))
        self.name = self.inner.name
        self.interval = interval
        self._next = 0.0

    def fetch(self) -> list[Observation]:
        if time.monotonic() < self._next:
            return []
        self._next = time.monotonic() + self.interval
        return self.inner.fetch()

    def commit(self) -> None:
        self.inner.commit()

    @property
    def exhausted(self) -> bool:
        return self.inner.exhausted


def make_ui(console: bool, on_note: Callable[[str], None]) -> ProposalUI:
    """Native notifications, or the console when asked for or when there is no notification service."""
    if console:
        return ConsoleUI()
    try:
        return NotifierUI()
    except EdgeError as e:
        on_note(f"Notifications unavailable ({e.msg}); showing proposals on the console (a/r/i + Enter).")
        return ConsoleUI()


def build_companion(
    settings: Settings,
    name: str,
    *,
    console: bool = False,
    trace: Path | None = None,
    trace_interval: float = 1.0,
    on_note: Callable[[str], None] | None = None,
) -> Companion:
    """The companion for desktop ``name``: its store, UI, local source (a trace or ActivityWatch), relay.

    Raises `RelayError` for a name that cannot be a topic level, `StoreError`
    when the data directory is unusable.
    """
    note = on_note or (lambda msg: log.warning("%s", msg))
    name = check_name(name)
    clock = SystemClock()
    store = Store.open(store_path())
    ui = make_ui(console, note)
    source: ActivitySource | None
    if trace is not None:
        source = PacedTrace(trace, name, trace_interval)
    else:
        source, why = activitywatch_source(settings, name, store, clock)
        if why:
            note(why)
    relay = make_relay(settings, store, "desktop", name, clock)
    return Companion(
        name,
        relay,
        clock,
        ui,
        source=source,
        poll_interval_s=trace_interval if trace is not None else settings.activitywatch.poll_interval_s,
        on_note=note,
    )
