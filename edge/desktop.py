"""The desktop companion (``proactive desktop --name NAME``).

It runs on each desktop: forwards the local ActivityWatch observations to the
hub over the relay, shows each proposal (a native notification with Accept and
Reject buttons, or on the console with ``--console``), and publishes the
answer. No answer before the proposal's ``expires_at`` is sent as ``ignored``
(a notification closed without an answer too). Without a notification server
the native mode stops with `NotificationsUnavailable`: it never falls back to
the console silently.
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


class NotificationsUnavailable(EdgeError):
    """Native notifications cannot work here (no desktop session, no server, no buttons)."""

    title = "No notifications"


NO_NOTIFICATIONS_HINT = (
    "Run `proactive desktop --console` to answer on the terminal, or start it in a desktop session "
    "with a notification daemon running (e.g. dunst or your desktop's own)."
)
PROBE_TIMEOUT_S = 5.0  # a D-Bus-activated server (dunst, notification-daemon) starts within this


class NotifierUI:
    """Native notifications with Accept and Reject buttons via ``desktop-notifier`` (its own asyncio thread).

    The constructor asks the notification service what it can do and raises
    `NotificationsUnavailable` when it cannot show answerable proposals: the
    ``desktop`` extra missing, no D-Bus session bus (Linux), no server
    answering on it, or a service without buttons (e.g. macOS outside an app
    bundle). A notification closed without an answer leaves its proposal
    open: the companion counts it as ignored at ``expires_at``, when the
    notification is also withdrawn if it is still shown. Open notifications
    are withdrawn by `close`.
    """

    def __init__(self, app_name: str = "proactive-edge") -> None:
        try:
            from desktop_notifier import Capability, DesktopNotifier  # noqa: PLC0415 -- the optional `desktop` extra
        except ImportError as e:
            raise NotificationsUnavailable(
                "Native notifications need desktop-notifier, which is not installed.",
                "Install the desktop extra (.venv/bin/pip install -e '.[desktop]' in the checkout), "
                "or run `proactive desktop --console`.",
            ) from e
        if sys.platform.startswith("linux") and not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            raise NotificationsUnavailable(
                "No notification server: there is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset).",
                NO_NOTIFICATIONS_HINT,
            )
        self._answers: queue.Queue[tuple[str, str]] = queue.Queue()
        self._shown: dict[str, str] = {}  # proposal id -> notification id; touched in the loop thread only
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="notifier", daemon=True)
        self._thread.start()
        self._notifier = DesktopNotifier(app_name=app_name, app_icon=None)
        try:
            capabilities = self._run(self._notifier.get_capabilities(), PROBE_TIMEOUT_S)
        except Exception as e:  # dbus-fast's errors, OSError, TimeoutError: no server either way
            self._stop()
            reason = (str(e).splitlines() or [""])[0][:120] or type(e).__name__
            where = " on the D-Bus session" if sys.platform.startswith("linux") else ""
            raise NotificationsUnavailable(
                f"No notification server answers{where} ({reason}).", NO_NOTIFICATIONS_HINT
            ) from e
        if Capability.BUTTONS not in capabilities:
            self._stop()
            raise NotificationsUnavailable(
                "The notification service cannot show Accept/Reject buttons.", NO_NOTIFICATIONS_HINT
            )

    def _run(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _submit(self, coro: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop)

    def show_proposal(self, proposal: dict[str, Any], now: float) -> None:
        self._submit(self._show_proposal(proposal, max(1, int(proposal["expires_at"] - now))))

    async def _show_proposal(self, proposal: dict[str, Any], ttl: int) -> None:
        from desktop_notifier import Button  # noqa: PLC0415 -- the optional `desktop` extra

        pid = proposal["id"]

        def answer(verdict: str) -> Callable[[], None]:
            def pressed() -> None:
                self._shown.pop(pid, None)
                self._answers.put((pid, verdict))

            return pressed

        def closed() -> None:
            self._shown.pop(pid, None)
            log.info("notifier: proposal %s closed without an answer; ignored when it expires", pid)

        title, message = notification(proposal)
        self._shown[pid] = await self._notifier.send(
            title=title,
            message=message,
            buttons=[
                Button("Accept", on_pressed=answer("accepted")),
                Button("Reject", on_pressed=answer("rejected")),
            ],
            on_dismissed=closed,
            timeout=ttl,
        )

    def show_result(self, result: dict[str, Any]) -> None:
        title = f"Done: {result.get('task') or result['kind']}"[:120]
        self._submit(self._notifier.send(title=title, message=result.get("text") or ""))

    def show_expired(self, proposal: dict[str, Any]) -> None:
        self._submit(self._withdraw(proposal["id"]))

    async def _withdraw(self, pid: str) -> None:
        ident = self._shown.pop(pid, None)
        if ident is None:
            return
        try:
            await self._notifier.clear(ident)
        except Exception as e:  # already gone on the server's side: nothing to withdraw
            log.debug("notifier: withdrawing %s: %s", pid, e)

    async def _withdraw_all(self) -> None:
        for pid in list(self._shown):
            await self._withdraw(pid)

    def poll(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        while True:
            try:
                out.append(self._answers.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        """Withdraw the notifications still open (their buttons would answer nobody), stop the thread."""
        try:
            self._run(self._withdraw_all(), 2.0)
        except Exception as e:
            log.debug("notifier: withdrawing on close: %s", e)
        self._stop()

    def _stop(self) -> None:
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


def make_ui(console: bool) -> ProposalUI:
    """The console when asked for, else native notifications.

    There is no silent fallback: without a notification service this raises
    `NotificationsUnavailable` (one line and a hint; the CLI exits 2), since
    a companion nobody sees would turn every proposal into an "ignored".
    """
    return ConsoleUI() if console else NotifierUI()


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

    Raises `NotificationsUnavailable` when native notifications cannot work
    here and ``console`` is not set (checked first, before anything is
    opened), `RelayError` for a name that cannot be a topic level,
    `StoreError` when the data directory is unusable.
    """
    note = on_note or (lambda msg: log.warning("%s", msg))
    name = check_name(name)
    ui = make_ui(console)
    clock = SystemClock()
    store = Store.open(store_path())
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
