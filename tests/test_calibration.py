"""Expected calibration error, the temperature fit, the cross-validated rule that decides whether to fold it in,
and folding it into the classifier layer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from catdog.runtime.metrics import ECE_BINS, expected_calibration_error, reliability_bins
from catdog.train.calibration import decide_temperature, fit_temperature, log_loss_at, softmax


def test_ece_by_hand():
    # Ten images at confidence 0.9: nine right is perfect calibration, ten right is 0.1 under-confident.
    probabilities = np.tile([0.9, 0.1], (10, 1))
    assert expected_calibration_error([0] * 9 + [1], probabilities) == pytest.approx(0.0)
    assert expected_calibration_error([0] * 10, probabilities) == pytest.approx(0.1)
    # Two bins: 0.6 (all 4 right: gap 0.4) and 1.0 (in the last bin; 1 of 2 right: gap 0.5).
    probabilities = np.array([[0.6, 0.4]] * 4 + [[0.0, 1.0]] * 2)
    assert expected_calibration_error([0, 0, 0, 0, 1, 0], probabilities) == pytest.approx(4 / 6 * 0.4 + 2 / 6 * 0.5)
    bins = reliability_bins([0, 0, 0, 0, 1, 0], probabilities)
    assert len(bins) == ECE_BINS and [b["count"] for b in bins if b["count"]] == [4, 2]
    assert bins[-1]["accuracy"] == 0.5 and bins[9]["confidence"] == pytest.approx(0.6)  # 0.6 lies in [9/15, 10/15)


def two_class_logits(margins, y_true) -> np.ndarray:
    """Logits giving each image's true class `margin` more than the other."""
    logits = np.zeros((len(y_true), 2))
    logits[np.arange(len(y_true)), y_true] = np.asarray(margins) / 2
    logits[np.arange(len(y_true)), 1 - np.asarray(y_true)] = -np.asarray(margins) / 2
    return logits


def test_overconfident_model_is_calibrated_and_the_temperature_recovered():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, size=(20000, 2))
    true_temperature = 2.5
    labels = (rng.random(len(logits)) < softmax(logits / true_temperature)[:, 1]).astype(int)
    assert fit_temperature(logits, labels) == pytest.approx(true_temperature, rel=0.05)
    # On a selection split's 200 images the rule sees that the temperature generalises and folds it in.
    decision = decide_temperature(logits[:200], labels[:200])
    assert decision.applied and decision.temperature == decision.fitted and decision.fitted > 1.5
    assert decision.cv_log_loss_fitted < decision.cv_log_loss_uncalibrated
    assert log_loss_at(logits[200:], labels[200:], decision.fitted) < log_loss_at(logits[200:], labels[200:], 1.0)


def test_one_confident_error_does_not_sharpen_the_model():
    # 199 confident right answers and one confident error: the plain log loss of these 200 images is lowest
    # at a temperature well under 1 (what the old rule folded in: the default model was sharpened to T = 0.37),
    # which makes every error on unseen images far more costly.
    rng = np.random.default_rng(0)
    y_true = np.array([0] * 100 + [1] * 100)
    margins = np.abs(rng.normal(6, 2, 200) - 0.2) + 0.2
    margins[7] = -0.5
    logits = two_class_logits(margins, y_true)
    assert log_loss_at(logits, y_true, 0.45) < log_loss_at(logits, y_true, 1.0)  # the plain fit would sharpen
    decision = decide_temperature(logits, y_true)
    assert not decision.applied and decision.temperature is None and decision.errors == 1
    assert decision.cv_log_loss_fitted > decision.cv_log_loss_uncalibrated
    assert "not calibrating" in decision.sentence() and "1 misclassified" in decision.sentence()


def test_a_split_without_an_error_has_a_finite_temperature_and_keeps_the_model():
    logits = two_class_logits([4.0, 0.3, 4.0, 2.0], [0, 0, 1, 1])
    assert log_loss_at(logits, [0, 0, 1, 1], 0.05) < log_loss_at(logits, [0, 0, 1, 1], 0.5)  # plain: T -> 0
    assert 0.05 < fit_temperature(logits, [0, 0, 1, 1]) < 20  # Platt's targets: a finite optimum
    assert not decide_temperature(logits, [0, 0, 1, 1]).applied


def test_folded_model_gives_softmax_of_logits_over_temperature(tiny_run):
    import keras

    from catdog.train.calibration import fold_temperature, predict_logits
    from catdog.train.evaluate import predict_probabilities

    split = json.loads((tiny_run / "split.json").read_text())
    items = [tuple(item) for item in split["validation"][:16]]
    model = keras.models.load_model(tiny_run / "model.keras", compile=False)
    logits = predict_logits(model, items, 96)
    assert np.allclose(predict_probabilities(model, items, 96), softmax(logits), atol=1e-5)
    fold_temperature(model, 3.0)
    assert np.allclose(predict_probabilities(model, items, 96), softmax(logits / 3.0), atol=1e-5)
    assert not np.allclose(softmax(logits / 3.0), softmax(logits), atol=1e-3)  # folding changed something


def test_run_records_temperature_and_the_split_of_every_number(tiny_run):
    config = json.loads((tiny_run / "config.json").read_text())
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    calibration = metrics["calibration"]
    assert config["temperature"] == metrics["temperature"] == calibration["temperature"]
    assert calibration["applied"] == (calibration["temperature"] is not None) and 0.05 <= calibration["fitted"] <= 20
    assert calibration["images"] == 8 and calibration["folds"] == 8  # leave-one-out on 8 images
    assert config["chosen_on"] == metrics["chosen_on"] == "selection" and metrics["split"] == "validation"
    assert metrics["selection"]["images"] == config["selection_images"] == 8
    assert set(metrics["before_calibration"]) == {"accuracy", "log_loss", "ece"}
    assert metrics["before_calibration"]["accuracy"] == metrics["accuracy"]  # a temperature never changes a label
    assert (tiny_run / "reliability.png").read_bytes()[:4] == b"\x89PNG"


def test_every_sidecar_records_the_temperature(tiny_run, tiny_export):
    temperature = json.loads((tiny_run / "config.json").read_text())["temperature"]
    sidecars = sorted(tiny_export.glob("model_*.json"))
    assert sidecars and all(json.loads(p.read_text())["source"]["temperature"] == temperature for p in sidecars)
