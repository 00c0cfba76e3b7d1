"""The paho-mqtt 2.x client: `PahoRelay`, `probe_broker`, `make_relay`, `topic_matches`.

This is the only module that imports ``paho``. Its return codes and
failures become `RelayError` here; it is never subclassed and its private
attributes are never touched. paho runs its network loop in its own thread,
whose callbacks only post events to the `RelayCore` queue.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from edge.clock import Clock, SystemClock
from edge.config import RelaySettings, Settings
from edge.errors import RelayError
from edge.mqtt.payloads import status_payload
from edge.mqtt.relay import RelayCore
from edge.mqtt.topics import HUB, check_name, client_id, status_topic
from edge.store import Store

log = logging.getLogger(__name__)


def topic_matches(topic_filter: str, t: str) -> bool:
    """True when ``t`` matches ``topic_filter`` (``+`` and ``#`` wildcards), as the broker decides."""
    return bool(mqtt.topic_matches_sub(topic_filter, t))


def _paho_client(settings: RelaySettings, client_id: str) -> mqtt.Client:
    """A paho client with the configured credentials and TLS (not connected). Raises `RelayError`."""
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


class PahoRelay(RelayCore):
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
        super().__init__(
            store,
            owner or client_id(role, name, settings.client_id),
            clock or SystemClock(),
            status_topic(role, name),
            role,
            topic_matches,
            settings.resend_window_s,
        )
        self.settings = settings
        self.name = name
        client = _paho_client(settings, client_id(role, name, settings.client_id))
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(200)
        # paho annotates the delays as int but computes with floats; sub-second backoff matters here.
        client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)  # type: ignore[arg-type]
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
        for s in self.subscriptions:
            client.subscribe(s.topic_filter, qos=1)
        online = status_payload(self.role, self.name, "online", self.clock.now())
        client.publish(self.status_topic, json.dumps(online), qos=1, retain=True)
        self.set_connected(True)
        self.post_connected()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if self.connected:
            log.info("relay %s: disconnected (%s); reconnecting with backoff", self.owner, reason_code)
        self.set_connected(False)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        # paho has read the packet; its size is checked before anything else keeps it (post_message).
        # An exception here would stop paho's network thread: none may escape.
        try:
            t = msg.topic
        except UnicodeDecodeError:
            self.count_drop("invalid", "<topic not UTF-8>", "topic is not UTF-8")
            return
        try:
            data = msg.payload
            self.post_message(t, data if isinstance(data, bytes) else bytes(data))
        except Exception:
            log.exception("relay %s: message on %r could not be queued; dropped", self.owner, t[:200])

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        self.post_ack(mid)

    # transport ---------------------------------------------------------------
    def _send(self, t: str, data: bytes, retain: bool) -> int | None:
        info = self._client.publish(t, data, qos=1, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
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
        self.set_connected(False)
        self.save_stats()


def make_relay(
    settings: Settings, store: Store, role: str, name: str, clock: Clock | None = None
) -> PahoRelay:
    """The real relay for ``role`` (``hub`` or ``desktop``) from settings."""
    if role != HUB:
        check_name(name)
    return PahoRelay(settings.relay, store, role, name, clock)
