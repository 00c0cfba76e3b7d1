"""Fixtures for the relay tests: real brokers on free loopback ports.

* ``amqtt_broker``: the embedded amqtt broker, in process.
* ``mosquitto``: a factory that starts a real ``mosquitto -c CONF`` process
  (optionally with a password file and ACL); skipped with a reason when the
  binary is missing (``.ci/run`` installs it with apt).
* ``broker``: parametrised over both, for tests that must pass on each.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge.mqtt.broker import EmbeddedBroker
from tests.conftest import free_port

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)


def need_mosquitto() -> None:
    """Skip without mosquitto on a developer's machine; fail under CI (setup.sh --test installs it)."""
    if MOSQUITTO is None:
        why = "mosquitto is not installed (scripts/setup.sh --test installs it with apt)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Mosquitto:
    """A mosquitto process; `stop`/`start` restart it on the same port and config."""

    conf: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    extra: list[str] = field(default_factory=list)

    def start(self) -> None:
        assert MOSQUITTO is not None
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Factory: ``mosquitto(password_file=None, acl_file=None)`` -> a started `Mosquitto`."""
    need_mosquitto()
    started: list[Mosquitto] = []

    def make(password_file: Path | None = None, acl_file: Path | None = None) -> Mosquitto:
        port = free_port()
        conf = tmp_path / f"mosquitto-{port}.conf"
        lines = [f"listener {port} 127.0.0.1", "persistence false", "log_dest stdout"]
        if os.geteuid() == 0:  # as root mosquitto drops to user "mosquitto", who cannot read tmp_path
            lines.append("user root")
        if password_file is None:
            lines.append("allow_anonymous true")
        else:
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        if acl_file is not None:
            lines.append(f"acl_file {acl_file}")
        conf.write_text("\n".join(lines) + "\n")
        m = Mosquitto(conf, port, tmp_path / f"mosquitto-{port}.log")
        m.start()
        started.append(m)
        return m

    yield make
    for m in started:
        m.stop()


@pytest.fixture
def amqtt_broker() -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker("127.0.0.1", free_port())
    b.start()
    yield b
    b.stop()


@dataclass
class BrokerHandle:
    """Either broker behind one face: ``port``, ``stop()``, ``start()``."""

    kind: str
    port: int
    stop: Callable[[], None]
    start: Callable[[], None]


@pytest.fixture(params=["amqtt", "mosquitto"])
def broker(request: pytest.FixtureRequest) -> BrokerHandle:
    if request.param == "amqtt":
        b: EmbeddedBroker = request.getfixturevalue("amqtt_broker")
        return BrokerHandle("amqtt", b.port, b.stop, b.start)
    m: Mosquitto = request.getfixturevalue("mosquitto")()
    return BrokerHandle("mosquitto", m.port, m.stop, m.start)
