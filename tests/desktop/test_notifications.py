"""`proactive desktop --name test` (native mode) against a hub, on a real desktop (Xvfb, D-Bus, dunst).

Each test runs the companion as a process with the desktop's environment and a
one-event trace, and a hub (QueuedLLM, no reward gate) serving the embedded
broker in this process. Answers are given through dunst's own menu
(`NotificationServer.choose`), so the path from the server's ActionInvoked
signal to the hub's feedback table is the real one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.config import Settings
from edge.hub import Hub
from edge.records import feedback_id
from tests.conftest import free_port
from tests.desktop.conftest import NotificationServer, wait_for
from tests.doubles import QueuedLLM, response

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TASK = "Summarise notes.md"


@dataclass
class Desk:
    """A hub and one native companion process called ``test`` on the notification server."""

    hub: Hub
    proc: subprocess.Popen[str]
    server: NotificationServer

    def pump(self, until: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for o in self.hub.tick(0.05):
                self.hub.loop.step(o)
            got = until()
            if got:
                return got
        raise AssertionError(f"timed out waiting for {what}; companion stderr so far:\n{self.stderr()}")

    def proposal(self) -> dict[str, Any]:
        return self.pump(lambda: self.hub.store.proposals(desktop="test"), 30, "the proposal")[0]

    def feedback(self, pid: str) -> dict[str, Any] | None:
        return self.hub.store.get_feedback(feedback_id(pid))

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


@pytest.fixture
def desk(
    notification_server: NotificationServer, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Desk]:
    ttl = getattr(request, "param", 60.0)
    trace = tmp_path / "t.json"
    trace.write_text(
        json.dumps({"name": "t", "events": [{"time": "1717377990.0", "event": "The user opens notes.md"}]})
    )
    port = free_port()
    settings = Settings(
        relay={"broker": "embedded", "host": "127.0.0.1", "port": port, "proposal_ttl_s": ttl},
        trigger={"enabled": False},
        # the hub itself would mark an expired proposal ignored only long after the test: an
        # "ignored" seen here comes from the companion
        feedback={"expiry_grace_s": 600},
    )
    llm = QueuedLLM([response(TASK, say="Want a summary?"), "- one\n- two"])
    hub = Hub(settings, db_path=tmp_path / "hub.db", llm=llm, use_gate=False, serve=True)
    notes = hub.start(connect_timeout_s=10)
    assert hub.relay is not None and hub.relay.connected, notes
    env = {
        **notification_server.env,
        "PROACTIVE_HOME": str(tmp_path / "desk"),
        "PROACTIVE_RELAY__HOST": "127.0.0.1",
        "PROACTIVE_RELAY__PORT": str(port),
    }
    cmd = [sys.executable, "-m", "edge.cli", "desktop", "--name", "test", "--trace", str(trace)]
    proc = subprocess.Popen(
        [*cmd, "--max-seconds", "90"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        yield Desk(hub, proc, notification_server)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        hub.close()


def offered(desk: Desk, label: str) -> list[str]:
    """Wait for the proposal's notification, choose ``label`` from dunst's menu; the action lines offered."""
    wait_for(lambda: desk.server.displayed() >= 1, 20, "the proposal's notification")
    return desk.server.choose(label)


def test_a_proposal_is_a_notification_with_accept_and_reject_and_accepting_shows_the_result(
    desk: Desk,
) -> None:
    p = desk.proposal()
    lines = offered(desk, "Accept")
    summary = f"(Help: {TASK})"
    assert any(line.startswith(f"#Accept {summary} [") for line in lines), lines
    assert any(line.startswith(f"#Reject {summary} [") for line in lines), lines
    fb = desk.pump(lambda: desk.feedback(p["id"]), 20, "the feedback")
    assert (fb["verdict"], fb["desktop"]) == ("accepted", "test")
    assert fb["created_at"] < p["expires_at"]
    # the accepted task's result, sent by the hub, is a second notification on the desktop
    desk.pump(lambda: desk.server.seen() >= 2, 20, "the result's notification")
    desk.server.ctl("close-all")
    shown = wait_for(lambda: desk.server.history(), 10, "dunst's history")
    assert [n["summary"] for n in shown] == [f"Done: {TASK}", f"Help: {TASK}"]
    assert shown[0]["body"] == "- one\n- two"
    assert shown[1]["body"] == "Want a summary?"  # no anchor: the hub runs without the trigger
    assert {n["appname"] for n in shown} == {"proactive-edge"}


def test_rejecting_from_the_notification_sends_rejected(desk: Desk) -> None:
    p = desk.proposal()
    assert any(line.startswith("#Reject (Help: ") for line in offered(desk, "Reject"))
    fb = desk.pump(lambda: desk.feedback(p["id"]), 20, "the feedback")
    assert (fb["verdict"], fb["desktop"]) == ("rejected", "test")
    time.sleep(1.0)  # no result follows a rejection
    desk.server.ctl("close-all")
    assert desk.hub.store.count("results") == 0
    shown = wait_for(lambda: desk.server.history(), 10, "dunst's history")
    assert [n["summary"] for n in shown] == [f"Help: {TASK}"]


@pytest.mark.parametrize("desk", [8.0], indirect=True)
def test_an_unanswered_proposal_is_ignored_at_expiry_and_its_notification_withdrawn(desk: Desk) -> None:
    p = desk.proposal()
    wait_for(lambda: desk.server.displayed() >= 1, 20, "the proposal's notification")
    fb = desk.pump(lambda: desk.feedback(p["id"]), 20, "the feedback")
    assert (fb["verdict"], fb["desktop"]) == ("ignored", "test")
    assert p["expires_at"] <= fb["created_at"] < p["expires_at"] + 5
    # dunst keeps proposals on screen (the test's rule): the companion took it away
    wait_for(lambda: desk.server.displayed() == 0, 5, "the notification to be withdrawn")
    assert [n["summary"] for n in desk.server.history()] == [f"Help: {TASK}"]


@pytest.mark.parametrize("desk", [8.0], indirect=True)
def test_a_notification_closed_without_an_answer_counts_as_ignored_when_the_proposal_expires(
    desk: Desk,
) -> None:
    p = desk.proposal()
    wait_for(lambda: desk.server.displayed() >= 1, 20, "the proposal's notification")
    desk.server.ctl("close")  # the user closes it: dunst reports it dismissed, nobody answered
    assert desk.server.displayed() == 0
    assert [n["summary"] for n in desk.server.history()] == [f"Help: {TASK}"]
    # nothing is sent before the proposal expires...
    desk.pump(lambda: time.time() >= p["expires_at"] - 0.5 or desk.feedback(p["id"]), 15, "the expiry")
    assert desk.feedback(p["id"]) is None
    # ...then the companion counts it as ignored (the hub's own sweep waits 600 s more)
    fb = desk.pump(lambda: desk.feedback(p["id"]), 10, "the feedback")
    assert (fb["verdict"], fb["desktop"]) == ("ignored", "test")
    assert p["expires_at"] <= fb["created_at"] < p["expires_at"] + 5
