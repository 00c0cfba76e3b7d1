"""The companion's UIs show what a proposal is about when the hub says, and work without it (older hub)."""

from __future__ import annotations

import io
from typing import Any

from edge.desktop import ConsoleUI, notification

NOW = 1_700_000_000.0


def proposal(**extra: Any) -> dict[str, Any]:
    """A proposal payload as an older hub sent it (no anchor, no p_help), plus ``extra``."""
    return {
        "schema": 1,
        "id": "p1",
        "desktop": "alice",
        "task": "Find an answer to 'pandas groupby'",
        "response": "Shall I look it up?",
        "created_at": NOW,
        "expires_at": NOW + 60,
        **extra,
    }


def shown(p: dict[str, Any]) -> list[str]:
    out = io.StringIO()
    ConsoleUI(out=out, inp=io.StringIO()).show_proposal(p, NOW)
    return out.getvalue().splitlines()


def test_the_console_shows_the_anchor_with_the_proposal() -> None:
    lines = shown(proposal(anchor={"kind": "query", "text": "pandas  groupby\n"}, p_help=0.7))
    assert lines == [
        "[proposal p1] Find an answer to 'pandas groupby'  "
        "(about: the search query 'pandas groupby'; a=accept r=reject i=ignore; expires in 60 s)",
        "    Shall I look it up?",
    ]


def test_the_console_shows_a_proposal_without_anchor_as_before() -> None:
    expected = [
        "[proposal p1] Find an answer to 'pandas groupby'  (a=accept r=reject i=ignore; expires in 60 s)",
        "    Shall I look it up?",
    ]
    assert shown(proposal()) == expected
    assert shown(proposal(anchor=None, p_help=None)) == expected
    assert shown(proposal(anchor="pandas groupby")) == expected


def test_a_long_anchor_is_clipped() -> None:
    (first, _) = shown(proposal(anchor={"kind": "error", "text": "E" * 300}))
    assert "(about: the error 'EEE" in first and "E…'" in first and len(first) < 200


def test_the_notification_names_the_anchor_when_there_is_one() -> None:
    title, message = notification(proposal(anchor={"kind": "file", "text": "report.py"}))
    assert title == "Help: Find an answer to 'pandas groupby'"
    assert message == "Shall I look it up?\n(about the file 'report.py')"
    assert notification(proposal(response="")) == (title, "Find an answer to 'pandas groupby'")
