"""Expected calibration error, the temperature fit, and folding the temperature into the classifier layer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from catdog.runtime.metrics import ECE_BINS, expected_calibration_error, reliability_bins
from catdog.train.calibration import fit_temperature, log_loss_at, softmax


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


def test_fitted_temperature_recovers_the_one_that_made_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, size=(20000, 2))
    true_temperature = 2.5
    labels = (rng.random(len(logits)) < softmax(logits / true_temperature)[:, 1]).astype(int)
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    best = log_loss_at(logits, labels, fitted)
    assert best < log_loss_at(logits, labels, fitted * 1.1) and best < log_loss_at(logits, labels, fitted / 1.1)
    assert best < log_loss_at(logits, labels, 1.0)


def test_no_temperature_for_a_split_without_an_error():
    logits = np.array([[2.0, -1.0], [0.5, 0.2], [-3.0, 1.0]])
    assert fit_temperature(logits, [0, 0, 1]) is None  # all right: log loss falls without end as T shrinks
    assert log_loss_at(logits, [0, 0, 1], 0.05) < log_loss_at(logits, [0, 0, 1], 0.5)
    assert 0.05 < fit_temperature(logits, [0, 1, 1]) < 20  # one error: a finite optimum


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
    assert config["temperature"] == metrics["temperature"] and 0.05 <= config["temperature"] <= 20
    assert config["chosen_on"] == metrics["chosen_on"] == "selection" and metrics["split"] == "validation"
    assert metrics["selection"]["images"] == config["selection_images"] == 8
    assert set(metrics["before_calibration"]) == {"accuracy", "log_loss", "ece"}
    assert metrics["before_calibration"]["accuracy"] == metrics["accuracy"]  # a temperature never changes a label
    assert (tiny_run / "reliability.png").read_bytes()[:4] == b"\x89PNG"


def test_every_sidecar_records_the_temperature(tiny_run, tiny_export):
    temperature = json.loads((tiny_run / "config.json").read_text())["temperature"]
    sidecars = sorted(tiny_export.glob("model_*.json"))
    assert sidecars and all(json.loads(p.read_text())["source"]["temperature"] == temperature for p in sidecars)
