"""MQTT brokers: the embedded amqtt broker, and mosquitto credentials/ACL files.

`EmbeddedBroker` runs amqtt 0.12.1 in process, on its own asyncio loop in a
daemon thread, so that ``proactive run`` needs no set-up (``relay.broker =
"embedded"``). It is anonymous: keep it on loopback, or use mosquitto with the
files `write_mosquitto_files` produces (``proactive broker acl``) for a house
with several desktops.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import secrets
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import RelayError

log = logging.getLogger(__name__)


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
        from amqtt.broker import Broker

        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="amqtt-broker", daemon=True)
        thread.start()

        async def _start() -> Any:
            broker = Broker(self.config(), loop=loop)
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


# ---------------------------------------------------------------- mosquitto files


def pbkdf2_sha512_hash(password: str, salt: bytes | None = None, iterations: int = 101) -> str:
    """A mosquitto 2.x password hash (``$7$`` = PBKDF2-SHA512, as ``mosquitto_passwd`` writes)."""
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, dklen=64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def acl_text(desktops: list[str], hub_user: str = "hub") -> str:
    """The mosquitto ACL: the hub may do everything under proactive/v1; each desktop only its own topics."""
    lines = [
        "# proactive-edge ACL (written by `proactive broker acl`). Anonymous clients get nothing.",
        f"user {hub_user}",
        "topic readwrite proactive/v1/#",
        "",
    ]
    for d in desktops:
        lines += [
            f"user {d}",
            f"topic write proactive/v1/{d}/activity",
            f"topic write proactive/v1/{d}/feedback",
            f"topic write proactive/v1/{d}/status",
            f"topic read proactive/v1/{d}/proposal",
            f"topic read proactive/v1/{d}/result",
            "topic read proactive/v1/hub/status",
            "",
        ]
    return "\n".join(lines)


@dataclass
class MosquittoFiles:
    passwd: Path
    acl: Path
    conf: Path
    credentials: dict[str, str]
    used_mosquitto_passwd: bool


def _write_private(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def write_mosquitto_files(
    desktops: list[str],
    out: Path,
    port: int = 1883,
    bind: str = "0.0.0.0",
    hub_user: str = "hub",
    passwords: dict[str, str] | None = None,
    use_tool: bool = True,
) -> MosquittoFiles:
    """Write ``passwd``, ``acl``, ``mosquitto.conf`` and ``credentials.toml`` into ``out``.

    Each user (the hub and every desktop) gets a random password unless
    ``passwords`` names one. Uses ``mosquitto_passwd`` when installed (and
    ``use_tool``), else writes the same PBKDF2-SHA512 format itself.
    Raises `RelayError` for a bad desktop name or an unwritable directory.
    """
    from edge.relay import check_name

    users = [hub_user, *(check_name(d) for d in desktops)]
    if len(set(users)) != len(users):
        raise RelayError(
            "Desktop names must be distinct and not the hub's user.", f"Got: {', '.join(desktops)}"
        )
    creds = {u: (passwords or {}).get(u) or secrets.token_urlsafe(18) for u in users}
    try:
        out.mkdir(parents=True, exist_ok=True)
        passwd, acl, conf = out / "passwd", out / "acl", out / "mosquitto.conf"
        tool = shutil.which("mosquitto_passwd") if use_tool else None
        if tool:
            passwd.unlink(missing_ok=True)
            for i, u in enumerate(users):
                create = ["-c"] if i == 0 else []
                cmd = [tool, *create, "-b", str(passwd), u, creds[u]]
                subprocess.run(cmd, check=True, capture_output=True, timeout=30)
        else:
            _write_private(passwd, "".join(f"{u}:{pbkdf2_sha512_hash(creds[u])}\n" for u in users))
        passwd.chmod(0o600)
        acl.write_text(acl_text(list(desktops), hub_user), encoding="utf-8")
        conf.write_text(
            "# proactive-edge: mosquitto listener with passwords and per-desktop ACL\n"
            "per_listener_settings false\n"
            f"listener {port} {bind}\n"
            "allow_anonymous false\n"
            f"password_file {passwd.resolve()}\n"
            f"acl_file {acl.resolve()}\n"
            "persistence true\n"
            "# add certfile/keyfile/cafile lines here for TLS (port 8883), see firmware-notes/README.md\n",
            encoding="utf-8",
        )
        toml = ["# One [relay] block per machine: copy it into that machine's config.toml.", ""]
        for u in users:
            toml += [
                f"# {u}",
                "[relay]",
                'broker = "external"',
                f'username = "{u}"',
                f'password = "{creds[u]}"',
                "",
            ]
        _write_private(out / "credentials.toml", "\n".join(toml))
    except (OSError, subprocess.SubprocessError) as e:
        raise RelayError(
            f"Cannot write the mosquitto files in {out}: {e}", "Check the directory is writable."
        ) from e
    return MosquittoFiles(passwd, acl, conf, creds, bool(tool))
