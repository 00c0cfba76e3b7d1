"""The MQTT relay between the hub and the desktops: topics, payloads, outbox, reconnects.

Topics (QoS 1, UTF-8 JSON, every payload has ``"schema": 1`` and a unique ``"id"``)::

    proactive/v1/<desktop>/activity   desktop -> hub   one observation
    proactive/v1/<desktop>/proposal   hub -> desktop   a proposed task, with expires_at
    proactive/v1/<desktop>/feedback   desktop -> hub   accepted | rejected | ignored
    proactive/v1/<desktop>/result     hub -> desktop   the help written for an accepted task
    proactive/v1/<desktop>/status     desktop          retained online/offline (last will)
    proactive/v1/hub/status           hub              retained online/offline (last will)

Delivery: every outgoing message is first written to the ``relay_outbox``
table, then published; it is marked sent only when the broker acknowledges it
(PUBACK), so whatever is queued while the broker is down survives and is
flushed on reconnect. A broker that restarts loses what it had acknowledged but
not yet delivered, so when a peer announces ``online`` the sender publishes
again what it sent that peer recently and has not expired; receivers drop
duplicates by ``id`` (the ``relay_inbox`` table), so redelivery is harmless.
Malformed payloads are dropped with a logged reason and counted.

Threads: paho runs its network loop in its own thread and only enqueues
events; every handler, every store write and the outbox run on the thread that
calls `Relay.pump` (the hub's main loop), because the store's SQLite
connection and the LLM are single-threaded.

This is the only module that imports ``paho``.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from edge.clock import Clock, SystemClock
from edge.config import RelaySettings, Settings
from edge.errors import RelayError
from edge.records import Decision, Observation, observation_from_dict, observation_to_dict, stable_id
from edge.store import VERDICTS, Store

if TYPE_CHECKING:
    from edge.broker import EmbeddedBroker
    from edge.feedback import FeedbackManager
    from edge.hub import Hub
    from edge.ports import ActivitySource

log = logging.getLogger(__name__)

SCHEMA = 1
PREFIX = "proactive/v1"
HUB = "hub"
KINDS = ("activity", "proposal", "feedback", "result", "status")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_PAYLOAD = 256 * 1024

Handler = Callable[[str, str, dict[str, Any]], None]
"""A subscription handler: ``(desktop, kind, payload)``; runs on the pumping thread."""


# ---------------------------------------------------------------- topics


def check_name(name: str) -> str:
    """Return ``name`` if it can be a desktop's topic level, else raise `RelayError`."""
    if not NAME_RE.match(name) or name == HUB:
        raise RelayError(
            f"{name!r} cannot be a desktop name.",
            "Use letters, digits, '.', '_' or '-' (at most 64), not 'hub'.",
        )
    return name


def topic(desktop: str, kind: str) -> str:
    """``proactive/v1/<desktop>/<kind>``; ``desktop`` may be ``+`` in a subscription filter."""
    if kind not in KINDS:
        raise ValueError(f"unknown topic kind {kind!r}")
    return f"{PREFIX}/{desktop}/{kind}"


HUB_STATUS = f"{PREFIX}/{HUB}/status"


def split_topic(t: str) -> tuple[str, str] | None:
    """``(desktop, kind)`` for a topic of ours, else None. The hub's status gives ``("hub", "status")``."""
    parts = t.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != PREFIX or parts[3] not in KINDS:
        return None
    return parts[2], parts[3]


# ---------------------------------------------------------------- payloads


class PayloadError(ValueError):
    """A payload that does not follow schema 1; the message says why."""


def new_id() -> str:
    return uuid.uuid4().hex


def activity_payload(obs: Observation, now: float) -> dict[str, Any]:
    """An observation forwarded by a companion. ``id`` is the observation's stable id."""
    return {
        "schema": SCHEMA,
        "id": obs.id,
        "desktop": obs.desktop,
        "sent_at": now,
        "observation": observation_to_dict(obs),
    }


def proposal_payload(decision: Decision, created_at: float, expires_at: float) -> dict[str, Any]:
    """A proposal for the decision's desktop. ``id`` is the proposal id the loop assigned."""
    if not decision.proposed or decision.proposal_id is None or decision.task is None:
        raise ValueError("only a decision that proposes a task becomes a proposal payload")
    r = decision.response
    return {
        "schema": SCHEMA,
        "id": decision.proposal_id,
        "desktop": decision.observation.desktop,
        "task": decision.task,
        "response": r.response if r else "",
        "purpose": r.purpose if r else "",
        "score": decision.score,
        "event": decision.observation.text,
        "observation_id": decision.observation.id,
        "created_at": created_at,
        "expires_at": expires_at,
    }


def feedback_payload(proposal_id: str, desktop: str, verdict: str, now: float) -> dict[str, Any]:
    """The user's answer. One verdict per proposal: the id derives from the proposal, first one wins."""
    return {
        "schema": SCHEMA,
        "id": stable_id("feedback", proposal_id),
        "desktop": desktop,
        "proposal_id": proposal_id,
        "verdict": verdict,
        "at": now,
    }


def result_payload(
    proposal_id: str, desktop: str, kind: str, text: str, now: float, task: str = ""
) -> dict[str, Any]:
    """The help written for an accepted proposal (kind: answer, snippet, summary or checklist)."""
    return {
        "schema": SCHEMA,
        "id": stable_id("result", proposal_id),
        "desktop": desktop,
        "proposal_id": proposal_id,
        "task": task,
        "kind": kind,
        "text": text,
        "created_at": now,
    }


def status_payload(role: str, name: str, state: str, now: float) -> dict[str, Any]:
    return {"schema": SCHEMA, "id": new_id(), "role": role, "name": name, "state": state, "at": now}


_NUM = (int, float)
_REQUIRED: dict[str, dict[str, tuple[type, ...]]] = {
    "activity": {"desktop": (str,), "observation": (dict,)},
    "proposal": {"desktop": (str,), "task": (str,), "created_at": _NUM, "expires_at": _NUM},
    "feedback": {"desktop": (str,), "proposal_id": (str,), "verdict": (str,), "at": _NUM},
    "result": {"desktop": (str,), "proposal_id": (str,), "kind": (str,), "text": (str,)},
    "status": {"role": (str,), "state": (str,)},
}


def decode(t: str, raw: bytes) -> tuple[str, str, dict[str, Any]]:
    """Parse and validate one message: ``(desktop, kind, payload)``. Raises `PayloadError`."""
    where = split_topic(t)
    if where is None:
        raise PayloadError("not a proactive/v1 topic")
    desktop, kind = where
    if len(raw) > MAX_PAYLOAD:
        raise PayloadError(f"payload of {len(raw)} bytes is over {MAX_PAYLOAD}")
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PayloadError(f"not UTF-8 JSON ({e})") from e
    if not isinstance(payload, dict):
        raise PayloadError("not a JSON object")
    if payload.get("schema") != SCHEMA:
        raise PayloadError(f"schema {payload.get('schema')!r} is not {SCHEMA}")
    if not isinstance(payload.get("id"), str) or not payload["id"]:
        raise PayloadError("missing id")
    for name, types in _REQUIRED[kind].items():
        value = payload.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            raise PayloadError(f"field {name!r} missing or of the wrong type")
    if kind != "status" and payload["desktop"] != desktop:
        raise PayloadError(f"desktop {payload['desktop']!r} does not match the topic's {desktop!r}")
    if kind == "feedback" and payload["verdict"] not in VERDICTS:
        raise PayloadError(f"verdict {payload['verdict']!r} is not one of {', '.join(VERDICTS)}")
    if kind == "status" and payload["state"] not in ("online", "offline"):
        raise PayloadError(f"state {payload['state']!r} is not online/offline")
    if kind == "activity":
        obs = payload["observation"]
        if not isinstance(obs.get("text"), str) or not isinstance(obs.get("time"), str):
            raise PayloadError("observation needs text and time strings")
    return desktop, kind, payload


def observation_of(payload: dict[str, Any], desktop: str) -> Observation:
    """The `Observation` in an activity payload, attributed to the topic's desktop."""
    data = dict(payload["observation"])
    data["desktop"] = desktop
    try:
        return observation_from_dict(data)
    except TypeError as e:
        raise PayloadError(f"observation fields: {e}") from e


# ---------------------------------------------------------------- outbox / inbox


class Outbox:
    """Durable queue of outgoing messages in the store (table ``relay_outbox``), per owner."""

    def __init__(self, store: Store, owner: str) -> None:
        self.table = store.db.table("relay_outbox")
        self.owner = owner

    def put(
        self, msg_id: str, t: str, data: str, retain: bool, peer: str, expires_at: float | None, now: float
    ) -> bool:
        """Queue a message; False when this id is already known (then nothing changes)."""
        if self.table.count_where("owner = ? and id = ?", [self.owner, msg_id]):
            return False
        self.table.insert(
            {
                "owner": self.owner,
                "id": msg_id,
                "topic": t,
                "payload": data,
                "retain": int(retain),
                "peer": peer,
                "status": "queued",
                "created_at": now,
                "sent_at": None,
                "expires_at": expires_at,
            }
        )
        return True

    def queued(self, now: float) -> list[dict[str, Any]]:
        """Queued messages oldest first; expired ones are set aside (status ``expired``) and skipped."""
        self.table.db.execute(
            "update relay_outbox set status = 'expired' where owner = ? and status = 'queued' "
            "and expires_at is not null and expires_at <= ?",
            [self.owner, now],
        )
        return list(
            self.table.rows_where(
                "owner = ? and status = 'queued'", [self.owner], order_by="created_at, rowid"
            )
        )

    def mark_sent(self, msg_id: str, now: float) -> None:
        self.table.db.execute(
            "update relay_outbox set status = 'sent', sent_at = ? "
            "where owner = ? and id = ? and status = 'queued'",
            [now, self.owner, msg_id],
        )

    def requeue_peer(self, peer: str, since: float, now: float) -> int:
        """Queue again what was sent to ``peer`` after ``since`` and has not expired; return how many."""
        cur = self.table.db.execute(
            "update relay_outbox set status = 'queued' where owner = ? and peer = ? and status = 'sent' "
            "and sent_at >= ? and (expires_at is null or expires_at > ?)",
            [self.owner, peer, since, now],
        )
        return int(cur.rowcount)

    def prune(self, before: float) -> None:
        self.table.db.execute(
            "delete from relay_outbox where owner = ? and status != 'queued' and created_at < ?",
            [self.owner, before],
        )

    def counts(self) -> dict[str, int]:
        rows = self.table.db.execute(
            "select status, count(*) from relay_outbox where owner = ? group by status", [self.owner]
        ).fetchall()
        return {str(s): int(n) for s, n in rows}


class Inbox:
    """Ids already handled (table ``relay_inbox``), so a redelivered message is dropped."""

    def __init__(self, store: Store, owner: str) -> None:
        self.table = store.db.table("relay_inbox")
        self.owner = owner

    def first_time(self, msg_id: str, t: str, now: float) -> bool:
        cur = self.table.db.execute(
            "insert or ignore into relay_inbox (owner, id, topic, received_at) values (?, ?, ?, ?)",
            [self.owner, msg_id, t, now],
        )
        return bool(cur.rowcount)

    def prune(self, before: float) -> None:
        self.table.db.execute(
            "delete from relay_inbox where owner = ? and received_at < ?", [self.owner, before]
        )


# ---------------------------------------------------------------- the protocol


class Relay(Protocol):
    """A client of the message bus with a durable outbox.

    ``publish`` never blocks on the network and never loses a message: it is
    written to the outbox and sent when connected. ``pump`` runs handlers and
    outbox bookkeeping and must be called regularly from one thread.
    ``start`` raises `RelayError` for settings that cannot work (bad TLS
    files); an unreachable broker is not an error (the relay retries).
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
class _Sub:
    topic_filter: str
    handler: Handler
    dedupe: bool


def _matches(topic_filter: str, t: str) -> bool:
    f, p = topic_filter.split("/"), t.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(p) or (level != "+" and level != p[i]):
            return False
    return len(f) == len(p)


class _RelayCore:
    """Outbox, inbox, event queue and dispatch; subclasses add a transport."""

    def __init__(
        self,
        store: Store,
        owner: str,
        clock: Clock,
        status_topic: str,
        role: str,
        resend_window_s: float = 600.0,
    ) -> None:
        self.store = store
        self.owner = owner
        self.clock = clock
        self.role = role
        self.status_topic = status_topic
        self.resend_window_s = resend_window_s
        self.outbox = Outbox(store, owner)
        self.inbox = Inbox(store, owner)
        self.dropped = 0
        self.received = 0
        self.duplicates = 0
        self.connects = 0
        self.last_error = ""
        self._subs: list[_Sub] = []
        self._events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._inflight: dict[int, str] = {}
        self._connected = threading.Event()

    # transport hooks ------------------------------------------------------
    def _send(self, t: str, data: bytes, retain: bool) -> int | None:
        """Hand one message to the transport; its message id, or None when not connected."""
        raise NotImplementedError

    def _on_transport_connected(self) -> None:
        """Called on the pumping thread after each (re)connect, before the outbox flush."""

    # public ---------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def subscribe(self, topic_filter: str, handler: Handler, dedupe: bool = True) -> None:
        """Register ``handler`` for ``topic_filter`` (before `start`). ``dedupe`` drops repeated ids."""
        self._subs.append(_Sub(topic_filter, handler, dedupe))

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
        for row in self.outbox.queued(self.clock.now()):
            if not self.connected:
                return
            self._transmit(row["id"], row["topic"], row["payload"], bool(row["retain"]))

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
            self._on_transport_connected()
            self._flush_queued()
        elif kind == "message":
            self._dispatch(ev[1], ev[2])
        elif kind == "call":
            ev[1]()

    def _dispatch(self, t: str, raw: bytes) -> None:
        subs = [s for s in self._subs if _matches(s.topic_filter, t)]
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


# ---------------------------------------------------------------- paho implementation


def _client_id(settings: RelaySettings, role: str, name: str) -> str:
    return settings.client_id or f"proactive-{role}-{name}"


def _paho_client(settings: RelaySettings, client_id: str) -> Any:
    """A paho client with the configured credentials and TLS (not connected). Raises `RelayError`."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311
    )
    if settings.username:
        client.username_pw_set(settings.username, settings.password or None)
    tls = settings.tls
    if tls.ca_file or tls.certfile:
        try:
            client.tls_set(
                ca_certs=str(tls.ca_file) if tls.ca_file else None,
                certfile=str(tls.certfile) if tls.certfile else None,
                keyfile=str(tls.keyfile) if tls.keyfile else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        except (OSError, ssl.SSLError, ValueError) as e:
            raise RelayError(f"Cannot load the TLS files: {e}", "Check relay.tls.* paths.") from e
        client.tls_insecure_set(tls.insecure)
    return client


def probe_broker(settings: RelaySettings, timeout: float = 3.0) -> None:
    """Connect to the configured broker (credentials and TLS as configured) and disconnect.

    Returns when the broker accepted the connection; raises `RelayError` with
    a hint when it cannot be reached in ``timeout`` seconds or refuses.
    """
    client = _paho_client(settings, f"proactive-probe-{uuid.uuid4().hex[:8]}")
    answered = threading.Event()
    refused: list[str] = []

    def on_connect(client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            refused.append(str(reason_code))
        answered.set()

    client.on_connect = on_connect
    where = f"{settings.host}:{settings.port}"
    try:
        client.connect(settings.host, settings.port, keepalive=max(5, int(timeout) + 1))
    except (OSError, ValueError) as e:
        raise RelayError(
            f"The MQTT broker at {where} is not reachable ({e}).",
            "Start it (`proactive run` starts the embedded one; `systemctl start mosquitto`), "
            "or fix relay.host / relay.port.",
        ) from e
    client.loop_start()
    try:
        if not answered.wait(timeout):
            raise RelayError(
                f"The MQTT broker at {where} did not answer within {timeout:.0f} s.",
                "Check relay.port and relay.tls (a TLS port needs relay.tls.ca_file).",
            )
        if refused:
            raise RelayError(
                f"The MQTT broker at {where} refused the connection: {refused[0]}.",
                "Check relay.username / relay.password (`proactive broker acl` writes them for mosquitto).",
            )
    finally:
        client.disconnect()
        client.loop_stop()


class PahoRelay(_RelayCore):
    """`Relay` over paho-mqtt 2.x (MQTT 3.1.1, QoS 1, last will on ``status_topic``).

    ``role`` is ``hub`` or ``desktop``; ``name`` the desktop name (or ``hub``).
    The status topic gets a retained ``online`` on every connect and a retained
    ``offline`` as last will and on `close`.
    """

    def __init__(
        self,
        settings: RelaySettings,
        store: Store,
        role: str,
        name: str,
        clock: Clock | None = None,
        owner: str | None = None,
    ) -> None:
        status = HUB_STATUS if role == HUB else topic(name, "status")
        super().__init__(
            store,
            owner or _client_id(settings, role, name),
            clock or SystemClock(),
            status,
            role,
            settings.resend_window_s,
        )
        self.settings = settings
        self.name = name
        import paho.mqtt.client as mqtt

        self._mqtt = mqtt
        client = _paho_client(settings, _client_id(settings, role, name))
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(200)
        # paho annotates the delays as int but computes with floats; sub-second backoff matters here.
        client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
        will = status_payload(role, name, "offline", self.clock.now())
        client.will_set(self.status_topic, json.dumps(will), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self._client = client
        self._started = False

    # paho callbacks: network thread, enqueue only ----------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self.last_error = f"broker refused the connection: {reason_code}"
            log.warning("relay %s: %s", self.owner, self.last_error)
            return
        for s in self._subs:
            client.subscribe(s.topic_filter, qos=1)
        online = status_payload(self.role, self.name, "online", self.clock.now())
        client.publish(self.status_topic, json.dumps(online), qos=1, retain=True)
        self._connected.set()
        self._events.put(("connected",))

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if self._connected.is_set():
            log.info("relay %s: disconnected (%s); reconnecting with backoff", self.owner, reason_code)
        self._connected.clear()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self._events.put(("message", msg.topic, bytes(msg.payload)))

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        self._events.put(("puback", mid))

    # transport ---------------------------------------------------------------
    def _send(self, t: str, data: bytes, retain: bool) -> int | None:
        info = self._client.publish(t, data, qos=1, retain=retain)
        if info.rc != self._mqtt.MQTT_ERR_SUCCESS:
            return None
        return int(info.mid)

    def start(self) -> None:
        """Connect in the background (retrying with backoff) and start paho's network thread."""
        if self._started:
            return
        try:
            self._client.connect_async(self.settings.host, self.settings.port, self.settings.keepalive)
        except (OSError, ValueError) as e:
            raise RelayError(
                f"Cannot use broker {self.settings.host}:{self.settings.port}: {e}",
                "Check relay.host and relay.port.",
            ) from e
        self._client.loop_start()
        self._started = True

    def close(self) -> None:
        """Publish a retained ``offline`` (waiting briefly for the ack) and disconnect."""
        if not self._started:
            return
        self._started = False
        if self.connected:
            offline = status_payload(self.role, self.name, "offline", self.clock.now())
            info = self._client.publish(self.status_topic, json.dumps(offline), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=min(2.0, self.settings.publish_timeout_s))
            except (RuntimeError, ValueError) as e:
                log.info("relay %s: offline status not acknowledged: %s", self.owner, e)
            self.pump(0)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()


# ---------------------------------------------------------------- in-memory double


class MemoryBus:
    """An in-process broker for unit tests: topic routing, retained messages, last wills."""

    def __init__(self) -> None:
        self.clients: list[MemoryRelay] = []
        self.retained: dict[str, bytes] = {}
        self.published: list[tuple[str, bytes]] = []
        self.up = True

    def deliver(self, t: str, data: bytes, retain: bool) -> None:
        self.published.append((t, data))
        if retain:
            self.retained[t] = data
        for c in self.clients:
            if c.connected and any(_matches(s.topic_filter, t) for s in c._subs):
                c._events.put(("message", t, data))

    def connect(self, c: MemoryRelay) -> None:
        if c not in self.clients:
            self.clients.append(c)
        c._connected.set()
        online = json.dumps(status_payload(c.role, c.name, "online", c.clock.now())).encode()
        for t, data in list(self.retained.items()):
            if any(_matches(s.topic_filter, t) for s in c._subs):
                c._events.put(("message", t, data))
        self.deliver(c.status_topic, online, True)
        c._events.put(("connected",))

    def stop(self) -> None:
        """Drop every connection (wills are published) and forget retained messages."""
        self.up = False
        for c in self.clients:
            c._connected.clear()
        self.retained.clear()

    def restart(self) -> None:
        self.up = True
        for c in self.clients:
            if c._started:
                self.connect(c)


class MemoryRelay(_RelayCore):
    """`Relay` on a `MemoryBus`: same outbox, inbox and dispatch as `PahoRelay`, no network."""

    def __init__(
        self, bus: MemoryBus, store: Store, role: str, name: str, clock: Clock | None = None
    ) -> None:
        status = HUB_STATUS if role == HUB else topic(name, "status")
        super().__init__(store, f"memory-{role}-{name}", clock or SystemClock(), status, role)
        self.bus = bus
        self.name = name
        self._started = False
        self._mid = 0

    def _send(self, t: str, data: bytes, retain: bool) -> int | None:
        if not self.bus.up:
            return None
        self._mid += 1
        self.bus.deliver(t, data, retain)
        self._events.put(("puback", self._mid))
        return self._mid

    def start(self) -> None:
        self._started = True
        if self.bus.up:
            self.bus.connect(self)

    def close(self) -> None:
        if self._started and self.bus.up:
            offline = status_payload(self.role, self.name, "offline", self.clock.now())
            self.bus.deliver(self.status_topic, json.dumps(offline).encode(), True)
        self._started = False
        self._connected.clear()


def make_relay(
    settings: Settings, store: Store, role: str, name: str, clock: Clock | None = None
) -> PahoRelay:
    """The real relay for ``role`` (``hub`` or ``desktop``) from settings."""
    if role != HUB:
        check_name(name)
    return PahoRelay(settings.relay, store, role, name, clock)


# ---------------------------------------------------------------- roles


class HubLink:
    """The hub's side: activity and feedback in from every desktop, proposals and results out.

    Incoming observations are collected for `fetch` (which makes this an
    `ActivitySource` for the loop); feedback goes to ``on_feedback``; a desktop
    coming online gets recent unexpired messages again.
    """

    name = "relay"

    def __init__(
        self, relay: Relay, clock: Clock, on_feedback: Callable[[dict[str, Any]], object] | None = None
    ) -> None:
        self.relay = relay
        self.clock = clock
        self.on_feedback = on_feedback
        self.desktops: dict[str, dict[str, Any]] = {}
        self._observations: list[Observation] = []
        relay.subscribe(topic("+", "activity"), self._activity)
        relay.subscribe(topic("+", "feedback"), self._feedback)
        relay.subscribe(topic("+", "status"), self._status, dedupe=False)

    def _activity(self, desktop: str, kind: str, payload: dict[str, Any]) -> None:
        self._observations.append(observation_of(payload, desktop))

    def _feedback(self, desktop: str, kind: str, payload: dict[str, Any]) -> None:
        if self.on_feedback is None:
            log.warning("relay: feedback for %s dropped: no feedback handler", payload["proposal_id"])
            return
        self.on_feedback(payload)

    def _status(self, desktop: str, kind: str, payload: dict[str, Any]) -> None:
        if desktop == HUB:
            return
        self.desktops[desktop] = {"state": payload["state"], "at": payload.get("at")}
        if payload["state"] == "online":
            self.relay.resend_to(desktop)

    def send_proposal(self, decision: Decision, created_at: float, expires_at: float) -> None:
        desktop = decision.observation.desktop
        self.relay.publish(
            topic(desktop, "proposal"),
            proposal_payload(decision, created_at, expires_at),
            peer=desktop,
            expires_at=expires_at,
        )

    def send_result(self, payload: dict[str, Any]) -> None:
        desktop = payload["desktop"]
        self.relay.publish(
            topic(desktop, "result"),
            payload,
            peer=desktop,
            expires_at=self.clock.now() + self.relay_resend_s,
        )

    relay_resend_s = 3600.0

    # ActivitySource ------------------------------------------------------------
    def fetch(self, timeout: float = 0.0) -> list[Observation]:
        """Observations received since the last call (pumping the relay up to ``timeout`` s)."""
        self.relay.pump(timeout)
        out, self._observations = self._observations, []
        return out

    @property
    def exhausted(self) -> bool:
        return False


class DesktopLink:
    """A companion's side: activity and feedback out, its own proposals and results in."""

    def __init__(
        self,
        relay: Relay,
        name: str,
        clock: Clock,
        on_proposal: Callable[[dict[str, Any]], None],
        on_result: Callable[[dict[str, Any]], None],
    ) -> None:
        self.relay = relay
        self.name = check_name(name)
        self.clock = clock
        self.hub_state = "unknown"
        self._on_proposal = on_proposal
        self._on_result = on_result
        relay.subscribe(topic(name, "proposal"), lambda d, k, p: on_proposal(p))
        relay.subscribe(topic(name, "result"), lambda d, k, p: on_result(p))
        relay.subscribe(HUB_STATUS, self._hub_status, dedupe=False)

    def _hub_status(self, desktop: str, kind: str, payload: dict[str, Any]) -> None:
        self.hub_state = payload["state"]
        if payload["state"] == "online":
            self.relay.resend_to(HUB)

    def send_activity(self, obs: Observation) -> None:
        if obs.desktop != self.name:
            obs = Observation(**{**observation_to_dict(obs), "desktop": self.name})
        self.relay.publish(topic(self.name, "activity"), activity_payload(obs, self.clock.now()), peer=HUB)

    def send_feedback(self, proposal_id: str, verdict: str) -> None:
        self.relay.publish(
            topic(self.name, "feedback"),
            feedback_payload(proposal_id, self.name, verdict, self.clock.now()),
            peer=HUB,
        )


class RelaySink:
    """A `loop.ProposalSink` that publishes each proposal to its desktop over the relay."""

    def __init__(self, link: HubLink, store: Store | None, clock: Clock, ttl_s: float) -> None:
        self.link = link
        self.store = store
        self.clock = clock
        self.ttl_s = ttl_s

    def send(self, decision: Decision) -> None:
        if not decision.proposed or decision.proposal_id is None:
            return
        row = self.store.get_proposal(decision.proposal_id) if self.store is not None else None
        if row is not None:
            created, expires = float(row["created_at"]), float(row["expires_at"])
        else:
            created = self.clock.now()
            expires = created + self.ttl_s
        self.link.send_proposal(decision, created, expires)


# ---------------------------------------------------------------- the hub service


@dataclass
class HubService:
    """The hub's relay wiring: broker (if embedded), relay, feedback, sink. Made by `attach`."""

    hub: Hub
    relay: Relay
    link: HubLink
    feedback: FeedbackManager
    broker: EmbeddedBroker | None = None
    local_source: ActivitySource | None = None
    base_interval_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def step(self, obs: Observation) -> Decision:
        """Decide for one observation with the desktop's current adaptation applied."""
        self.hub.loop.min_interval_s = self.feedback.min_interval_for(obs.desktop, self.base_interval_s)
        return self.hub.loop.step(obs)

    def tick(self, timeout: float = 0.2) -> list[Observation]:
        """Pump the relay (feedback is handled here), expire unanswered proposals, return new activity."""
        obs = self.link.fetch(timeout)
        self.feedback.expire_pending()
        return obs

    def run(
        self,
        on_decision: Callable[[Decision], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_source_error: Callable[[Any], None] | None = None,
        poll_interval_s: float = 10.0,
    ) -> int:
        """Serve until ``should_stop()``: relay activity from every desktop plus the local source.

        One observation is decided per round and the relay is pumped between
        rounds, so feedback is applied before the next decision even when
        activity arrives faster than the LLM answers.
        """
        from edge.errors import SourceError

        n = 0
        next_poll = 0.0
        backlog: deque[Observation] = deque()
        while not should_stop():
            backlog.extend(self.tick(0.0 if backlog else 0.2))
            src = self.local_source
            if src is not None and not src.exhausted and time.monotonic() >= next_poll:
                try:
                    got = src.fetch()
                    backlog.extend(got)
                    if not got:
                        next_poll = time.monotonic() + poll_interval_s
                except SourceError as e:
                    if on_source_error is None:
                        raise
                    on_source_error(e)
                    next_poll = time.monotonic() + poll_interval_s
            if backlog:
                d = self.step(backlog.popleft())
                n += 1
                if on_decision is not None:
                    on_decision(d)
        return n

    def status(self) -> dict[str, Any]:
        return {
            "relay": self.relay.stats(),
            "desktops": self.link.desktops,
            "broker": self.broker.describe() if self.broker is not None else "external",
            "feedback": {**self.feedback.status(), "similarity": self.feedback.similarity.name},
        }

    def close(self) -> None:
        self.relay.flush(1.0)
        self.relay.close()
        if self.broker is not None:
            self.broker.stop()

    def __enter__(self) -> HubService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def attach(
    hub: Hub,
    relay: Relay | None = None,
    local_source: ActivitySource | None = None,
    start_broker: bool = True,
    connect_timeout_s: float = 5.0,
) -> HubService:
    """Wire the relay into ``hub``: proposals out, activity and feedback in, adaptation on.

    Starts the embedded broker when ``relay.broker = "embedded"`` (if its port
    is already taken the hub uses whatever broker listens there and says so),
    adds a `RelaySink` to the loop, wraps the gate in the feedback's
    `AdaptiveGate`, sets the proposal TTL. Raises `RelayError`.
    """
    from edge.broker import EmbeddedBroker
    from edge.feedback import FeedbackManager, make_similarity

    settings = hub.settings
    notes: list[str] = []
    broker: EmbeddedBroker | None = None
    if relay is None and start_broker and settings.relay.broker == "embedded":
        broker = EmbeddedBroker(settings.relay.host, settings.relay.port)
        try:
            broker.start()
        except RelayError as e:
            broker = None
            notes.append(f"{e.msg} Using the broker already listening there.")
    if relay is None:
        relay = make_relay(settings, hub.store, HUB, HUB, hub.clock)
    memory = getattr(hub, "memory", None)
    feedback = FeedbackManager(
        hub.store, hub.clock, settings.feedback, hub.llm, memory=memory, similarity=make_similarity(memory)
    )
    link = HubLink(relay, hub.clock, on_feedback=feedback.handle)
    feedback.publish_result = link.send_result
    hub.loop.proposal_ttl_s = settings.relay.proposal_ttl_s
    hub.loop.sinks.append(RelaySink(link, hub.store, hub.clock, settings.relay.proposal_ttl_s))
    hub.loop.gate = feedback.wrap_gate(hub.loop.gate)
    service = HubService(
        hub,
        relay,
        link,
        feedback,
        broker,
        local_source,
        base_interval_s=settings.agent.min_interval_s,
        notes=notes,
    )
    relay.start()
    if not relay.wait_connected(connect_timeout_s):
        notes.append(
            f"Broker {settings.relay.host}:{settings.relay.port} not reachable yet; "
            "proposals wait in the outbox and the relay keeps retrying."
        )
    return service


@contextmanager
def attached(hub: Hub, **kw: Any) -> Iterator[HubService]:
    """`attach` as a context manager that closes the service (and its broker) on exit."""
    service = attach(hub, **kw)
    try:
        yield service
    finally:
        service.close()
