"""The embedded MQTT broker: amqtt in process (the only module that imports ``amqtt``).

`EmbeddedBroker` runs amqtt 0.12.1 on its own asyncio loop in a daemon
thread, so that ``proactive run`` needs no set-up (``relay.broker =
"embedded"``). It is anonymous: keep it on loopback, or use mosquitto with the
files `edge.mqtt.mosquitto.write_mosquitto_files` produces (``proactive broker
acl``) for a house with several desktops.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

from amqtt.broker import Broker

from edge.errors import RelayError

log = logging.getLogger(__name__)


class _WalkedOverACopy(dict[str, Any]):
    """amqtt 0.12.1's subscription table (``Broker._subscriptions``), whose walks go over a copy.

    amqtt walks that dict across ``await``s: when a client connects (sending it the retained
    messages of every subscribed filter) and when it broadcasts. A client subscribing to a new
    filter meanwhile changes the dict's size, the walk raises ``RuntimeError: dictionary changed
    size during iteration``, and the connecting client's session dies before its message loop
    starts: connected, yet deaf and mute (its QoS 1 publishes are acknowledged, then lost). That
    happens whenever several clients connect at once, as desktops do when the hub restarts.
    Walking a copy keeps each walk to the filters present when it began.
    """

    def __iter__(self) -> Iterator[str]:
        return iter(list(dict.keys(self)))

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return list(dict.items(self))


class EmbeddedBroker:
    """amqtt listening on ``host:port`` (TCP), in a daemon thread. `start`/`stop` may repeat."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    @property
    def running(self) -> bool:
        return self._broker is not None

    @property
    def exposed(self) -> bool:
        """True when it listens beyond loopback (``0.0.0.0``, a LAN address, a host name other than
        ``localhost``): then anyone on that network may read and publish every topic, anonymously."""
        if self.host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return True

    def exposure_warning(self) -> str | None:
        """One line for the user when the broker is `exposed`, else None."""
        if not self.exposed:
            return None
        return (
            f"Warning: the embedded MQTT broker is anonymous and listens on {self.host}:{self.port}, beyond "
            "this machine: anyone on that network can read every proposal and publish as any desktop. "
            "Keep relay.host = 127.0.0.1, or use mosquitto with `proactive broker acl`."
        )

    def config(self) -> dict[str, Any]:
        """The amqtt configuration (see pitfalls.md, MQTT)."""
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

    def start(self, timeout: float = 10.0) -> None:
        """Start listening; raises `RelayError` when the port is taken or amqtt fails."""
        if self.running:
            return
        # amqtt logs a failed bind deep inside; check first for a clear message.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((self.host, self.port))
            except OSError as e:
                raise RelayError(
                    f"Cannot start the embedded MQTT broker on {self.host}:{self.port}: {e.strerror}.",
                    "Another broker may be running there; set relay.port, or relay.broker = 'external'.",
                ) from e
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="amqtt-broker", daemon=True)
        thread.start()

        async def _start() -> Any:
            broker = Broker(self.config(), loop=loop)
            broker._subscriptions = _WalkedOverACopy()  # see the class; still empty before start
            await broker.start()
            return broker

        try:
            self._broker = asyncio.run_coroutine_threadsafe(_start(), loop).result(timeout)
        except Exception as e:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            loop.close()
            raise RelayError(
                f"The embedded MQTT broker did not start on {self.host}:{self.port}: {e}",
                "Set relay.broker = 'external' and run mosquitto.",
            ) from e
        self._loop, self._thread = loop, thread
        log.info("embedded MQTT broker listening on %s:%d", self.host, self.port)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down (dropping every connection; clients reconnect when it is back)."""
        loop, thread, broker = self._loop, self._thread, self._broker
        if loop is None or thread is None or broker is None:
            return
        self._broker = None
        try:
            asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(timeout)
        except Exception as e:  # shutting down: log, never raise
            log.warning("embedded broker shutdown: %s", e)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None

    def describe(self) -> str:
        return f"embedded amqtt on {self.host}:{self.port}" + ("" if self.running else " (stopped)")

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
