"""`proactive memory ...` and `proactive ask` in process, on the hash embedder and a queued LLM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from click.testing import CliRunner

import edge.commands.memory as cmd
from edge.cli import cli, main
from edge.config import Settings, store_path
from edge.memory import open_memory
from edge.store import Store
from tests.doubles import FakeClock, HashEmbedder, QueuedLLM, obs
from tests.memory.conftest import MODELS

EVENTS = [
    "The user writes a Flask route for user login in app.py.",
    "The user searches 'flask session keyerror' in the browser.",
    "The user opens KeePassXC.",
    "The user books a train ticket to Berlin.",
]


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch) -> QueuedLLM:
    llm = QueuedLLM()
    monkeypatch.setattr(cmd, "make_embedder", lambda: HashEmbedder())
    monkeypatch.setattr(cmd, "make_llm", lambda settings: llm)
    st = open_memory(Settings(), clock=FakeClock(), embedder=HashEmbedder())
    for i, e in enumerate(EVENTS):
        o = obs(e, i)
        if "KeePassXC" in e:
            o = type(o)(**{**o.__dict__, "app": "KeePassXC"})
        st.store.add_observation(o, now=1)
        st.remember(o)
    st.close()
    return llm


def run(*args: str) -> Any:
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res


def test_search_json_and_stats(seeded: QueuedLLM) -> None:
    lines = [
        json.loads(x) for x in run("memory", "search", "flask login", "--json", "-k", "2").output.splitlines()
    ]
    assert len(lines) == 2 and all("flask" in x["text"].lower() for x in lines)
    assert {"id", "kind", "score", "recency", "relevance", "importance", "cites"} <= set(lines[0])
    st = json.loads(run("memory", "stats", "--json").output)
    assert st["records"] == 4 and st["by_kind"] == {"observation": 4}
    assert st["index"]["type"] == "flat" and st["index"]["vectors"] == 4 and st["index"]["file_bytes"] > 0
    assert "records: 4" in run("memory", "stats").output


def test_forget_deletes_from_both_stores(seeded: QueuedLLM) -> None:
    assert (
        json.loads(run("memory", "forget", "--app", "keepassxc", "--dry-run", "--json").output)["matched"]
        == 1
    )
    out = json.loads(run("memory", "forget", "--app", "keepassxc", "--json").output)
    assert out == {"matched": 1, "deleted": 1, "dry_run": False}
    st = json.loads(run("memory", "stats", "--json").output)
    assert st["records"] == 3 and st["index"]["vectors"] == 3 and st["index"]["opened"] == "loaded"
    assert "deleted 2 records" in run("memory", "forget", "--match", "flask", "--yes").output
    store = Store.open(store_path())
    assert [o.text for o in store.observations()] == [EVENTS[3]]


def test_forget_errors_exit_2(seeded: QueuedLLM, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["memory", "forget"])
    assert e.value.code == 2 and "no filter" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["memory", "forget", "--before", "last tuesday"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "not a date" in err and "YYYY-MM-DD" in err


def test_reflect_and_ask(seeded: QueuedLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROACTIVE_MEMORY__RESCORE_BATCH", "1")
    seeded.replies += [
        {"rating": 6},
        {"questions": ["What is the user building?"]},
        {"insights": [{"insight": "The user builds a Flask login", "because": [1, 2]}]},
        {"working_on": "A Flask login page", "next": ["fix the session error"]},
        "The user is building a Flask login page.",
    ]
    out = json.loads(run("memory", "reflect", "--json").output)
    assert out["insights"][0]["text"] == "The user builds a Flask login" and out["insights"][0]["cites"]
    assert out["plan"]["text"].startswith("A Flask login page.")
    assert json.loads(run("memory", "stats", "--json").output)["llm_scored"] == 1
    ans = json.loads(run("ask", "What is the user working on?", "--json").output)
    assert ans["answer"] == "The user is building a Flask login page."
    assert ans["plan"].startswith("A Flask login page") and ans["memories"]


@pytest.mark.integration
def test_memory_commands_with_the_real_embedder() -> None:
    if not (MODELS / "model.onnx").exists():
        pytest.skip("models/minilm/model.onnx not built")
    st = open_memory(Settings(), clock=FakeClock())
    for i, e in enumerate(EVENTS):
        st.remember(obs(e, i))
    st.close()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "memory",
            "search",
            "web app authentication problem",
            "--json",
            "-k",
            "2",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    texts = [json.loads(x)["text"] for x in res.stdout.splitlines()]
    assert len(texts) == 2 and all("flask" in t.lower() for t in texts), texts
