"""ActivityWatchSource, probe_server: unit tests on a fake client, integration tests on a real aw-server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from edge.config import ActivityWatchSettings, Settings
from edge.errors import SourceError
from edge.records import Observation
from edge.sources.activitywatch import ActivityWatchSource, bucket_kind, probe_server
from edge.store import Store
from tests.conftest import free_port
from tests.doubles import FakeClock
from tests.sources.conftest import AwServer, Writer, at

PROACTIVE = Path(sys.executable).parent / "proactive"


def settings_for(port: int, **aw: Any) -> Settings:
    return Settings(
        desktop="deskA",
        activitywatch=ActivityWatchSettings(host="127.0.0.1", port=port, testing=True, **aw),
    )


def drain(src: ActivityWatchSource, store: Store, clock: FakeClock) -> list[Observation]:
    """What the hub loop does with a batch: store each observation."""
    batch = src.fetch()
    for o in batch:
        store.add_observation(o, clock.now())
    return batch


# ------------------------------------------------------------------ unit: fake client


class _Ev:
    def __init__(self, timestamp: datetime, duration: float, data: dict[str, Any]) -> None:
        self.timestamp, self.duration, self.data = timestamp, duration, data


class FakeClient:
    """Serves buckets from memory like aw-server (newest first, end >= start); can be switched off."""

    def __init__(self) -> None:
        self.buckets: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[_Ev]] = {}
        self.up = True
        self.calls = 0

    def add(self, bucket: str, btype: str, ev: _Ev) -> None:
        self.buckets.setdefault(bucket, {"id": bucket, "type": btype})
        self.events.setdefault(bucket, []).append(ev)

    def get_buckets(self) -> dict[str, Any]:
        self.calls += 1
        if not self.up:
            raise requests.ConnectionError("connection refused")
        return dict(self.buckets)

    def get_events(self, bucket_id: str, start: datetime | None = None) -> list[_Ev]:
        if not self.up:
            raise requests.ConnectionError("connection refused")
        evs = self.events.get(bucket_id, [])
        if start is not None:
            evs = [e for e in evs if e.timestamp.timestamp() + e.duration >= start.timestamp()]
        return sorted(evs, key=lambda e: e.timestamp, reverse=True)


def test_backoff_raises_once_doubles_and_caps() -> None:
    clock = FakeClock(1_700_000_000.0)
    client = FakeClient()
    client.add(
        "aw-watcher-window_x", "currentwindow", _Ev(at(clock.now(), -30), 5, {"app": "Slack", "title": ""})
    )
    s = settings_for(1, poll_interval_s=10, max_backoff_s=45)
    src = ActivityWatchSource(s, Store.memory(), clock, client=client)
    assert [o.text for o in src.fetch()] == ["The user switches to Slack."]

    client.up = False
    with pytest.raises(SourceError) as err:
        src.fetch()
    assert "127.0.0.1:1" in err.value.msg and "ActivityWatch" in err.value.hint
    delays = []
    for _ in range(5):
        calls = client.calls
        assert src.fetch() == []  # waiting: no request at all
        assert client.calls == calls
        delays.append(src.retry_at - clock.now())
        clock.advance(delays[-1])
        assert src.fetch() == []  # tried again, still down: silent
        assert client.calls == calls + 1
    assert delays == [10, 20, 40, 45, 45]

    client.up = True
    client.add(
        "aw-watcher-window_x", "currentwindow", _Ev(at(clock.now(), -1), 1, {"app": "Zoom", "title": ""})
    )
    clock.advance(src.retry_at - clock.now())
    assert [o.text for o in src.fetch()] == ["The user switches to Zoom."]
    assert not src.down
    client.up = False
    with pytest.raises(SourceError):  # a new outage is reported again
        src.fetch()


def test_lookback_is_a_setting_and_bad_checkpoints_or_events_never_stop_the_source(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(1_700_000_000.0)
    client = FakeClient()
    for off, app in [(-3000, "Slack"), (-1000, "Zoom"), (-100, "Discord")]:
        client.add(
            "aw-watcher-window_x", "currentwindow", _Ev(at(clock.now(), off), 5, {"app": app, "title": ""})
        )
    texts = lambda src: [o.text for o in src.fetch()]  # noqa: E731
    assert texts(ActivityWatchSource(settings_for(1), Store.memory(), clock, client=client)) == [
        "The user switches to Discord."
    ]  # the default first read looks back 600 s
    wide = settings_for(1, lookback_s=2000)
    assert texts(ActivityWatchSource(wide, Store.memory(), clock, client=client)) == [
        "The user switches to Zoom.",
        "The user switches to Discord.",
    ]

    # checkpoints an older version (or a crash mid-write) left unreadable: read the look-back again
    store = Store.memory()
    store.set_checkpoint("aw:deskA:bucket:aw-watcher-window_x", {"last": "yesterday"}, 0)
    store.set_checkpoint("aw:deskA:observer", [1, 2], 0)
    caplog.set_level("WARNING")
    src = ActivityWatchSource(wide, store, clock, client=client)
    assert texts(src) == ["The user switches to Zoom.", "The user switches to Discord."]
    assert texts(src) == [] and not src.down
    assert (
        sum("checkpoint of aw-watcher-window_x is unreadable" in r.getMessage() for r in caplog.records) == 1
    )
    src.commit()
    assert store.get_checkpoint("aw:deskA:bucket:aw-watcher-window_x") == {
        "last": at(clock.now(), -100).isoformat()
    }

    # malformed events from the server are skipped, the good ones read, the source stays up
    late = at(clock.now(), -10)
    client.add("aw-watcher-window_x", "currentwindow", _Ev(late, 1, {"app": "Spotify", "title": ""}))
    served = client.get_events
    bad = [
        {"timestamp": None, "duration": 1, "data": {"app": "Broken"}},
        {"timestamp": "garbage", "duration": 1, "data": {"app": "Broken"}},
        {"timestamp": late.isoformat(), "duration": "long", "data": {"app": "Broken"}},
        {"timestamp": late.isoformat(), "duration": 1, "data": "not an object"},
        "not an event",
    ]
    client.get_events = lambda b, start=None: [*bad, *served(b, start)]  # type: ignore[method-assign]
    assert texts(src) == ["The user switches to Spotify."] and not src.down
    assert any("5 malformed event(s) skipped" in r.getMessage() for r in caplog.records)


def test_bucket_kind() -> None:
    assert bucket_kind("aw-watcher-window_box", None) == "window"
    assert bucket_kind("anything", "afkstatus") == "afk"
    assert bucket_kind("aw-watcher-web-chrome", "web.tab.current") == "web"
    assert bucket_kind("aw-watcher-vscode_box", "app.editor.activity") == "vscode"
    assert bucket_kind("aw-watcher-input_box", "os.hid.input") is None


def test_unmatched_buckets_are_not_read() -> None:
    clock = FakeClock()
    client = FakeClient()
    client.add(
        "aw-watcher-window_x", "currentwindow", _Ev(at(clock.now(), -30), 5, {"app": "Slack", "title": ""})
    )
    src = ActivityWatchSource(
        settings_for(1, buckets=["aw-watcher-afk_*"]), Store.memory(), clock, client=client
    )
    assert src.fetch() == []


def test_probe_unreachable_port() -> None:
    with pytest.raises(SourceError) as err:
        probe_server(ActivityWatchSettings(port=free_port()), timeout_s=1)
    assert "not reachable" in err.value.msg and err.value.hint


# ------------------------------------------------------------------ integration: real aw-server


def _session(w: Writer, base: float) -> None:
    """Two minutes of realistic activity starting at ``base``."""
    w.insert(w.window, at(base, 0), 30, {"app": "Code", "title": "server.py - myproj - Visual Studio Code"})
    w.insert(
        w.vscode,
        at(base, 1),
        28,
        {"language": "python", "project": "/home/ann/myproj", "file": "/home/ann/myproj/server.py"},
    )
    w.insert(
        w.window,
        at(base, 30),
        15,
        {"app": "firefox", "title": "python asyncio timeout - Google Search \u2014 Mozilla Firefox"},
    )
    w.insert(
        w.web,
        at(base, 30.4),
        14,
        {
            "url": "https://www.google.com/search?q=python+asyncio+timeout&client=firefox-b-d",
            "title": "python asyncio timeout - Google Search",
            "audible": False,
            "incognito": False,
        },
    )
    w.insert(
        w.web,
        at(base, 45),
        15,
        {
            "url": "https://docs.python.org/3/library/asyncio-task.html?highlight=timeout#timeouts",
            "title": "Coroutines and Tasks",
            "audible": False,
            "incognito": False,
        },
    )
    w.insert(w.window, at(base, 60), 10, {"app": "KeePassXC", "title": "Passwords.kdbx - KeePassXC"})
    w.insert(w.afk, at(base, 0), 70, {"status": "not-afk"})
    w.insert(w.afk, at(base, 70), 300, {"status": "afk"})
    w.insert(w.afk, at(base, 370), 30, {"status": "not-afk"})


EXPECTED = [
    "The user switches to Visual Studio Code and edits 'server.py' in project 'myproj'.",
    "The user searches Google for 'python asyncio timeout'.",
    "The user reads 'Coroutines and Tasks' on docs.python.org.",
    "The user is away from the computer.",
    "The user returns to the computer.",
]


@pytest.mark.integration
def test_probe_real_server(aw_server: AwServer) -> None:
    info = probe_server(settings_for(aw_server.port).activitywatch)
    assert info.startswith("aw-server v") and "(testing)" in info


@pytest.mark.integration
def test_realistic_session_becomes_observations(aw_server: AwServer, writer: Writer) -> None:
    clock = FakeClock(time.time())
    base = float(int(clock.now()) - 500)
    _session(writer, base)
    store = Store.memory()
    src = ActivityWatchSource(settings_for(aw_server.port), store, clock)
    got = drain(src, store, clock)
    assert [o.text for o in got] == EXPECTED
    assert all(o.desktop == "deskA" and o.source == "aw" for o in got)
    assert [o.ts for o in got] == sorted(o.ts for o in got)
    assert got[0].key == f"{writer.window}@{at(base, 0).isoformat()}"
    assert not any("KeePass" in o.text or "Passwords" in o.text for o in got)
    acts = [o.activity for o in got]
    assert [None if a is None else (a.verb, a.object_kind, a.object_text, a.app_category) for a in acts] == [
        ("edit", "file", "server.py", "editor"),
        ("search", "query", "python asyncio timeout", "browser"),
        ("read", "page", "Coroutines and Tasks", "browser"),
        ("idle", "none", "", "other"),
        ("switch", "none", "", "other"),
    ]
    # durations as the server stored them; gaps between the observations (the KeePass window left none)
    assert [(a.dwell_s, a.gap_s) for a in acts if a] == [
        (30.0, None),
        (15.0, 30.0),
        (15.0, 15.0),
        (300.0, 25.0),
        (30.0, 300.0),
    ]
    assert [a.site_kind for a in acts if a][1:3] == ["search", "docs"]
    assert [o.activity for o in store.recent_observations("deskA", limit=10)] == acts
    assert src.fetch() == []  # nothing new


@pytest.mark.integration
def test_heartbeats_merge_and_rereads_never_duplicate(aw_server: AwServer, writer: Writer) -> None:
    clock = FakeClock(time.time())
    base = float(int(clock.now()) - 120)
    code = {"app": "Code", "title": "server.py - myproj - Visual Studio Code"}
    for t in (0, 5, 10):
        writer.heartbeat(writer.window, at(base, t), code, pulsetime=10)
    assert writer.count(writer.window) == 1  # the server merged the pulses

    store = Store.memory()
    src = ActivityWatchSource(settings_for(aw_server.port), store, clock)
    first = drain(src, store, clock)
    assert [o.text for o in first] == [EXPECTED[0]]

    for t in (15, 20):  # heartbeats extend the same event: nothing new
        writer.heartbeat(writer.window, at(base, t), code, pulsetime=10)
    assert drain(src, store, clock) == []
    term = {"app": "gnome-terminal-server", "title": "ann@box: ~/myproj"}
    writer.heartbeat(writer.window, at(base, 25), term, pulsetime=10)
    writer.heartbeat(writer.window, at(base, 30), term, pulsetime=10)
    second = drain(src, store, clock)
    assert [o.text for o in second] == ["The user switches to the terminal ('ann@box: ~/myproj')."]
    assert store.count("observations") == 2

    # a restarted source on the same store resumes from the checkpoints
    src.commit()
    again = ActivityWatchSource(settings_for(aw_server.port), store, clock)
    assert again.fetch() == []

    # losing every checkpoint re-reads the span: same ids, no new rows
    store.clear_checkpoints()
    fresh = ActivityWatchSource(settings_for(aw_server.port), store, clock)
    reread = drain(fresh, store, clock)
    assert [o.id for o in reread] == [o.id for o in first + second]
    assert store.count("observations") == 2


@pytest.mark.integration
def test_open_afk_event_waits_until_it_is_long_enough(aw_server: AwServer, writer: Writer) -> None:
    clock = FakeClock(time.time())
    base = float(int(clock.now()) - 200)
    writer.heartbeat(writer.afk, at(base, 0), {"status": "not-afk"}, pulsetime=10)
    writer.heartbeat(writer.afk, at(base, 5), {"status": "not-afk"}, pulsetime=10)
    writer.heartbeat(writer.afk, at(base, 6), {"status": "afk"}, pulsetime=10)
    writer.heartbeat(writer.afk, at(base, 16), {"status": "afk"}, pulsetime=20)  # away for 10 s so far
    store = Store.memory()
    src = ActivityWatchSource(settings_for(aw_server.port), store, clock)
    assert drain(src, store, clock) == []
    writer.heartbeat(writer.afk, at(base, 100), {"status": "afk"}, pulsetime=100)  # now 94 s
    got = drain(src, store, clock)
    assert [o.text for o in got] == ["The user is away from the computer."]
    assert got[0].key == f"{writer.afk}@{at(base, 6).isoformat()}"


@pytest.mark.integration
def test_outage_reports_once_backs_off_and_resumes(aw_server: AwServer, writer: Writer) -> None:
    clock = FakeClock(time.time())
    base = float(int(clock.now()) - 300)
    writer.insert(writer.window, at(base, 0), 20, {"app": "Code", "title": "a.py - p - Visual Studio Code"})
    writer.insert(writer.window, at(base, 20), 20, {"app": "Slack", "title": "general"})
    store = Store.memory()
    src = ActivityWatchSource(settings_for(aw_server.port, poll_interval_s=5, max_backoff_s=60), store, clock)
    assert len(drain(src, store, clock)) == 2

    aw_server.stop()
    with pytest.raises(SourceError) as err:
        src.fetch()
    assert f"127.0.0.1:{aw_server.port}" in err.value.msg and err.value.hint
    waits = []
    for _ in range(3):
        assert src.fetch() == []
        waits.append(src.retry_at - clock.now())
        clock.advance(waits[-1])
        assert src.fetch() == []  # a failed retry is silent
    assert waits == [5, 10, 20]

    aw_server.start()
    w2 = Writer(aw_server.port)
    w2.insert(w2.window, at(base, 40), 20, {"app": "firefox", "title": "Asyncio docs \u2014 Mozilla Firefox"})
    w2.insert(w2.window, at(base, 60), 20, {"app": "Code", "title": "a.py - p - Visual Studio Code"})
    assert src.fetch() == []  # still waiting for the retry time
    clock.advance(src.retry_at - clock.now())
    resumed = drain(src, store, clock)
    assert [o.text for o in resumed] == [
        "The user switches to Firefox and reads 'Asyncio docs'.",
        "The user switches to Visual Studio Code and edits 'a.py' in project 'p'.",
    ]
    assert store.count("observations") == 4
    assert drain(src, store, clock) == []


@pytest.mark.integration
def test_a_frozen_server_times_out_once_and_resumes_from_the_checkpoint(
    aw_server: AwServer, writer: Writer
) -> None:
    """SIGSTOP: aw-server accepts connections and never answers. Each read gives up after timeout_s."""
    clock = FakeClock(time.time())
    base = float(int(clock.now()) - 100)
    writer.insert(writer.window, at(base, 0), 20, {"app": "Code", "title": "a.py - p - Visual Studio Code"})
    store = Store.memory()
    aw = settings_for(aw_server.port, timeout_s=1.0, poll_interval_s=5, max_backoff_s=60)
    src = ActivityWatchSource(aw, store, clock)
    assert len(drain(src, store, clock)) == 1
    writer.insert(writer.window, at(base, 20), 20, {"app": "Slack", "title": "general"})
    assert aw_server.proc is not None
    os.kill(aw_server.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        with pytest.raises(SourceError) as err:
            src.fetch()
        assert time.monotonic() - t0 < 3.0  # bounded by timeout_s, not by the freeze
        assert "did not answer within 1 s" in err.value.msg and err.value.hint
        clock.advance(src.retry_at - clock.now())
        t0 = time.monotonic()
        assert src.fetch() == []  # a failed retry: silent, and as bounded
        assert time.monotonic() - t0 < 3.0
    finally:
        os.kill(aw_server.proc.pid, signal.SIGCONT)
    clock.advance(src.retry_at - clock.now())
    assert [o.text for o in drain(src, store, clock)] == ["The user switches to Slack ('general')."]
    assert store.count("observations") == 2 and drain(src, store, clock) == []


# ------------------------------------------------------------------ integration: the CLI


def _cli_env(port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROACTIVE_")}
    env.update(
        PROACTIVE_HOME=os.environ["PROACTIVE_HOME"],
        PROACTIVE_ACTIVITYWATCH__PORT=str(port),
        PROACTIVE_ACTIVITYWATCH__HOST="127.0.0.1",
        **extra,
    )
    return env


@pytest.mark.integration
def test_doctor_reports_unreachable_activitywatch() -> None:
    port = free_port()
    r = subprocess.run(
        [str(PROACTIVE), "doctor", "--json"], env=_cli_env(port), capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2, r.stderr  # a failed check is an expected failure: exit 2
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    aw = checks["activitywatch"]
    assert not aw["ok"] and str(port) in aw["detail"] and "PROACTIVE_ACTIVITYWATCH__PORT" in aw["hint"]

    text = subprocess.run(
        [str(PROACTIVE), "doctor"], env=_cli_env(port), capture_output=True, text=True, timeout=120
    )
    assert text.returncode == 2
    assert "activitywatch: ActivityWatch is not reachable" in text.stdout and "fix:" in text.stdout


@pytest.mark.integration
def test_doctor_reports_reachable_activitywatch(aw_server: AwServer) -> None:
    r = subprocess.run(
        [str(PROACTIVE), "doctor", "--json"],
        env=_cli_env(aw_server.port),
        capture_output=True,
        text=True,
        timeout=120,
    )
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["activitywatch"]["ok"], checks["activitywatch"]
    assert "aw-server v" in checks["activitywatch"]["detail"]


@pytest.mark.integration
def test_run_reads_activitywatch_and_prints_json_lines(aw_server: AwServer, writer: Writer) -> None:
    base = float(int(time.time()) - 120)
    writer.insert(
        writer.window, at(base, 0), 30, {"app": "Code", "title": "server.py - myproj - Visual Studio Code"}
    )
    writer.insert(
        writer.window,
        at(base, 30),
        20,
        {"app": "firefox", "title": "python asyncio timeout - Google Search \u2014 Mozilla Firefox"},
    )
    env = _cli_env(aw_server.port, PROACTIVE_ACTIVITYWATCH__TESTING="true", PROACTIVE_DESKTOP="deskA")
    r = subprocess.run(
        [str(PROACTIVE), "run", "--max-events", "2", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert [d["event"] for d in lines] == [
        "The user switches to Visual Studio Code and edits 'server.py' in project 'myproj'.",
        "The user searches Google for 'python asyncio timeout'.",
    ]
    for d in lines:
        assert set(d) >= {"time", "event", "proposed", "task", "score", "latency_ms"}
        assert abs(float(d["time"]) - base) < 60
    store = Store.open(Path(os.environ["PROACTIVE_HOME"]) / "proactive.db")
    assert store.count("observations") == 2


@pytest.mark.integration
def test_sigterm_commits_the_checkpoint_and_a_restart_repeats_nothing(
    aw_server: AwServer, writer: Writer
) -> None:
    base = float(int(time.time()) - 120)
    writer.insert(writer.window, at(base, 0), 30, {"app": "Code", "title": "a.py - p - Visual Studio Code"})
    writer.insert(writer.window, at(base, 30), 20, {"app": "Slack", "title": "general"})
    env = _cli_env(
        aw_server.port,
        PROACTIVE_ACTIVITYWATCH__TESTING="true",
        PROACTIVE_DESKTOP="deskA",
        PROACTIVE_RELAY__PORT=str(free_port()),
    )
    run = [str(PROACTIVE), "run", "--json"]
    proc = subprocess.Popen(run, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = [json.loads(proc.stdout.readline())["event"] for _ in range(2)]
        time.sleep(0.5)
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0 and "stopped" in err, err
    assert first == [
        "The user switches to Visual Studio Code and edits 'a.py' in project 'p'.",
        "The user switches to Slack ('general').",
    ]
    store = Store.open(Path(os.environ["PROACTIVE_HOME"]) / "proactive.db")
    try:
        cp = store.get_checkpoint(f"aw:deskA:bucket:{writer.window}")
        assert cp == {"last": at(base, 30).isoformat()}  # committed on the way out
    finally:
        store.close()

    # a restart resumes after the checkpoint: only the new event, nothing repeated
    writer.insert(writer.window, at(base, 50), 20, {"app": "Zoom", "title": "standup"})
    r = subprocess.run([*run, "--max-events", "1"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["event"] for line in r.stdout.splitlines()] == [
        "The user switches to Zoom ('standup')."
    ]
