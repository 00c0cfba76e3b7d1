"""Hub -> companion (console) -> feedback -> adaptation, over each real broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.commands.relay import status_info
from edge.config import Settings
from tests.doubles import response
from tests.relay.conftest import BrokerHandle
from tests.relay.helpers import make_rig, obs, relay_settings

pytestmark = pytest.mark.integration


def test_propose_answer_adapt_cycle(broker: BrokerHandle, tmp_path: Path) -> None:
    rig = make_rig(
        tmp_path,
        broker.port,
        llm_replies=[
            response("Summarise the quarterly report", say="Shall I summarise it?"),
            "- revenue up 4%\n- costs flat",
            response("Write a python script to rename the photos"),
            response("Write a python script that renames photos"),
            response("Make a checklist for the release"),
        ],
        proposal_ttl_s=3.0,
    )
    try:
        c, hub, store = rig.companion, rig.hub, rig.hub.store
        assert hub.feedback is not None

        # 1. activity -> proposal on the console -> accepted -> the LLM writes a summary -> result shown
        c.forward([obs("The user opens quarterly_report.pdf and scrolls for ten minutes", 1, "alice")])
        rig.pump(lambda: len(c.pending) == 1)
        assert "[proposal" in rig.out.getvalue() and "Summarise the quarterly report" in rig.out.getvalue()
        rig.press("a")
        rig.pump(lambda: len(c.results) == 1)
        assert c.results[0]["kind"] == "summary" and "revenue up 4%" in c.results[0]["text"]
        assert "[result" in rig.out.getvalue()
        accepted_prompt = rig.llm.calls[1][-1]["content"]
        assert (
            "Summarise the quarterly report" in accepted_prompt and "quarterly_report.pdf" in accepted_prompt
        )

        # 2. rejected -> a similar task later is suppressed, never sent
        c.forward([obs("The user opens a folder of 300 holiday photos", 2, "alice")])
        rig.pump(lambda: len(c.pending) == 1)
        rig.press("r")
        rig.pump(lambda: store.count("suppressions") == 1)
        c.forward([obs("The user renames IMG_0001.jpg by hand", 3, "alice")])
        rig.pump(lambda: len(rig.decisions) == 3)
        assert rig.decisions[-1].llm_called and not rig.decisions[-1].proposed

        # 3. no answer before expiry -> ignored -> the trigger's bar and the interval rise
        c.forward([obs("The user edits RELEASE_NOTES.md", 4, "alice")])
        rig.pump(lambda: len(c.pending) == 1)
        rig.pump(lambda: not c.pending, timeout=10)  # the companion counts it as ignored at expiry
        rig.pump(lambda: store.verdict_counts().get("ignored") == 1)
        assert "[expired" in rig.out.getvalue()
        st = hub.feedback.status()["desktops"]["alice"]
        # accepted +0.25, rejected -0.25, ignored -0.5
        assert st["trigger_offset"] == pytest.approx(-0.5, abs=0.01)
        assert st["interval_extra_s"] == pytest.approx(120, abs=1)
        assert hub.feedback.adaptation("alice").interval_extra_s == pytest.approx(120, abs=1)

        # 4. the longer interval now holds back the next proposal (before the LLM runs)
        c.forward([obs("The user writes an e-mail about Friday", 5, "alice")])
        rig.pump(lambda: len(rig.decisions) == 5)
        assert not rig.decisions[-1].llm_called and not rig.decisions[-1].proposed

        assert store.verdict_counts() == {"accepted": 1, "ignored": 1, "rejected": 1}
        assert [a for _, a in c.answered] == ["accepted", "rejected", "ignored"]

        # 5. everything is visible in `proactive status --json`
        info = status_info(Settings(relay=relay_settings(broker.port)), tmp_path / "hub.db")
        assert info["feedback"]["desktops"]["alice"]["interval_extra_s"] > 100
        assert info["feedback"]["suppressions"][0]["task"] == "Write a python script to rename the photos"
        assert info["feedback"]["verdicts"] == {"accepted": 1, "rejected": 1, "ignored": 1}
        assert info["results"] == 1
        assert not rig.llm.replies  # every queued reply was used, in order
    finally:
        rig.close()
