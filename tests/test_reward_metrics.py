from __future__ import annotations

import pytest

from edge.reward_metrics import category, category_code, reward_metrics


def test_hand_computed_case() -> None:
    # rows: (valid, predicted, category)
    rows = [
        (False, False, "Missed-Need (MN)"),  # MN agree
        (False, True, "Missed-Need (MN)"),  # MN disagree -> FP
        (True, True, "Correct-Rejection (CR)"),  # TP
        (True, True, "Correct-Detection (CD)"),  # TP
        (True, False, "Correct-Detection (CD)"),  # FN
        (True, False, "Correct-Detection (CD)"),  # FN
        (False, False, "False-Alarm (FA)"),  # TN
        (False, True, "False-Alarm (FA)"),  # FP
    ]
    m = reward_metrics([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    assert m["MN"] == pytest.approx(1 / 2)
    assert m["CR"] == pytest.approx(1.0)
    assert m["CD"] == pytest.approx(1 / 3)
    assert m["FA"] == pytest.approx(1 / 2)
    # TP=2, FP=2, FN=2, TN=2
    assert m["accuracy"] == pytest.approx(4 / 8)
    assert m["precision"] == pytest.approx(2 / 4)
    assert m["recall"] == pytest.approx(2 / 4)
    assert m["f1"] == pytest.approx(0.5)
    assert m["rows"] == 8


def test_uneven_precision_recall() -> None:
    # TP=3, FP=1, FN=2, TN=1 -> P=0.75, R=0.6, F1=2*.45/1.35=0.6667
    valid = [True, True, True, False, True, True, False]
    pred = [True, True, True, True, False, False, False]
    cats = ["CD", "CD", "CR", "FA", "CD", "CR", "MN"]
    m = reward_metrics(valid, pred, cats)
    assert m["precision"] == pytest.approx(0.75)
    assert m["recall"] == pytest.approx(0.6)
    assert m["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert m["accuracy"] == pytest.approx(4 / 7)
    assert m["CD"] == pytest.approx(2 / 3)
    assert m["CR"] == pytest.approx(1 / 2)
    assert m["FA"] == 0.0
    assert m["MN"] == 1.0


def test_no_positive_predictions_and_missing_category() -> None:
    m = reward_metrics([True, False], [False, False], ["CD", "FA"])
    assert m["precision"] == 0.0 and m["recall"] == 0.0 and m["f1"] == 0.0
    assert m["MN"] is None and m["CR"] is None
    assert m["accuracy"] == 0.5


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        reward_metrics([True], [True, False], ["CD", "CD"])
    with pytest.raises(ValueError):
        category_code("Something else")


def test_category_of_a_judged_row() -> None:
    assert category(None, True) == "Correct-Rejection (CR)"  # silence was right
    assert category(None, False) == "Missed-Need (MN)"
    assert category("Explain the error.", True) == "Correct-Detection (CD)"
    assert category("Explain the error.", False) == "False-Alarm (FA)"
    assert {category_code(category(t, v)) for t in (None, "x") for v in (True, False)} == {
        "MN",
        "CR",
        "CD",
        "FA",
    }
