"""The hub process's one composition root, and its run loop.

`Hub` builds every part from `Settings` once and hands each to the
constructor of the part that uses it: store, LLM, the shared MiniLM encoder,
reward gate, memory, agent and loop; when it serves the desktops
(``serve=True`` or an injected ``relay``) also the feedback manager, the MQTT
relay and its `HubLink`, the `RelaySink`, and the embedded broker when
``relay.broker = "embedded"``. Nothing is rewired afterwards: the loop gets
the feedback's adaptation as a callable, and the hub itself publishes the
results the feedback room returns.

Replay, demo, eval and the gym build a hub without the relay and call
``hub.loop.step(obs)``; ``proactive run`` serves with `Hub.start` and
`Hub.run`; tests inject a `tests.doubles.MemoryRelay`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from edge.agent import Agent
from edge.clock import Clock, SystemClock
from edge.config import Settings, store_path
from edge.encoder import OnnxEmbedder
from edge.errors import ConfigError, EdgeError, RelayError, SourceError
from edge.feedback import FeedbackManager
from edge.gate import make_reward_gate
from edge.llm import LLM, make_llm
from edge.loop import Loop
from edge.memory import open_memory
from edge.mqtt.broker import EmbeddedBroker
from edge.mqtt.client import make_relay
from edge.mqtt.links import HubLink, RelaySink
from edge.mqtt.payloads import result_payload
from edge.mqtt.relay import Relay
from edge.mqtt.topics import HUB
from edge.ports import ActivitySource, ContextProvider, Embedder, Gate, ProposalSink
from edge.records import Decision, Observation, VerdictApplied
from edge.similarity import make_similarity
from edge.sources.activitywatch import ActivityWatchSource
from edge.sources.trace import TraceSource, load_trace
from edge.store import Store
from edge.trigger.model import TriggerModel, load_trigger
from edge.trigger.runtime import Trigger

log = logging.getLogger(__name__)


class Hub:
    """Every part of the hub, built once from `Settings`; closes what it opened in `close`.

    ``db_path`` None uses the configured data directory; ``llm`` may be
    passed in (tests, benchmarks that share one loaded model). ``serve``
    builds the MQTT side (paho relay, and the embedded broker when
    configured); ``relay`` injects one instead (then no broker is started).
    Raises `ConfigError`, `ModelError`, `RelayError` or `StoreError` when a
    part cannot be built.
    """

    def __init__(
        self,
        settings: Settings,
        db_path: Path | None = None,
        clock: Clock | None = None,
        llm: LLM | None = None,
        sinks: Iterable[ProposalSink] = (),
        use_gate: bool = True,
        serve: bool = False,
        relay: Relay | None = None,
        trigger_model: TriggerModel | None = None,
    ) -> None:
        serving = serve or relay is not None
        self.settings = settings
        self.clock = clock or SystemClock()
        self.store = Store.open(db_path or store_path())
        self._own_llm = llm is None
        self.llm = llm or make_llm(settings.llm)
        # One MiniLM encoder in process, shared by the memory, the reward gate and the feedback.
        self.embedder: Embedder | None = None
        if use_gate or settings.memory.enabled:
            self.embedder = OnnxEmbedder(threads=settings.reward.threads)
        self.gate: Gate | None = make_reward_gate(settings.reward, self.embedder) if use_gate else None
        self.memory: ContextProvider | None = None
        if settings.memory.enabled:
            self.memory = open_memory(
                settings,
                self.store,
                self.clock,
                llm=self.llm,
                embedder=self.embedder,
                count_tokens=getattr(self.llm, "count_tokens", None),
            )
        # When to speak: the trigger (``trigger.enabled``), from the configured or the given model.
        self.trigger: Trigger | None = None
        if settings.trigger.enabled:
            model = trigger_model or load_trigger(settings.trigger.model_path)
            self.trigger = Trigger(model, settings.trigger.session_gap_s, settings.trigger.offset)
        self.similarity = make_similarity(self._similarity_embedder())
        self.feedback: FeedbackManager | None = None
        self.relay: Relay | None = None
        self.link: HubLink | None = None
        self.broker: EmbeddedBroker | None = None
        sinks = list(sinks)
        if serving:
            self.feedback = FeedbackManager(
                self.store,
                self.clock,
                settings.feedback,
                self.llm,
                memory=self.memory,
                similarity=self.similarity,
            )
            if relay is None:
                if settings.relay.broker == "embedded":
                    self.broker = EmbeddedBroker(settings.relay.host, settings.relay.port)
                relay = make_relay(settings, self.store, HUB, HUB, self.clock)
            self.relay = relay
            self.link = HubLink(relay, self.clock, on_feedback=self._on_feedback)
            sinks.append(RelaySink(self.link))
        self.agent = Agent(self.llm, window=settings.agent.window, max_tokens=settings.llm.max_tokens)
        self.loop = Loop(
            self.agent,
            self.clock,
            store=self.store,
            gate=self.gate,
            memory=self.memory,
            sinks=sinks,
            window=settings.agent.window,
            min_interval_s=settings.agent.min_interval_s,
            proposal_ttl_s=settings.relay.proposal_ttl_s,
            adaptation=self.feedback.adaptation if self.feedback is not None else None,
            trigger=self.trigger,
            similarity=self.similarity,
            veto_threshold=settings.reward.veto_threshold if use_gate else 0.0,
            repeat_window_s=settings.agent.repeat_window_s,
        )
        self._started = False

    def _similarity_embedder(self) -> Embedder | None:
        """The encoder for "similar task": the shared one, else its own, else none (Jaccard)."""
        if self.embedder is not None:
            return self.embedder
        try:
            return OnnxEmbedder()
        except EdgeError as e:  # the embedder is optional here: fall back, say why
            log.info("feedback: no embedder (%s); using token Jaccard similarity", e)
            return None

    # ------------------------------------------------------------ serving the desktops

    def _serving(self) -> tuple[Relay, HubLink, FeedbackManager]:
        if self.relay is None or self.link is None or self.feedback is None:
            raise RuntimeError("this hub was built without the relay (Hub(..., serve=True))")
        return self.relay, self.link, self.feedback

    def start(self, connect_timeout_s: float = 5.0) -> list[str]:
        """Start the embedded broker (if any) and the relay; return notes for the user.

        If the broker's port is already taken the hub uses whatever broker
        listens there and says so; a broker not reachable yet is a note too
        (proposals wait in the outbox); so is an embedded (anonymous) broker
        listening beyond loopback, which is also logged as a warning. Raises `RelayError` for settings that
        cannot work.
        """
        relay, _, _ = self._serving()
        notes: list[str] = []
        if self.broker is not None:
            try:
                self.broker.start()
            except RelayError as e:
                notes.append(f"{e.msg} Using the broker already listening there.")
            else:
                warning = self.broker.exposure_warning()
                if warning is not None:
                    log.warning("%s", warning)
                    notes.append(warning)
        relay.start()
        self._started = True
        if not relay.wait_connected(connect_timeout_s):
            r = self.settings.relay
            notes.append(
                f"Broker {r.host}:{r.port} not reachable yet; "
                "proposals wait in the outbox and the relay keeps retrying."
            )
        return notes

    def _on_feedback(self, payload: dict[str, Any]) -> None:
        _, _, feedback = self._serving()
        self._send_results([feedback.handle(payload)])

    def _send_results(self, applied: Iterable[VerdictApplied | None]) -> None:
        _, link, _ = self._serving()
        for a in applied:
            if a is not None and a.result is not None:
                r = a.result
                link.send_result(
                    result_payload(r.proposal_id, r.desktop, r.kind, r.text, r.created_at, r.task)
                )

    def tick(self, timeout: float = 0.2) -> list[Observation]:
        """Pump the relay (feedback is handled here), expire unanswered proposals, return new activity."""
        _, link, feedback = self._serving()
        obs = link.fetch(timeout)
        self._send_results(feedback.expire_pending())
        return obs

    def run(
        self,
        local_source: ActivitySource | None = None,
        on_decision: Callable[[Decision], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_source_error: Callable[[SourceError], None] | None = None,
        poll_interval_s: float = 10.0,
    ) -> int:
        """Serve until ``should_stop()``: activity relayed from every desktop plus ``local_source``.

        One observation is decided per round and the relay is pumped between
        rounds, so feedback is applied before the next decision even when
        activity arrives faster than the LLM answers. The local source is read
        again only once its previous batch is decided (a read commits what the
        previous one handed out), and on the way out, normal or not (Ctrl-C,
        SIGTERM), it is committed only when nothing it handed out is left
        undecided: what is left is read again at the next start, never lost.
        Relayed activity counts as handled only when its decision starts
        (`HubLink.deciding`): what is still queued when the hub stops, even
        by ``kill -9``, its desktop sends again when the hub is back online.
        A local source that hangs costs at most its own timeout per read
        (`ActivityWatchSource`); relayed activity is decided meanwhile. Source
        errors go to ``on_source_error`` (without one they propagate). Returns
        the number of observations decided.
        """
        _, link, _ = self._serving()
        n = 0
        next_poll = 0.0
        backlog: deque[tuple[bool, Observation]] = deque()  # (read from local_source, observation)
        local_pending = 0
        src = local_source
        try:
            while not should_stop():
                backlog.extend((False, o) for o in self.tick(0.0 if backlog else 0.2))
                if (
                    src is not None
                    and not local_pending
                    and not src.exhausted
                    and time.monotonic() >= next_poll
                ):
                    try:
                        got = src.fetch()
                        backlog.extend((True, o) for o in got)
                        local_pending += len(got)
                        if not got:
                            next_poll = time.monotonic() + poll_interval_s
                    except SourceError as e:
                        if on_source_error is None:
                            raise
                        on_source_error(e)
                        next_poll = time.monotonic() + poll_interval_s
                if backlog:
                    local, obs = backlog[0]
                    if not local:
                        link.deciding(obs)
                    d = self.loop.step(obs)
                    backlog.popleft()
                    local_pending -= local
                    n += 1
                    if on_decision is not None:
                        on_decision(d)
        finally:
            if src is not None and not local_pending:
                src.commit()
            elif local_pending:
                log.warning(
                    "%d observation(s) of %s not decided before the stop; read again at the next start",
                    local_pending,
                    getattr(src, "name", "the local source"),
                )
        return n

    def status(self) -> dict[str, Any]:
        """The relay's counters, the desktops seen, the broker, the feedback's state."""
        relay, link, feedback = self._serving()
        broker = self.broker
        return {
            "relay": relay.stats(),
            "desktops": link.desktops,
            "broker": broker.describe() if broker is not None and broker.running else "external",
            "feedback": {**feedback.status(), "similarity": feedback.similarity.name},
        }

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Flush and close the relay, stop the broker, write the memory's index, close the store."""
        if self.relay is not None and self._started:
            self.relay.flush(1.0)
            self.relay.close()
        if self.broker is not None:
            self.broker.stop()
        close_memory = getattr(self.memory, "close", None)
        if close_memory is not None:
            close_memory()  # writes the vector index file
        if self._own_llm:
            self.llm.close()
        self.store.close()

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_local_source(settings: Settings) -> ActivitySource:
    """The hub's own activity source from ``source.kind``: a trace file, or the local ActivityWatch.

    A trace is read and validated here, before any model loads. Raises
    `ConfigError` (no trace file set) or `SourceError` (a malformed trace).
    """
    if settings.source.kind == "trace":
        if settings.source.trace is None:
            raise ConfigError("source.kind is 'trace' but no trace file is set.", "Pass --trace FILE.")
        return TraceSource(load_trace(settings.source.trace, desktop=settings.desktop))
    return ActivityWatchSource(settings, Store.open(store_path()), SystemClock())
