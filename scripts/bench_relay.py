#!/usr/bin/env python
"""Relay benchmark: hub -> desktop latency, throughput, and messages lost across a broker restart.

For each broker (the embedded amqtt, and mosquitto when installed) on a free
loopback port, with the real `PahoRelay` on both ends (outbox and inbox in
SQLite files, as in production):

* latency: one proposal at a time, hub publish -> desktop handler; p50/p99 ms
* throughput: a burst published back to back until all are received; msgs/s
* lost: a stream of proposals while the broker is stopped and restarted in the
  middle; ``lost`` = sent - distinct received (target 0)

Prints a table; ``--json`` prints one JSON object instead; ``--out FILE``
also writes it. ``--quick`` runs in well under a minute.

    .venv/bin/python scripts/bench_relay.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.clock import SystemClock  # noqa: E402
from edge.config import RelaySettings  # noqa: E402
from edge.mqtt.broker import EmbeddedBroker  # noqa: E402
from edge.mqtt.client import PahoRelay  # noqa: E402
from edge.mqtt.topics import HUB, topic  # noqa: E402
from edge.store import Store  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {port}")


class Mosquitto:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.conf = tmp / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence false"]
        if os.geteuid() == 0:
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            [exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


SYNCHRONOUS: str | None = None


def _store(path: Path) -> Store:
    store = Store.open(path)
    if SYNCHRONOUS:
        store.set_synchronous(SYNCHRONOUS)
    return store


def _pair(port: int, tmp: Path, tag: str) -> tuple[PahoRelay, PahoRelay, list[tuple[str, float]]]:
    s = RelaySettings(broker="external", port=port, reconnect_min_s=0.1, reconnect_max_s=0.5)
    clock = SystemClock()
    hub_s = s.model_copy(update={"client_id": f"bench-hub-{tag}"})
    desk_s = s.model_copy(update={"client_id": f"bench-desk-{tag}"})
    hub = PahoRelay(hub_s, _store(tmp / f"hub-{tag}.db"), HUB, HUB, clock)
    desk = PahoRelay(desk_s, _store(tmp / f"desk-{tag}.db"), "desktop", "bench", clock)
    got: list[tuple[str, float]] = []
    desk.subscribe(topic("bench", "proposal"), lambda d, k, p: got.append((p["id"], time.perf_counter())))
    hub.subscribe(
        topic("+", "status"), lambda d, k, p: p["state"] == "online" and hub.resend_to(d), dedupe=False
    )
    hub.start()
    desk.start()
    if not (hub.wait_connected(10) and desk.wait_connected(10)):
        raise RuntimeError("relay did not connect")
    return hub, desk, got


def _proposal(i: str, t0: float) -> dict[str, Any]:
    now = time.time()
    return {
        "schema": 1,
        "id": i,
        "desktop": "bench",
        "task": "t",
        "created_at": now,
        "expires_at": now + 3600,
        "t0": t0,
    }


def bench_broker(
    name: str, port: int, stop: Callable[[], None], start: Callable[[], None], tmp: Path, quick: bool
) -> dict[str, Any]:
    n_lat, n_burst, n_restart = (200, 500, 200) if quick else (1000, 3000, 600)
    hub, desk, got = _pair(port, tmp, name)
    try:
        # latency
        lat = []
        for i in range(n_lat):
            t0 = time.perf_counter()
            hub.publish(
                topic("bench", "proposal"),
                _proposal(f"L{i}", t0),
                peer="bench",
                expires_at=time.time() + 3600,
            )
            n = len(got)
            while len(got) == n:
                desk.pump(1.0)
            lat.append((got[-1][1] - t0) * 1000)
            hub.pump(0)
        lat.sort()
        # throughput
        got.clear()
        t0 = time.perf_counter()
        for i in range(n_burst):
            hub.publish(
                topic("bench", "proposal"),
                _proposal(f"B{i}", t0),
                peer="bench",
                expires_at=time.time() + 3600,
            )
            if i % 50 == 0:
                desk.pump(0)
                hub.pump(0)
        while len(got) < n_burst and time.perf_counter() - t0 < 120:
            desk.pump(0.05)
            hub.pump(0)
        rate = len(got) / (time.perf_counter() - t0)
        # restart
        got.clear()
        for i in range(n_restart):
            if i == n_restart // 3:
                stop()
            if i == 2 * n_restart // 3:
                start()
            hub.publish(
                topic("bench", "proposal"),
                _proposal(f"R{i}", 0.0),
                peer="bench",
                expires_at=time.time() + 3600,
            )
            desk.pump(0.002)
            hub.pump(0)
        deadline = time.monotonic() + 30
        while len({g[0] for g in got}) < n_restart and time.monotonic() < deadline:
            desk.pump(0.05)
            hub.pump(0.01)
        distinct = len({g[0] for g in got})
        return {
            "broker": name,
            "latency_p50_ms": round(statistics.median(lat), 3),
            "latency_p99_ms": round(lat[int(len(lat) * 0.99) - 1], 3),
            "latency_n": n_lat,
            "msgs_per_s": round(rate, 1),
            "burst_n": n_burst,
            "restart_sent": n_restart,
            "restart_received": distinct,
            "restart_duplicates_dropped": desk.duplicates,
            "lost_across_restart": n_restart - distinct,
        }
    finally:
        hub.close()
        desk.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="Fewer messages (under a minute).")
    ap.add_argument("--json", action="store_true", help="Print one JSON object instead of the table.")
    ap.add_argument("--out", type=Path, default=None, help="Also write the JSON here.")
    ap.add_argument(
        "--synchronous",
        choices=["full", "normal"],
        default=None,
        help="SQLite synchronous mode for the relay's stores (default: whatever Store.open sets).",
    )
    args = ap.parse_args(argv)
    global SYNCHRONOUS
    SYNCHRONOUS = args.synchronous
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        b = EmbeddedBroker("127.0.0.1", free_port())
        b.start()
        try:
            rows.append(bench_broker("amqtt", b.port, b.stop, b.start, tmp, args.quick))
        finally:
            b.stop()
        if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists():
            m = Mosquitto(tmp)
            m.start()
            try:
                rows.append(bench_broker("mosquitto", m.port, m.stop, m.start, tmp, args.quick))
            finally:
                m.stop()
        else:
            print("mosquitto not installed: skipped", file=sys.stderr)
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "quick": args.quick,
        "sqlite_synchronous": args.synchronous or "store default",
        "brokers": rows,
        "lost": sum(r["lost_across_restart"] for r in rows),
        "p99_ok": all(r["latency_p99_ms"] <= 50 for r in rows),
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
        return 0
    cols = ["broker", "latency_p50_ms", "latency_p99_ms", "msgs_per_s", "restart_sent", "lost_across_restart"]
    print(" | ".join(f"{c:>19}" for c in cols))
    for r in rows:
        print(" | ".join(f"{r[c]!s:>19}" for c in cols))
    print(
        f"\n{result['machine']}; targets: p99 <= 50 ms ({'ok' if result['p99_ok'] else 'MISSED'}), "
        f"lost = 0 ({result['lost']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
