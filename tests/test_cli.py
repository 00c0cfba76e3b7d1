"""The `proactive` command as a user runs it: a subprocess, real exit codes, real stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import store_path
from edge.records import Observation
from edge.store import Store
from tests.conftest import SHARED_DATA


def proactive(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


def seed_store() -> None:
    s = Store.open(store_path())
    s.add_observation(Observation(text="The user kept this.", time="1", desktop="d"), now=1.0)
    s.close()


def assert_store_intact() -> None:
    s = Store.open(store_path())
    assert [o.text for o in s.observations()] == ["The user kept this."]


def one_line_error(r: subprocess.CompletedProcess[str], needle: str) -> None:
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("Error: ") and needle in r.stderr
    assert "Hint: " in r.stderr and "Traceback" not in r.stderr


def test_malformed_trace(tmp_path: Path) -> None:
    seed_store()
    bad = tmp_path / "bad.json"
    bad.write_text('{"events": [{"time": "1"}]}')
    one_line_error(proactive("replay", str(bad), "--json"), "missing or empty 'event'")
    assert_store_intact()


def test_missing_model_file(tmp_path: Path) -> None:
    seed_store()
    r = proactive(
        "replay",
        str(SHARED_DATA / "traces" / "code_11.json"),
        env={"PROACTIVE_LLM__MODEL_PATH": str(tmp_path / "x.gguf")},
    )
    one_line_error(r, "does not exist")
    assert_store_intact()


def test_a_bad_trigger_model_is_one_line_with_a_hint(tmp_path: Path) -> None:
    seed_store()
    bad = tmp_path / "trigger.json"
    bad.write_text("{broken")
    env = {"PROACTIVE_TRIGGER__MODEL_PATH": str(bad)}
    one_line_error(
        proactive(
            "run",
            "--no-relay",
            "--source",
            "trace",
            "--trace",
            str(SHARED_DATA / "traces" / "code_11.json"),
            env=env,
        ),
        "not valid JSON",
    )
    r = proactive(
        "doctor", "--json", env={**env, "PROACTIVE_TRIGGER__MODEL_PATH": str(tmp_path / "gone.json")}
    )
    assert r.returncode == 2
    trigger = next(c for c in json.loads(r.stdout)["checks"] if c["name"] == "trigger")
    assert (
        not trigger["ok"] and "missing" in trigger["detail"] and "proactive trigger train" in trigger["hint"]
    )
    assert_store_intact()


def test_unknown_config_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[agent]\nwindw = 3\n")
    one_line_error(proactive("--config", str(cfg), "config"), "agent.windw")
    one_line_error(proactive("config", env={"PROACTIVE_LLM__TREADS": "2"}), "llm.treads")


def test_missing_config_file(tmp_path: Path) -> None:
    one_line_error(proactive("--config", str(tmp_path / "none.toml"), "config"), "does not exist")


def test_config_defaults_lists_every_section() -> None:
    r = proactive("config", "--defaults")
    assert r.returncode == 0
    for section in ("[llm]", "[activitywatch]", "[privacy]", "[agent]"):
        assert section in r.stdout


@pytest.mark.integration
def test_replay_json_lines_with_the_real_model() -> None:
    r = proactive("replay", str(SHARED_DATA / "traces" / "code_11.json"), "--json", "--max-events", "2")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert {"time", "event", "proposed", "task", "score", "latency_ms"} <= set(line)
        assert isinstance(line["proposed"], bool) and line["latency_ms"] > 0
        assert line["activity"]["verb"] in ("edit", "search", "type", "open_app")
        assert 0 <= line["p_help"] <= 1
    assert lines[1]["anchor"] == {"kind": "query", "text": "How to capitalize person name in ruby?"}
    # replay keeps what it saw in the store
    assert Store.open(store_path()).count("observations") == 2


def test_the_console_shows_p_help_and_the_anchor() -> None:
    from edge.commands.common import trigger_line
    from edge.records import Anchor, Decision

    o = Observation(text="The user searches Google for 'x'.", time="1")

    def d(**kw: object) -> Decision:
        return Decision(observation=o, proposed=False, task=None, score=None, latency_ms=1.0, **kw)  # type: ignore[arg-type]

    assert trigger_line(d()) == ""
    assert trigger_line(d(p_help=0.19, p_threshold=0.47)) == "P(help)=0.19 < 0.47"
    assert trigger_line(d(p_help=0.8, p_threshold=0.47, anchor=Anchor("query", "x"))) == (
        "P(help)=0.80 >= 0.47 · anchor: query 'x'"
    )


def test_an_invalid_privacy_regex_is_caught_by_config_doctor_and_run(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[privacy]\nexclude_title_patterns = ["(?i)bank", "(unclosed"]\n')
    why = "pattern 1 '(unclosed' is not a valid regular expression: missing ), unterminated subpattern"
    r = proactive("--config", str(cfg), "config")
    one_line_error(r, "privacy.exclude_title_patterns")
    assert why in r.stderr

    # doctor: a failed check (not an error exit without the others, not a traceback)
    r = proactive("--config", str(cfg), "doctor", "--json")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    report = json.loads(r.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert not report["ok"] and not checks["config"]["ok"] and why in checks["config"]["detail"]
    assert checks["config"]["hint"] and checks["data directory"]["ok"]
    r = proactive("--config", str(cfg), "doctor")
    assert r.returncode == 2 and "[FAIL] config: " in r.stdout and "Traceback" not in r.stderr

    trace = SHARED_DATA / "traces" / "code_11.json"
    r = proactive("--config", str(cfg), "run", "--source", "trace", "--trace", str(trace), "--no-relay")
    one_line_error(r, "privacy.exclude_title_patterns")
    assert "re.error" not in r.stderr
