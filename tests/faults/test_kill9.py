"""kill -9 of a real `proactive run` at the moments that matter, then a restart on the same directory.

Nothing is lost (every observation a desktop sent is decided and stored), nothing is duplicated
(stored once, at most one proposal per observation, however often it is decided), and a verdict
counts once. The desktops are companions on the same broker with their own outbox: what the broker
acknowledged to them is theirs to send again when the hub comes back online (`RelayCore.resend_to`).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.conftest import Served
from tests.faults.harness import (
    QUIET,
    SEARCH,
    Desktop,
    HubProcess,
    hub_figures,
    raw_verdicts,
    tear_down,
    wait_for,
)

pytestmark = pytest.mark.integration


def assert_each_once(hub: HubProcess, desk: Desktop, sent: list[str]) -> None:
    """Stop the hub (SIGTERM: a clean exit): every event sent was stored exactly once; at most one
    proposal id per observation, in the store and on the desktop (a redelivery carries the same id)."""
    assert hub.stop() == 0, hub.stderr()[-3000:]
    f = hub_figures(hub.store_file)
    assert f.observations == {e: 1 for e in sent}, f.observations
    assert all(len(ids) == 1 for ids in f.proposals.values()), f.proposals
    per_obs: dict[str, set[str]] = {}
    for p in desk.proposals_seen:
        per_obs.setdefault(p["observation_id"], set()).add(p["id"])
    assert all(len(ids) == 1 for ids in per_obs.values()), per_obs
    assert set(per_obs) <= set(f.proposals)
    assert "Traceback" not in hub.stderr()


def restart(hub: HubProcess, desk: Desktop) -> None:
    """Start the hub again and wait until the desktop saw it online (and queued its resend)."""
    online = desk.hub_states.count("online")
    hub.start()
    wait_for(lambda: desk.hub_states.count("online") > online, 30, "the hub online again", desk.pump)
    desk.pump(0.2)


def test_kill_9_mid_stream_loses_and_repeats_nothing(served: Served, tmp_path: Path) -> None:
    """Twelve events sent at once; the hub is killed while it works through them (one decision in
    progress, the rest waiting in its backlog, all acknowledged to the broker already). After the
    restart all are stored once, and all but the one in progress are decided; that one is stored
    undecided (`HubLink.deciding`)."""
    hub = served.hub(tmp_path)
    hub.start()
    desk = Desktop(tmp_path, "alice", served.port)
    try:
        sent = [
            SEARCH.format(q=f"how to merge dataframes step {i}") if i % 4 == 1 else QUIET.format(i=i)
            for i in range(12)
        ]
        for i, text in enumerate(sent):
            desk.send(text, i)
        desk.flush()
        hub.wait_decided(sent[:2], 60, desk.pump)  # the first search was decided: the LLM runs again
        time.sleep(0.5)
        first_run = [e for e in sent if hub.decided(e)]
        hub.kill9()
        assert len(first_run) < len(sent) - 1, "the hub was nearly done when killed: nothing was tested"
        restart(hub, desk)
        last = QUIET.format(i=100)  # sent after the resend: decided after everything resent
        desk.send(last, 100)
        hub.wait_decided([last], 90, desk.pump)
        undecided = [e for e in sent if not hub.decided(e)]
        assert len(undecided) <= 1, undecided
        assert all(hub.decided(e) == 1 for e in first_run), "decided before the kill, not again after"
        assert_each_once(hub, desk, [*sent, last])
        assert hub.runs == [-9, 0]
    finally:
        tear_down(hub, desk)


def test_kill_9_with_a_proposal_pending_and_after_its_verdict(served: Served, tmp_path: Path) -> None:
    """Killed while a proposal waits for its answer, and again while the accepted task is carried out:
    the proposal is not made twice, the verdict counts once, later verdicts under new ids are ignored."""
    hub = served.hub(tmp_path)
    hub.start()
    desk = Desktop(tmp_path, "alice", served.port)
    try:
        event = SEARCH.format(q="pandas merge on two columns")
        desk.send(event, 0)
        wait_for(lambda: bool(desk.proposals), 60, "the proposal", desk.pump)
        (pid,) = desk.proposals
        hub.kill9()  # pending: the desktop has it, nobody answered
        restart(hub, desk)
        # the desktop answers while the hub is busy again: it saw the hub come back online
        desk.answer(pid, "accepted")
        desk.flush()
        time.sleep(0.3)
        hub.kill9()  # the verdict arrived; the task may be in progress
        restart(hub, desk)
        raw_verdicts(served.port, "alice", pid, ["rejected", "ignored", "accepted", "rejected"])
        follow = QUIET.format(i=99)  # decided after the verdicts: they were all handled by then
        desk.send(follow, 1)
        hub.wait_decided([follow], 60, desk.pump)
        assert_each_once(hub, desk, [event, follow])
        f = hub_figures(hub.store_file)
        assert [pid] in f.proposals.values()
        assert f.statuses[pid] == "accepted" and f.verdicts == {"accepted": 1}
        assert all(n == 1 for n in f.adaptations.values()), f.adaptations
        assert f.results <= 1
        assert hub.runs == [-9, -9, 0]
    finally:
        tear_down(hub, desk)
