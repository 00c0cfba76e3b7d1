"""The dashboard's store reads (`Store.proposal_rows`, `Store.stats`, ...) and its formats, without an app."""

from __future__ import annotations

import pytest

from edge.errors import EdgeError
from edge.records import AgentResponse, Anchor, HelpResult
from edge.store import Store
from edge.store.proposals import ProposalFilter
from tests.tui.conftest import HOUR, NOW, add_obs, add_prop
from tui.format import clip, fmt_anchor, fmt_day, fmt_duration, fmt_offset, fmt_score, fmt_time, parse_dates


def test_proposal_rows_filters_and_orders(hub: Store) -> None:
    rows = hub.proposal_rows()
    assert [r.task for r in rows][:2] == ["Explain the traceback and suggest a fix", "Open the test log"]
    assert {r.desktop for r in hub.proposal_rows(ProposalFilter(desktop="laptop"))} == {"laptop"}
    accepted = hub.proposal_rows(ProposalFilter(status="accepted"))
    assert [r.status for r in accepted] == ["accepted", "accepted"]
    assert all(r.answered_at == pytest.approx(r.created_at + 30) for r in accepted)
    start, end = parse_dates("2024-06-02")
    assert [r.task for r in hub.proposal_rows(ProposalFilter(start=start, end=end))] == [
        "Show a groupby example on two columns"
    ]
    assert (
        len(hub.proposal_rows(ProposalFilter(desktop="", status="", limit=2))) == 2
    )  # empty filters filter nothing
    first = rows[0]
    assert first.observation == "The user scrolls the traceback of a failing test in the terminal."
    assert (first.response, first.result, first.answered_at) == ("Want me to look at it?", None, None)


def test_proposal_rows_carry_the_anchor_and_p_help(hub: Store) -> None:
    by = {r.task: r for r in hub.proposal_rows()}
    assert by["Explain the three failing tests"].anchor == Anchor("command", "pytest")
    assert by["Explain the three failing tests"].p_help == pytest.approx(0.71)
    assert (by["Open the test log"].anchor, by["Open the test log"].p_help) == (None, 0.55)
    old = by["Show a groupby example on two columns"]  # stored before the trigger
    assert (old.anchor, old.p_help, old.score) == (None, None, 0.81)


def test_expired_pending_is_shown_expired(hub: Store) -> None:
    by = {r.task: r for r in hub.proposal_rows()}
    assert by["Open the test log"].shown_status(NOW) == "expired"
    assert by["Explain the traceback and suggest a fix"].shown_status(NOW) == "pending"


def test_results_table_is_joined_when_the_feedback_room_has_one(hub: Store) -> None:
    pid = hub.proposal_rows(ProposalFilter(status="accepted"))[0].id
    hub.add_result("r1", HelpResult(pid, "office", "", "snippet", "Use df.groupby(['a', 'b']).", NOW))
    assert hub.proposal_rows(ProposalFilter(status="accepted"))[0].result == "Use df.groupby(['a', 'b'])."


def test_observations_desktops_and_proposed_tasks(hub: Store) -> None:
    obs = hub.observation_rows(limit=2)
    assert [o.text for o in obs] == [
        "The user scrolls the traceback of a failing test in the terminal.",
        "The user opens the banking site and views last month's statement.",
    ]
    assert (obs[1].desktop, obs[1].app) == ("laptop", "firefox")
    assert hub.desktops() == ["laptop", "office"]
    o = add_obs(hub, "The user opens a trace event.", NOW - 5, source="trace", key="7")
    add_prop(hub, o, "Help with the event", NOW - 4, 0.5)
    add_prop(hub, o, "Help with the event again", NOW - 3, 0.5)
    assert hub.proposed_tasks("trace", "7") == ["Help with the event", "Help with the event again"]
    assert hub.proposed_tasks("trace", "8") == []


def test_stats(hub: Store) -> None:
    st = hub.stats(NOW)
    assert st.counts == {"pending": 2, "accepted": 2, "rejected": 1, "ignored": 1}
    assert st.acceptance == pytest.approx(0.5)
    assert sum(st.per_hour) == 5  # the 26-hour-old proposal is outside the last 24 hours
    assert st.per_hour[-1] == 1 and len(st.per_hour) == 24
    assert st.answer_p50 == pytest.approx(30.0)  # ignored answers are not decisions
    assert st.hub_latency_p50_ms is None
    assert st.observations == 6 and st.last_observation_at == pytest.approx(NOW - 0.9 * HOUR)


def test_stats_hub_latency() -> None:
    s = Store.memory()
    o = add_obs(s, "x", NOW - 10)
    for i, ms in enumerate((10.0, 30.0, 20.0)):
        s.add_proposal(
            f"p{i}",
            o,
            AgentResponse("purpose", "thoughts", f"t{i}", ""),
            0.5,
            now=NOW - 5,
            ttl_s=120,
            latency_ms=ms,
        )
    assert s.stats(NOW).hub_latency_p50_ms == pytest.approx(20.0)


def test_parse_dates_range_and_errors() -> None:
    start, end = parse_dates("2024-06-01..2024-06-02")
    assert end is not None and start is not None and end - start == 2 * 24 * HOUR
    assert parse_dates("") == (None, None)
    assert parse_dates("2024-06-01..")[1] is None
    with pytest.raises(EdgeError, match="not a date"):
        parse_dates("yesterday")


def test_formats() -> None:
    assert fmt_time(NOW - 10, NOW) == "07:33:10"
    assert fmt_time(NOW - 30 * HOUR, NOW) == "06-02 01:33" == fmt_day(NOW - 30 * HOUR)
    assert fmt_time(None, NOW) == "-" and fmt_score(None) == "-" and fmt_score(0.456) == "0.46"
    assert [fmt_duration(s) for s in (0.25, 30, 600, 7200, None)] == [
        "250 ms",
        "30 s",
        "10 min",
        "2.0 h",
        "-",
    ]
    assert clip("a  b\nc", 10) == "a b c" and clip("abcdef", 4) == "abc…"
    err = Anchor("error", "KeyError:\n  'x'")
    assert (fmt_anchor(err), fmt_anchor(err, 6), fmt_anchor(None)) == ("error 'KeyError: 'x''", "KeyEr…", "-")
    assert (fmt_offset(0.3), fmt_offset(-0.6), fmt_offset(0.0)) == ("+0.30", "-0.60", "+0.00")
