"""Pure functions of the lean runtime: quantization, metrics, pixel preparation, file names, atomic files.
Runs on the base install alone (no TensorFlow, no model)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from catdog.runtime.classifier import dequantize, quantize
from catdog.runtime.files import atomic_path
from catdog.runtime.images import prepare
from catdog.runtime.metrics import (
    background_lines,
    check_parity,
    choose_min_probability,
    classification_metrics,
    expected_calibration_error,
    share_interval,
    shown_share,
)
from catdog.runtime.predict import kaggle_id


def test_share_interval_is_wilsons_score_interval():
    assert share_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)  # the textbook worked example
    assert share_interval(0, 10) == pytest.approx((0.0, 1.96**2 / (10 + 1.96**2)))  # not zero-width at 0
    assert share_interval(10, 10) == pytest.approx((10 / (10 + 1.96**2), 1.0))
    low, high = share_interval(2, 88)
    assert low < 2 / 88 < high and high - low > share_interval(200, 8800)[1] - share_interval(200, 8800)[0]
    assert shown_share(2, 88, "photos") == "2.27% (2 of 88 photos, 95% 0.6-7.9%)"


def test_quantize_rounds_offsets_and_clips_and_dequantize_inverts():
    values = np.array([-100.0, -1.26, 0.0, 0.74, 100.0], np.float32)
    q = quantize(values, np.dtype(np.int8), 0.5, -3)
    assert q.dtype == np.int8 and q.tolist() == [-128, -6, -3, -2, 127]
    assert dequantize(q, 0.5, -3).tolist() == [-62.5, -1.5, 0.0, 0.5, 65.0]
    assert quantize(values, np.dtype(np.float32), None, None).tolist() == pytest.approx(values.tolist())
    pixels = np.arange(256, dtype=np.float32)
    assert np.array_equal(quantize(pixels, np.dtype(np.uint8), 1.0, 0), np.arange(256, dtype=np.uint8))


def test_classification_metrics_on_a_worked_example():
    metrics = classification_metrics(["cats", "dogs"], [0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.8) + math.log(0.4)) / 3)
    assert metrics["confusion_matrix"] == [[1, 0], [1, 1]] and metrics["images"] == 3


def sure_of(label: int, confidence: float, count: int) -> list[list[float]]:
    """`count` three-class rows giving `label` the probability `confidence`, the rest split evenly."""
    row = [(1 - confidence) / 2] * 3
    row[label] = confidence
    return [row] * count


def test_the_rule_is_the_smallest_threshold_that_keeps_false_pets_under_the_target():
    # 100 cats (right, at 0.9); of 100 negatives, 98 called "none" and 2 called a cat at 0.62
    probabilities = np.array(sure_of(0, 0.9, 100) + sure_of(2, 0.9, 98) + sure_of(0, 0.62, 2))
    y = [0] * 100 + [2] * 100
    assert choose_min_probability(probabilities, y, 2) == 0.63
    assert choose_min_probability(probabilities, y, 2, target=0.03) == 0.0, "2% is already under 3%"


def test_the_rule_never_costs_the_pets_more_than_a_point():
    # 35 negatives, one of them called a cat at 0.97: a rule above it would call the 50 cats at 0.9 "none"
    probabilities = np.array(sure_of(0, 0.9, 50) + sure_of(0, 0.99, 50) + sure_of(2, 0.8, 34) + sure_of(0, 0.97, 1))
    y = [0] * 100 + [2] * 35
    assert choose_min_probability(probabilities, y, 2) == 0.0, "no threshold within a point gets under 1%"
    assert choose_min_probability(probabilities, y, 2, pet_cost=1.0) == 0.98, "without the budget: above 0.97"


def test_the_background_lines_say_which_share_had_no_photo():
    # 3 negatives, one called a cat at 0.9, and no pet: there is no pet accuracy to give
    probabilities = np.array(sure_of(2, 0.9, 2) + sure_of(0, 0.9, 1))
    metrics = classification_metrics(["cats", "dogs", "none"], [2, 2, 2], probabilities, "none", 0.64)
    assert background_lines(metrics).splitlines() == [
        "pet accuracy - (no pet images)",
        "false pets 33.33% (1 of 3 'none' images, 95% 6.1-79.2%) at min probability 0.64",
    ]


def test_expected_calibration_error_of_a_confident_mistake():
    # two images in the 0.9-confidence bin, one right: |0.5 - 0.9| over all images
    assert expected_calibration_error([0, 1], np.array([[0.9, 0.1], [0.9, 0.1]])) == pytest.approx(0.4)


def test_parity_against_float_probabilities_and_against_float_labels_alone():
    truth = [0, 0, 1, 1]
    reference = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])  # float: 3 of 4 right
    artifact = np.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8], [0.5, 0.5]])  # 2 of 4 right, 3 of 4 agree
    row = check_parity(["cats", "dogs"], truth, artifact, reference, max_drop=30, min_agreement=0.7)
    assert row["float_accuracy"] == 0.75 and row["delta_points"] == pytest.approx(-25)
    assert row["label_agreement"] == 0.75 and row["max_probability_difference"] == pytest.approx(0.4)
    assert row["passed"] and row["problems"] == []
    strict = check_parity(["cats", "dogs"], truth, artifact, reference.argmax(1), max_drop=10, min_agreement=0.8)
    assert strict["max_probability_difference"] is None and not strict["passed"]
    assert strict["problems"] == ["lost 25.00 accuracy points (limit 10)", "label agreement 75.00% (limit 80%)"]
    broken = check_parity(["cats", "dogs"], truth, np.full((4, 2), np.nan), reference)
    assert broken["problems"][0] == "NaN or infinite probabilities"


@pytest.mark.parametrize(
    "name, expected", [("dog.123.jpg", "123"), ("123.jpg", "123"), ("photo.jpg", "photo"), ("cat.7b.png", "cat.7b")]
)
def test_kaggle_id(name, expected):
    from pathlib import Path

    assert kaggle_id(Path(name)) == expected


def test_prepare_gives_rgb_at_the_input_size():
    bgr = np.zeros((40, 60, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's order
    rgb = prepare(bgr, (20, 30))
    assert rgb.shape == (20, 30, 3) and rgb.dtype == np.uint8
    assert (rgb[..., 2] == 200).all() and (rgb[..., :2] == 0).all()
    assert prepare(np.full((8, 8), 7, np.uint8), 4).shape == (4, 4, 3)  # grey frames get three channels


def test_atomic_path_renames_on_success_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "result.txt"
    with atomic_path(target) as temp:
        temp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    with pytest.raises(RuntimeError), atomic_path(target) as temp:
        temp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "done" and sorted(p.name for p in target.parent.iterdir()) == ["result.txt"]
