#!/usr/bin/env python
"""Fault benchmark: a real `proactive run` (the hub, real models) on a real mosquitto, attacked.

* payloads: issue 13's hostile payloads, bad topic names, what only a wire carries (invalid UTF-8,
  CESU surrogates, a 5000-digit integer, an oversized payload), and seeded random mutations of valid
  payloads, published by a raw client; ``hub_crashes`` counts the hub's deaths (target 0; a dead
  hub is started again so the run goes on)
* flood: while the hub is busy in an LLM call, another process publishes N x 10 MB payloads to a
  mosquitto without a size limit (the worst case: the generated configuration refuses them at the
  broker); the hub's RSS is sampled from /proc every 20 ms; ``peak_above_idle_mb`` (target <= 150)
* kill -9: a desktop sends events while the hub is killed at several moments and restarted;
  ``lost`` = sent - stored, ``duplicated`` = stored rows beyond one per event plus extra proposal
  ids per observation (target 0 each)
* verdicts: six verdicts under six ids for one proposal; verdicts stored for it (target 1)

Prints a table; ``--json`` prints one JSON object instead; ``--out FILE`` also writes it.
``--quick`` runs in under a minute.

    .venv/bin/python scripts/bench_faults.py --quick
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.mqtt.payloads import MAX_PAYLOAD  # noqa: E402
from edge.mqtt.topics import KINDS, topic  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.faults import harness as fh  # noqa: E402
from tests.faults.test_hostile_payloads import NAMES, ON_THE_WIRE  # noqa: E402
from tests.relay.conftest import MOSQUITTO, Mosquitto  # noqa: E402
from tests.relay.test_hostile import HOSTILE, activity, raw  # noqa: E402
from tests.test_fuzz import valid_payload  # noqa: E402

WEIRD: list[Any] = [None, True, 1, -1, 1e308, "", " ", "\ud800", "x" * 5000, [1, 2], {"a": {"b": []}}, "abc"]


def mutations(n: int, seed: int = 13) -> Iterator[tuple[str, bytes]]:
    """``n`` seeded mutations of valid payloads of every kind: fields replaced, dropped or added."""
    rnd = random.Random(seed)
    for _ in range(n):
        kind = rnd.choice(KINDS)
        p = valid_payload(kind)
        target = p["observation"] if kind == "activity" and rnd.random() < 0.5 else p
        for _ in range(rnd.randint(1, 3)):
            key = rnd.choice([*target, "extra"])
            if rnd.random() < 0.3:
                target.pop(key, None)
            else:
                target[key] = rnd.choice(WEIRD)
        text = json.dumps(p, ensure_ascii=rnd.random() < 0.5)
        yield topic("alice", kind), text.encode("utf-8", "surrogatepass")


def start_mosquitto(root: Path) -> Mosquitto:
    """mosquitto on a free loopback port, anonymous, no size limit (as the tests' fixture)."""
    if MOSQUITTO is None:
        raise SystemExit("mosquitto is not installed (apt-get install -y mosquitto)")
    port = free_port()
    conf = root / f"mosquitto-{port}.conf"
    root_user = ["user root"] if os.geteuid() == 0 else []
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false", *root_user]
    conf.write_text("\n".join(lines) + "\n")
    m = Mosquitto(conf, port, root / "mosquitto.log")
    m.start()
    return m


class Sampler:
    """The hub's VmRSS every ``every`` seconds while running, in MB."""

    def __init__(self, hub: fh.HubProcess, every: float = 0.02) -> None:
        self.hub, self.every = hub, every
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_mb = max(self.peak_mb, self.hub.rss_kb() / 1024)
            except (OSError, RuntimeError, AssertionError):
                return
            time.sleep(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def flood_publisher(port: int, count: int, mb: int) -> None:
    """The flood, in its own process (``--flood-publisher``): ``count`` payloads of ``mb`` MB, QoS 1."""
    c = fh.raw_client(port, "flood")
    blob = b"{" + b" " * (mb * 1_000_000) + b"}"
    for _ in range(count):
        fh.publish(c, topic("alice", "activity"), blob, timeout=60)
    fh.close(c)


def payloads_and_flood(
    root: Path, broker: Mosquitto, n_random: int, flood: int, flood_mb: int
) -> dict[str, Any]:
    hub = fh.HubProcess(root / "hub-a", broker.port)
    hub.start()
    desk = fh.Desktop(root, "alice", broker.port)
    crashes, tried = 0, 0
    try:
        warm = fh.QUIET.format(i="warm")
        desk.send(warm, 0)
        hub.wait_decided([warm], 60, desk.pump)
        time.sleep(1.0)
        idle_mb = hub.rss_kb() / 1024

        # hostile payloads
        attacker = fh.raw_client(broker.port, "attacker")
        batch = [(t, data) for t, data, _ in HOSTILE.values()]
        batch += [(topic(name, "activity"), raw(activity(desktop=name))) for name in NAMES]
        batch += list(ON_THE_WIRE.values())
        batch += list(mutations(n_random))
        oversized_before = sum(1 for _, data in batch if len(data) > MAX_PAYLOAD)
        for t, data in batch:
            fh.publish(attacker, t, data)
            tried += 1
            if not hub.alive:
                crashes += 1
                hub.stop()  # records its exit code
                hub.start()
        fh.close(attacker)
        after = fh.QUIET.format(i="after-payloads")
        desk.send(after, 1)
        hub.wait_decided([after], 60, desk.pump)

        # six verdicts for one proposal, each under its own id
        asked = fh.SEARCH.format(q="pandas merge on two columns")
        desk.send(asked, 2)
        fh.wait_for(
            lambda: any(p["event"] == asked for p in desk.proposals.values()), 60, "a proposal", desk.pump
        )
        (pid,) = [i for i, p in desk.proposals.items() if p["event"] == asked]
        fh.raw_verdicts(broker.port, "alice", pid, ["rejected", "accepted", "ignored"] * 2)

        # the flood, from another process, while the hub is busy in an LLM call
        busy = fh.SEARCH.format(q="pandas merge with suffixes")
        desk.send(busy, 3)
        desk.flush()
        fh.wait_for(lambda: hub.decided(asked) > 0, 60, "the proposal decided", desk.pump)
        idle_mb = min(idle_mb, hub.rss_kb() / 1024)
        t0 = time.monotonic()
        with Sampler(hub) as sampler:
            cmd = [sys.executable, __file__, "--flood-publisher", str(broker.port), str(flood), str(flood_mb)]
            subprocess.run(cmd, check=True, timeout=300)
            flood_s = time.monotonic() - t0
            last = fh.QUIET.format(i="after-flood")
            desk.send(last, 4)
            hub.wait_decided([busy, last], 120, desk.pump)
        if not hub.alive:
            crashes += 1
        hub.stop()
    finally:
        fh.tear_down(hub, desk)
    f = fh.hub_figures(hub.store_file)
    drops = f.inbound.get("proactive-hub-hub", {}).get("drops", {})
    return {
        "payloads_tried": tried,
        "drops": drops,
        "hub_crashes": crashes,
        "hub_exit_codes": hub.runs,
        "verdicts_sent": 6,
        "verdicts_stored": sum(f.verdicts.values()),  # the other proposals were not answered
        "proposal_status": f.statuses.get(pid),
        "adaptations_per_verdict_kind": max(f.adaptations.values(), default=0),
        "flood": {
            "payloads": flood,
            "mb_each": flood_mb,
            "seconds": round(flood_s, 1),
            "dropped_oversized": drops.get("oversized", 0) - oversized_before,
            "idle_rss_mb": round(idle_mb, 1),
            "peak_rss_mb": round(sampler.peak_mb, 1),
            "peak_above_idle_mb": round(sampler.peak_mb - idle_mb, 1),
        },
    }


def kill9(root: Path, broker: Mosquitto, events: int, kills: int) -> dict[str, Any]:
    hub = fh.HubProcess(root / "hub-b", broker.port)
    hub.start()
    desk = fh.Desktop(root, "bob", broker.port)
    sent = [
        fh.SEARCH.format(q=f"how to merge dataframes, case {i}") if i % 4 == 1 else fh.QUIET.format(i=i)
        for i in range(events)
    ]
    every = max(1, events // (kills + 1))
    try:
        for i, text in enumerate(sent):
            desk.send(text, i)
        desk.flush()
        for k in range(1, kills + 1):
            fh.wait_for(
                lambda k=k: sum(1 for e in sent if hub.decided(e)) >= k * every, 120, "decisions", desk.pump
            )
            online = desk.hub_states.count("online")
            hub.kill9()
            hub.start()
            fh.wait_for(lambda o=online: desk.hub_states.count("online") > o, 30, "the hub back", desk.pump)
        last = fh.QUIET.format(i="last")
        desk.send(last, events)
        hub.wait_decided([last], 120, desk.pump)
        hub.stop()
    finally:
        fh.tear_down(hub, desk)
    f = fh.hub_figures(hub.store_file)
    stored = [e for e in sent if f.observations.get(e)]
    per_obs: dict[str, set[str]] = {}
    for p in desk.proposals_seen:
        per_obs.setdefault(p["observation_id"], set()).add(p["id"])
    return {
        "events": events,
        "kills": kills,
        "lost": len(sent) - len(stored),
        "duplicated": sum(n - 1 for n in f.observations.values())
        + sum(len(ids) - 1 for ids in f.proposals.values())
        + sum(len(ids) - 1 for ids in per_obs.values()),
        "undecided_at_a_kill": sum(1 for e in sent if not hub.decided(e)),
        "hub_exit_codes": hub.runs,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="Fewer payloads and events (under a minute).")
    ap.add_argument("--json", action="store_true", help="Print one JSON object instead of the table.")
    ap.add_argument("--out", type=Path, help="Also write the JSON object to this file.")
    ap.add_argument("--flood-publisher", nargs=3, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.flood_publisher:
        flood_publisher(*args.flood_publisher)
        return 0
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    n_random, events, kills = (40, 8, 2) if args.quick else (400, 24, 4)
    logging.getLogger("edge").setLevel(logging.ERROR)  # the desktop's drop lines (random payloads)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        root = Path(tmp)
        os.environ["XDG_CONFIG_HOME"] = str(root / "config")  # no user config file
        broker = start_mosquitto(root)
        try:
            result: dict[str, Any] = {
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                f"Python {platform.python_version()}",
                "broker": "mosquitto (no message_size_limit)",
                **payloads_and_flood(root, broker, n_random, flood=100, flood_mb=10),
                "kill9": kill9(root, broker, events, kills),
            }
        finally:
            broker.stop()
    result["seconds"] = round(time.monotonic() - t0, 1)
    text = json.dumps(result)
    if args.out:
        args.out.write_text(text + "\n")
    if args.json:
        print(text)
        return 0
    fl, k9 = result["flood"], result["kill9"]
    rows = [
        ("payloads tried (hostile + names + wire + random)", result["payloads_tried"], ""),
        ("hub crashes", result["hub_crashes"], "0"),
        ("verdicts stored for one proposal sent 6", result["verdicts_stored"], "1"),
        (
            f"flood {fl['payloads']} x {fl['mb_each']} MB: idle RSS / peak RSS (MB)",
            f"{fl['idle_rss_mb']} / {fl['peak_rss_mb']}",
            "",
        ),
        ("flood: peak above idle (MB)", fl["peak_above_idle_mb"], "<= 150"),
        (
            f"kill -9 x {k9['kills']} over {k9['events']} events: lost / duplicated",
            f"{k9['lost']} / {k9['duplicated']}",
            "0 / 0",
        ),
    ]
    for name, value, target in rows:
        print(f"{name:<62} {value!s:>18} {target:>8}")
    print(f"({result['machine']}; {result['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
