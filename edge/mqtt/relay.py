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

An id is recorded in the inbox when its message is dispatched, except for a
subscription made with ``confirm=True``, whose handler only takes the message
in (the hub's activity: queued to be decided later): its id is recorded when
the subscriber calls `RelayCore.handled`, and meanwhile a redelivery is a
duplicate only for this process. So a process killed between taking a
message in and handling it gets it again from its sender after a restart
(the sender resends what it sent recently when the receiver comes back
online), instead of dropping the resend as already seen.

Threads: a transport (paho's network thread) only posts events to the core's
queue (`RelayCore.post_message`, `post_ack`, `post_connected`); every handler,
every store write and the outbox run on the thread that calls `Relay.pump`
(the hub's main loop), because the store's SQLite connection and the LLM are
single-threaded.

Bounds: nothing a peer sends can grow the hub's memory without limit. A
message over `MAX_PAYLOAD` bytes is dropped in the transport's callback,
before it is queued; the event queue holds at most ``max_queue_messages``
messages and ``max_queue_bytes`` bytes of payload, and when either is reached
the *newest* message is refused (dropped and counted): what is already
queued is kept, in order, so a flood cannot evict the feedback or activity
that arrived before it, and the queue never needs to be searched. Acks and
connection events are never refused. Every drop (oversized, queue full, a
topic whose desktop level is no desktop name, an invalid payload, a failing
handler) is counted by reason, logged in one line (at most
`DROP_LOG_PER_MINUTE` lines a minute; the rest are counted only), and the
counts are saved in the store (`edge.store.relay.save_inbound_stats`) for
``proactive status`` and the dashboard.
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
from edge.mqtt.payloads import MAX_PAYLOAD, SCHEMA, PayloadError, TopicNameError, decode
from edge.store import Store
from edge.store.relay import Inbox, Outbox, save_inbound_stats

log = logging.getLogger(__name__)

Handler = Callable[[str, str, dict[str, Any]], None]
"""A subscription handler: ``(desktop, kind, payload)``; runs on the pumping thread."""

TopicMatcher = Callable[[str, str], bool]
"""``matches(topic_filter, topic)``: MQTT wildcard matching (`edge.mqtt.client.topic_matches`)."""

MAX_QUEUE_MESSAGES = 2000
"""Messages waiting for `Relay.pump` at most (the hub may be busy in an LLM call meanwhile)."""
MAX_QUEUE_BYTES = 8 * 1024 * 1024
"""Payload bytes waiting for `Relay.pump` at most (32 messages of `MAX_PAYLOAD`, thousands of real ones)."""
DROP_REASONS = ("oversized", "queue_full", "name", "invalid", "handler")
"""Why an inbound message was dropped: over `MAX_PAYLOAD`; the queue was full; the topic's desktop
level is no desktop name; the payload fails its schema; the handler failed on it."""
DROP_LOG_PER_MINUTE = 60
"""Drop log lines per relay and minute; past that, drops are counted and one line says so."""
STATS_SAVE_S = 1.0
"""The drop counts are saved to the store at most this often (and when the relay closes)."""


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

    def subscribe(
        self, topic_filter: str, handler: Handler, dedupe: bool = True, confirm: bool = False
    ) -> None: ...

    def handled(self, msg_id: str) -> None: ...

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

    def inbound_stats(self) -> dict[str, Any]: ...

    def save_stats(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class Subscription:
    topic_filter: str
    handler: Handler
    dedupe: bool
    confirm: bool = False


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
        max_queue_messages: int = MAX_QUEUE_MESSAGES,
        max_queue_bytes: int = MAX_QUEUE_BYTES,
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
        self.max_queue_messages = max_queue_messages
        self.max_queue_bytes = max_queue_bytes
        self.drops: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self.last_drop = ""
        self.last_drop_at: float | None = None
        self.peak_queued_bytes = 0
        self._events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._unconfirmed: dict[str, str] = {}  # id -> topic: taken in, not yet `handled`
        self._inflight: dict[int, str] = {}
        self._connected = threading.Event()
        self._lock = threading.Lock()  # the counters below are touched by the transport's thread too
        self._queued_messages = 0
        self._queued_bytes = 0
        self._log_window = (0.0, 0)
        self._saved_dropped = 0
        self._next_save = 0.0

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

    def post_message(self, t: str, data: bytes) -> bool:
        """A message arrived on ``t``; it is decoded and dispatched by the next `pump`.

        Returns False when it was dropped instead: over `MAX_PAYLOAD` bytes, or
        the queue is full in messages or bytes (the newest is refused, see the
        module doc). Both are counted and logged."""
        n = len(data)
        if n > MAX_PAYLOAD:
            self.count_drop("oversized", t, f"payload of {n} bytes is over {MAX_PAYLOAD}")
            return False
        with self._lock:
            full = (
                self._queued_messages >= self.max_queue_messages
                or self._queued_bytes + n > self.max_queue_bytes
            )
            if not full:
                self._queued_messages += 1
                self._queued_bytes += n
                self.peak_queued_bytes = max(self.peak_queued_bytes, self._queued_bytes)
        if full:
            self.count_drop(
                "queue_full",
                t,
                f"inbound queue full ({self.max_queue_messages} messages / {self.max_queue_bytes} bytes); "
                "newest refused",
            )
            return False
        self._events.put(("message", t, data))
        return True

    def count_drop(self, reason: str, t: str, why: str) -> None:
        """Count an inbound message dropped for ``reason`` (one of `DROP_REASONS`) and log it (any thread)."""
        now = time.monotonic()
        with self._lock:
            self.drops[reason] = self.drops.get(reason, 0) + 1
            self.dropped += 1
            self.last_drop = f"{reason}: {why}"
            self.last_drop_at = self.clock.now()
            start, lines = self._log_window
            if now - start >= 60.0:
                start, lines = now, 0
            self._log_window = (start, lines + 1)
        if lines < DROP_LOG_PER_MINUTE:
            log.warning("relay %s: dropped message on %r (%s): %s", self.owner, t[:200], reason, why)
        elif lines == DROP_LOG_PER_MINUTE:
            log.warning(
                "relay %s: more than %d messages dropped this minute; the rest are counted, not logged "
                "(`proactive status`)",
                self.owner,
                DROP_LOG_PER_MINUTE,
            )

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

    def subscribe(
        self, topic_filter: str, handler: Handler, dedupe: bool = True, confirm: bool = False
    ) -> None:
        """Register ``handler`` for ``topic_filter`` (before `start`). ``dedupe`` drops repeated ids;
        ``confirm``: an id is recorded as seen only when `handled` is called (see the module doc)."""
        self.subscriptions.append(Subscription(topic_filter, handler, dedupe, confirm))

    def handled(self, msg_id: str) -> None:
        """A message of a ``confirm`` subscription is handled: record its id, so that a redelivery
        is a duplicate from now on, after a restart too. Unknown or recorded ids are ignored."""
        t = self._unconfirmed.pop(msg_id, None)
        if t is not None:
            self.inbox.first_time(msg_id, t, self.clock.now())

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
            self._save_stats_soon()
            return 0
        while True:
            self._handle(ev)
            n += 1
            try:
                ev = self._events.get_nowait()
            except queue.Empty:
                self._save_stats_soon()
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

    def inbound_stats(self) -> dict[str, Any]:
        """What came in: received, duplicates, drops by reason and the last one, the queue and its bounds."""
        with self._lock:
            return {
                "received": self.received,
                "duplicates": self.duplicates,
                "dropped": self.dropped,
                "drops": dict(self.drops),
                "last_drop": self.last_drop,
                "last_drop_at": self.last_drop_at,
                "queue": {
                    "messages": self._queued_messages,
                    "bytes": self._queued_bytes,
                    "peak_bytes": self.peak_queued_bytes,
                    "max_messages": self.max_queue_messages,
                    "max_bytes": self.max_queue_bytes,
                },
            }

    def stats(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "connected": self.connected,
            "connects": self.connects,
            **self.inbound_stats(),
            "outbox": self.outbox.counts(),
            "last_error": self.last_error,
        }

    def save_stats(self) -> None:
        """Save the inbound counts in the store now (the pumping thread; `pump` does it when they change)."""
        stats = self.inbound_stats()
        save_inbound_stats(self.store, self.owner, stats, self.clock.now())
        self._saved_dropped = stats["dropped"]
        self._next_save = time.monotonic() + STATS_SAVE_S

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
            with self._lock:
                self._queued_messages -= 1
                self._queued_bytes -= len(ev[2])
            self._dispatch(ev[1], ev[2])

    def _save_stats_soon(self) -> None:
        if self.dropped != self._saved_dropped and time.monotonic() >= self._next_save:
            self.save_stats()

    def _dispatch(self, t: str, raw: bytes) -> None:
        subs = [s for s in self.subscriptions if self.matches(s.topic_filter, t)]
        if not subs:
            return
        try:
            desktop, kind, payload = decode(t, raw)
        except TopicNameError as e:
            self.count_drop("name", t, str(e))
            return
        except PayloadError as e:
            self.count_drop("invalid", t, str(e))
            return
        self.received += 1
        msg_id = payload["id"]
        if any(s.dedupe for s in subs) and not self._first_time(msg_id, t, any(s.confirm for s in subs)):
            self.duplicates += 1
            subs = [s for s in subs if not s.dedupe]
        for s in subs:
            try:
                s.handler(desktop, kind, payload)
            except PayloadError as e:
                self.count_drop("invalid", t, str(e))
                self.handled(msg_id)
            except Exception as e:  # a handler bug must not take the hub down
                log.exception("relay %s: handler for %s failed", self.owner, t)
                self.count_drop("handler", t, f"{type(e).__name__}: {e}"[:300])
                self.handled(msg_id)

    def _first_time(self, msg_id: str, t: str, confirm: bool) -> bool:
        """True for an id neither recorded nor waiting for `handled`. With ``confirm`` a new id waits
        (at most ``max_queue_messages`` of them: past that the oldest is recorded as it is)."""
        if msg_id in self._unconfirmed:
            return False
        if not confirm:
            return self.inbox.first_time(msg_id, t, self.clock.now())
        if self.inbox.seen(msg_id):
            return False
        self._unconfirmed[msg_id] = t
        if len(self._unconfirmed) > self.max_queue_messages:
            self.handled(next(iter(self._unconfirmed)))
        return True
