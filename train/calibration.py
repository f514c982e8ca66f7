"""Temperature scaling: one temperature T fitted on the selection split by minimising log loss, then folded
into the classifier layer (its kernel and bias divided by T), so every exported artifact, int8 included,
gives calibrated probabilities at no cost at inference. Also the reliability diagram."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from catdog.runtime.metrics import ECE_BINS, reliability_bins

CLASSIFIER = "probabilities"  # the name of the softmax Dense layer in every model of train/models.py
TEMPERATURE_RANGE = (0.05, 20.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def log_loss_at(logits: np.ndarray, y_true, temperature: float) -> float:
    """Mean negative log-likelihood of softmax(logits / temperature)."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    top = scaled.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
    return float((log_norm - scaled[np.arange(len(scaled)), np.asarray(y_true, dtype=int)]).mean())


def fit_temperature(logits: np.ndarray, y_true, iterations: int = 80) -> float | None:
    """The temperature in TEMPERATURE_RANGE minimising log loss: golden-section search over 1/T, in which
    the log loss is convex. None when every image is classified right: the log loss then falls without end
    as T shrinks, and the search would only sharpen the model to the range's edge."""
    if (np.argmax(logits, axis=1) == np.asarray(y_true)).all():
        return None
    low, high = 1 / TEMPERATURE_RANGE[1], 1 / TEMPERATURE_RANGE[0]
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(iterations):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if log_loss_at(logits, y_true, 1 / a) <= log_loss_at(logits, y_true, 1 / b):
            high = b
        else:
            low = a
    return float(2 / (low + high))


def predict_logits(model, items, size: int, batch_size: int = 32) -> np.ndarray:
    """The classifier layer's logits (its input times kernel plus bias, before the softmax) on (path, label)
    items, pixels prepared as on the board."""
    import keras

    from catdog.train.data import make_tf_dataset

    layer = model.get_layer(CLASSIFIER)
    features = keras.Model(model.inputs, layer.input)
    kernel, bias = layer.get_weights()
    return features.predict(make_tf_dataset(items, size, batch_size), verbose=0).astype(np.float64) @ kernel + bias


def fold_temperature(model, temperature: float) -> None:
    """Divide the classifier layer's kernel and bias by `temperature`: softmax(logits / T) from then on."""
    layer = model.get_layer(CLASSIFIER)
    layer.set_weights([w / temperature for w in layer.get_weights()])


def plot_reliability(y_true, before: np.ndarray, after: np.ndarray | None, path: Path, title: str) -> None:
    """Reliability diagram (accuracy against confidence per bin) before and after calibration, with the
    share of images per bin below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from catdog.runtime.files import atomic_path
    from catdog.runtime.metrics import expected_calibration_error

    curves = [("uncalibrated", before, "tab:red")] + (
        [("temperature-scaled", after, "tab:blue")] if after is not None else []
    )
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(6, 7), height_ratios=(3, 1), sharex=True)
    top.plot([0, 1], [0, 1], color="gray", linestyle="--", label="perfect calibration")
    width = 1 / ECE_BINS
    for i, (name, probabilities, color) in enumerate(curves):
        bins = [b for b in reliability_bins(y_true, probabilities) if b["count"]]
        ece = expected_calibration_error(y_true, probabilities)
        top.plot(
            [b["confidence"] for b in bins],
            [b["accuracy"] for b in bins],
            "o-",
            color=color,
            label=f"{name} (ECE {ece:.4f})",
        )
        bottom.bar(
            [b["low"] + width * (0.25 + 0.5 * i) for b in bins],
            [b["count"] / len(y_true) for b in bins],
            width=width / 2,
            color=color,
            align="center",
        )
    top.set_ylabel("accuracy in bin")
    top.set_title(title)
    top.grid(alpha=0.3)
    top.legend(loc="upper left")
    bottom.set_yscale("log")
    bottom.set_xlabel(f"confidence (top probability), {ECE_BINS} bins")
    bottom.set_ylabel("share of images")
    bottom.set_xlim(0, 1)
    bottom.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as temp:
        figure.savefig(temp, dpi=100, format="png")
    plt.close(figure)
