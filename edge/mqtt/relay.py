"""The `Relay` protocol and `RelayCore`, the part of every relay that does not depend on the transport.

Delivery: every outgoing message is first written to the outbox (table
``relay_outbox``, `edge.store.relay`), then published; it is marked sent only
when the broker acknowledges it (PUBACK), so whatever is queued while the
broker is down survives and is flushed on reconnect. A broker that restarts
loses what it had acknowledged but not yet delivered, so when a peer
announces ``online`` the sender publishes again what it sent that peer
recently and has not expired; receivers drop duplicates by ``id`` (the
``relay_inbox`` table), so redelivery is harmless. Malformed payloads are
dropped with a logged reason and counted.

Threads: a transport (paho's network thread) only posts events to the core's
queue (`RelayCore.post_message`, `post_ack`, `post_connected`); every handler,
every store write and the outbox run on the thread that calls `Relay.pump`
(the hub's main loop), because the store's SQLite connection and the LLM are
single-threaded.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from edge.clock import Clock
from edge.mqtt.payloads import SCHEMA, PayloadError, decode
from edge.store import Store
from edge.store.relay import Inbox, Outbox

log = logging.getLogger(__name__)

Handler = Callable[[str, str, dict[str, Any]], None]
"""A subscription handler: ``(desktop, kind, payload)``; runs on the pumping thread."""

TopicMatcher = Callable[[str, str], bool]
"""``matches(topic_filter, topic)``: MQTT wildcard matching (`edge.mqtt.client.topic_matches`)."""


class Relay(Protocol):
    """A client of the message bus with a durable outbox.

    ``publish`` never blocks on the network and never loses a message: it is
    written to the outbox and sent when connected. ``pump`` runs handlers and
    outbox bookkeeping and must be called regularly from one thread.
    ``start`` raises `RelayError` for settings that cannot work (bad TLS
    files); an unreachable broker is not an error (the relay retries).

    Real: `edge.mqtt.client.PahoRelay`; for unit tests `tests.doubles.MemoryRelay`.
    """

    owner: str
    dropped: int

    @property
    def connected(self) -> bool: ...

    def subscribe(self, topic_filter: str, handler: Handler, dedupe: bool = True) -> None: ...

    def publish(
        self,
        t: str,
        payload: dict[str, Any],
        *,
        retain: bool = False,
        peer: str = "",
        expires_at: float | None = None,
    ) -> None: ...

    def resend_to(self, peer: str) -> int: ...

    def start(self) -> None: ...

    def pump(self, timeout: float = 0.0) -> int: ...

    def wait_connected(self, timeout: float) -> bool: ...

    def flush(self, timeout: float) -> bool: ...

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass
class Subscription:
    topic_filter: str
    handler: Handler
    dedupe: bool


class RelayCore:
    """Outbox, inbox, event queue and dispatch; a subclass adds the transport (`_send`, `start`, `close`).

    ``status_topic`` is where this client announces itself; ``matches`` is
    the MQTT topic-filter matching the transport agrees with.
    """

    def __init__(
        self,
        store: Store,
        owner: str,
        clock: Clock,
        status_topic: str,
        role: str,
        matches: TopicMatcher,
        resend_window_s: float = 600.0,
    ) -> None:
        self.store = store
        self.owner = owner
        self.clock = clock
        self.role = role
        self.status_topic = status_topic
        self.matches = matches
        self.resend_window_s = resend_window_s
        self.outbox = Outbox(store, owner)
        self.inbox = Inbox(store, owner)
        self.dropped = 0
        self.received = 0
        self.duplicates = 0
        self.connects = 0
        self.last_error = ""
        self.subscriptions: list[Subscription] = []
        self._events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._inflight: dict[int, str] = {}
        self._connected = threading.Event()

    # transport hooks ------------------------------------------------------
    def _send(self, t: str, data: bytes, retain: bool) -> int | None:
        """Hand one message to the transport; its message id, or None when not connected."""
        raise NotImplementedError

    # the transport's side (any thread; enqueue only) ------------------------
    def wants(self, t: str) -> bool:
        """True when some subscription's filter matches topic ``t``."""
        return any(self.matches(s.topic_filter, t) for s in self.subscriptions)

    def set_connected(self, up: bool) -> None:
        """The transport is (or is no longer) connected; publishing goes to the outbox only meanwhile."""
        if up:
            self._connected.set()
        else:
            self._connected.clear()

    def post_message(self, t: str, data: bytes) -> None:
        """A message arrived on ``t``; it is decoded and dispatched by the next `pump`."""
        self._events.put(("message", t, data))

    def post_ack(self, mid: int) -> None:
        """The broker acknowledged the transport's message ``mid``."""
        self._events.put(("puback", mid))

    def post_connected(self) -> None:
        """A (re)connect finished (subscribed, status announced): the next `pump` flushes the outbox."""
        self._events.put(("connected",))

    # public ---------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def subscribe(self, topic_filter: str, handler: Handler, dedupe: bool = True) -> None:
        """Register ``handler`` for ``topic_filter`` (before `start`). ``dedupe`` drops repeated ids."""
        self.subscriptions.append(Subscription(topic_filter, handler, dedupe))

    def publish(
        self,
        t: str,
        payload: dict[str, Any],
        *,
        retain: bool = False,
        peer: str = "",
        expires_at: float | None = None,
    ) -> None:
        if payload.get("schema") != SCHEMA or not payload.get("id"):
            raise ValueError("payloads need schema and id")
        now = self.clock.now()
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        if self.outbox.put(str(payload["id"]), t, data, retain, peer, expires_at, now) and self.connected:
            self._transmit(str(payload["id"]), t, data, retain)

    def resend_to(self, peer: str) -> int:
        """Queue again, and send if connected, what went to ``peer`` within the resend window."""
        now = self.clock.now()
        n = self.outbox.requeue_peer(peer, now - self.resend_window_s, now)
        if n:
            log.info("relay %s: %d message(s) for %s queued again", self.owner, n, peer)
            if self.connected:
                self._flush_queued()
        return n

    def pump(self, timeout: float = 0.0) -> int:
        """Handle pending events; wait up to ``timeout`` s for the first one. Returns events handled."""
        n = 0
        try:
            ev = self._events.get(timeout=timeout) if timeout > 0 else self._events.get_nowait()
        except queue.Empty:
            return 0
        while True:
            self._handle(ev)
            n += 1
            try:
                ev = self._events.get_nowait()
            except queue.Empty:
                return n

    def flush(self, timeout: float) -> bool:
        """Pump until nothing is queued in the outbox; False when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump(0)
            if not self.outbox.counts().get("queued"):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.pump(min(0.05, left))

    def wait_connected(self, timeout: float) -> bool:
        """Pump until connected (and subscribed) or ``timeout``; True when connected."""
        deadline = time.monotonic() + timeout
        while not self.connected:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.pump(min(0.05, left))
        self.pump(0)
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "connected": self.connected,
            "connects": self.connects,
            "received": self.received,
            "duplicates": self.duplicates,
            "dropped": self.dropped,
            "outbox": self.outbox.counts(),
            "last_error": self.last_error,
        }

    # internals --------------------------------------------------------------
    def _transmit(self, msg_id: str, t: str, data: str, retain: bool) -> None:
        mid = self._send(t, data.encode("utf-8"), retain)
        if mid is not None:
            self._inflight[mid] = msg_id

    def _flush_queued(self) -> None:
        for m in self.outbox.queued(self.clock.now()):
            if not self.connected:
                return
            self._transmit(m.id, m.topic, m.payload, m.retain)

    def _handle(self, ev: tuple[Any, ...]) -> None:
        kind = ev[0]
        if kind == "puback":
            msg_id = self._inflight.pop(ev[1], None)
            if msg_id is not None:
                self.outbox.mark_sent(msg_id, self.clock.now())
        elif kind == "connected":
            self.connects += 1
            now = self.clock.now()
            self.outbox.prune(now - max(self.resend_window_s, 3600.0) * 2)
            self.inbox.prune(now - 7 * 86400.0)
            self._flush_queued()
        elif kind == "message":
            self._dispatch(ev[1], ev[2])

    def _dispatch(self, t: str, raw: bytes) -> None:
        subs = [s for s in self.subscriptions if self.matches(s.topic_filter, t)]
        if not subs:
            return
        try:
            desktop, kind, payload = decode(t, raw)
        except PayloadError as e:
            self.dropped += 1
            log.warning("relay %s: dropped message on %s: %s", self.owner, t, e)
            return
        self.received += 1
        if any(s.dedupe for s in subs) and not self.inbox.first_time(payload["id"], t, self.clock.now()):
            self.duplicates += 1
            subs = [s for s in subs if not s.dedupe]
        for s in subs:
            try:
                s.handler(desktop, kind, payload)
            except PayloadError as e:
                self.dropped += 1
                log.warning("relay %s: dropped message on %s: %s", self.owner, t, e)
            except Exception:  # a handler bug must not take the hub down
                self.dropped += 1
                log.exception("relay %s: handler for %s failed; message dropped", self.owner, t)
