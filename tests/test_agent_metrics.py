from __future__ import annotations

import pytest

from edge.bench.agent_metrics import Confusion, judged_outcome, timing_outcome


def test_hand_computed_case() -> None:
    # 3 TP, 1 FP, 4 TN, 2 FN
    c = Confusion.of(["TP"] * 3 + ["FP"] + ["TN"] * 4 + ["FN"] * 2)  # type: ignore[list-item]
    m = c.metrics()
    assert m["precision"] == pytest.approx(0.75)
    assert m["recall"] == pytest.approx(0.6)
    assert m["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert m["accuracy"] == pytest.approx(0.7)
    assert m["false_alarm"] == pytest.approx(0.25)
    assert m["events"] == 10


def test_empty_and_all_silent() -> None:
    assert Confusion().metrics()["events"] == 0
    assert Confusion().metrics()["f1"] == 0.0
    silent = Confusion.of(["TN", "TN", "FN"]).metrics()
    assert silent["precision"] == 0.0 and silent["false_alarm"] == 0.0 and silent["recall"] == 0.0
    assert silent["accuracy"] == pytest.approx(2 / 3)


def test_outcome_tables() -> None:
    assert [
        timing_outcome(p, h) for p, h in [(True, True), (True, False), (False, True), (False, False)]
    ] == [
        "TP",
        "FP",
        "FN",
        "TN",
    ]
    assert timing_outcome(True, None) is None
    assert [
        judged_outcome(p, v) for p, v in [(True, True), (True, False), (False, True), (False, False)]
    ] == [
        "TP",
        "FP",
        "TN",
        "FN",
    ]
