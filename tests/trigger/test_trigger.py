"""The trigger: window features, the model file, the training procedure, the runtime and the online rule."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edge.errors import ModelError
from edge.records import Observation
from edge.sources.trace import load_trace, session_seconds, trace_files
from edge.trigger.features import FEATURES, INDEX, WINDOW, TriggerEvent, window_features
from edge.trigger.model import TriggerModel, default_model_path, keyword_model, load_trigger
from edge.trigger.online import OnlineRule, OnlineState
from edge.trigger.runtime import Trigger
from edge.trigger.train import fit_model, loso, prepare, training_sessions
from tests.conftest import SHARED_DATA

REAL = ("code_11", "code_12", "code_13", "code_15", "writing_11", "writing_13", "writing_14", "writing_16")


def ev(text: str, t: float | None = None) -> TriggerEvent:
    return TriggerEvent.of(text, t)


def obs(text: str, i: int, desktop: str = "d1", ts: float | None = None) -> Observation:
    t = 1_700_000_000.0 + 10 * i if ts is None else ts
    return Observation(text=text, time=str(t), ts=t, desktop=desktop, source="t", key=str(i))


@pytest.fixture(scope="module")
def sessions() -> list:
    traces = [load_trace(f) for f in trace_files(SHARED_DATA / "traces")]
    return training_sessions(traces, SHARED_DATA / "reward_train.jsonl")


def test_simulated_day_clocks_parse_and_cross_midnight() -> None:
    assert session_seconds(["Day 1, 11:50 PM", "Day 1, 12:00 AM", "1717377997.0", "soon"]) == [
        85800.0,
        86400.0,
        1717377997.0,
        None,
    ]


def test_features_have_the_declared_shape_and_are_causal() -> None:
    win = [
        ev("The user edits 'a.py' in Visual Studio Code.", 0.0),
        ev("The user searches Google for 'x'.", 5.0),
    ]
    x = window_features(win, 1)
    assert x.shape == (len(FEATURES),) and np.array_equal(x, window_features(win, 1))
    later = [*win, ev("The user reads 'y'.", 9.0)]
    assert np.array_equal(window_features(later[:2], 1), x)  # an event never sees its future
    assert window_features([], 0).sum() == 0


def test_struggle_signals_are_read_from_the_structure() -> None:
    first = ev("The user searches Google for 'numpy argsort descending'.", 0.0)
    again = ev("The user searches Google for 'numpy argsort descending order'.", 30.0)
    x = window_features([first, again], 1)
    assert x[INDEX["search"]] == 1 and x[INDEX["rephrase"]] == 1 and x[INDEX["new_query"]] == 0
    assert x[INDEX["prev_search"]] == 1 and x[INDEX["n_search"]] == 2 and x[INDEX["kw"]] == 1
    chat = window_features([ev("The user asks DeepSeek how to sort a list.")], 0)
    assert chat[INDEX["chat"]] == 1 and chat[INDEX["first"]] == 1


def test_the_shipped_model_loads_and_matches_its_training(sessions: list) -> None:
    shipped = load_trigger()
    assert default_model_path().stat().st_size < 5 * 1024 * 1024
    retrained = fit_model(prepare(sessions))
    assert retrained.meta["config"] == shipped.meta["config"]
    assert np.allclose(retrained.weights, shipped.weights, atol=1e-6)
    assert retrained.threshold == pytest.approx(shipped.threshold, abs=1e-6)


def test_leave_one_session_out_reproduces_the_model_card(sessions: list) -> None:
    """The honest procedure of models/trigger.md: F1 0.627, false alarm 0.360 on the 8 real traces."""
    models = loso(sessions, REAL)
    by_name = {s.name: s for s in sessions}
    tp = fp = fn = 0
    for name, model in models.items():
        assert name not in model.meta["trained_on"]
        s = by_name[name]
        pred = model.logits(s.matrix()) >= model.threshold
        y = np.array(s.labels, dtype=bool)
        tp, fp, fn = tp + int((pred & y).sum()), fp + int((pred & ~y).sum()), fn + int((~pred & y).sum())
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert (tp, fp, fn) == (32, 18, 20) and f1 == pytest.approx(0.627, abs=1e-3)


def test_a_missing_corrupt_or_mismatched_model_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        load_trigger(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_trigger(bad)
    data = json.loads(default_model_path().read_text())
    bad.write_text(json.dumps({**data, "features": data["features"][:-1]}))
    with pytest.raises(ModelError, match="other features"):
        load_trigger(bad)
    bad.write_text(json.dumps({**data, "bias": "NaN"}))
    with pytest.raises(ModelError, match="not finite"):
        load_trigger(bad)
    bad.write_text(json.dumps({**data, "weights": {"no_such_feature": 1.0}}))
    with pytest.raises(ModelError, match="malformed"):
        load_trigger(bad)


def test_a_saved_model_loads_back(tmp_path: Path) -> None:
    model = keyword_model()
    model.save(tmp_path / "kw.json")
    back = load_trigger(tmp_path / "kw.json")
    assert np.array_equal(back.weights, model.weights) and back.threshold == model.threshold


def test_runtime_keeps_one_window_per_desktop_and_counts_a_redelivery_once() -> None:
    trig = Trigger(keyword_model())
    assert trig.assess(obs("The user searches Google for 'x'.", 0)).fire
    assert not trig.assess(obs("The user reads 'y'.", 1, desktop="d2")).fire  # d2 has no search
    again = obs("The user reads 'z'.", 2)
    first = trig.assess(again)
    assert trig.assess(again) == first  # the same observation replaces itself
    assert not first.fire and first.p_help == pytest.approx(keyword_model().p_help(0.0))


def test_runtime_offsets_move_the_bar() -> None:
    text = "The user searches Google for 'x'."
    assert not Trigger(keyword_model()).assess(obs(text, 0), offset=-0.6).fire
    assert not Trigger(keyword_model(), offset=-0.6).assess(obs(text, 0)).fire
    assert Trigger(keyword_model()).assess(obs("The user reads 'y'.", 0), offset=0.6).fire


def test_a_long_gap_starts_a_new_session() -> None:
    model = TriggerModel(np.eye(len(FEATURES))[INDEX["first"]], 0.0, 0.5)  # fires on a session's first event
    trig = Trigger(model, session_gap_s=600)
    assert trig.assess(obs("a", 0, ts=0.0)).fire
    assert not trig.assess(obs("b", 1, ts=100.0)).fire
    assert trig.assess(obs("c", 2, ts=1000.0)).fire


def test_the_window_is_bounded() -> None:
    trig = Trigger(keyword_model())
    for i in range(WINDOW + 5):
        trig.assess(obs(f"The user reads '{i}'.", i))
    assert len(trig._windows["d1"].events) == WINDOW


def test_online_rule_is_bounded_decays_and_follows_the_answers() -> None:
    rule = OnlineRule(accepted_step=0.5, rejected_step=-0.5, ignored_step=-1.0, bound=1.5, half_life_s=100.0)
    st = OnlineState()
    for t in range(5):
        st = rule.update(st, "ignored", float(t))
    assert st.offset == pytest.approx(-1.5, abs=0.05) and st.offset >= -1.5
    assert rule.current(st, st.updated_at + 100.0) == pytest.approx(st.offset / 2)
    up = rule.update(OnlineState(), "accepted", 0.0)
    assert up.offset == 0.5 and rule.update(up, "rejected", 0.0).offset == 0.0
    assert rule.update(up, "unknown", 0.0).offset == 0.5


def test_trace_observations_carry_their_structure() -> None:
    t = load_trace(SHARED_DATA / "traces" / "code_11.json")
    first, second = t.observations[0], t.observations[1]
    assert first.activity is not None and first.activity.gap_s is None
    assert second.activity is not None and second.activity.verb == "search"
    assert second.activity.gap_s == pytest.approx(3.744, abs=1e-3)
    assert replace(second, activity=None).id == second.id  # the structure is not part of the id
