"""Temperature scaling, folded in only when it is shown to generalise, and the reliability diagram.

One temperature T is fitted on the selection split by minimising the cross-entropy against Platt's regularised
targets (the true class gets (n_c + 1) / (n_c + 2) of the probability, not 1: on a split the model classifies
almost without error the plain log loss has its optimum at T -> 0 or at one or two images' whim, and these
targets give it a finite, stable one). Whether T is folded in is decided by stratified k-fold cross-validation
on that split: T is fitted on k - 1 folds and the plain log loss of the held-out fold measured with it and with
T = 1; only if the fitted temperatures beat T = 1 over all held-out images is T (fitted on the whole split)
divided into the classifier layer's kernel and bias, so every exported artifact, int8 included, gives the
calibrated probabilities at no cost at inference. A model whose calibration would not help is left as it is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from catdog.runtime.metrics import ECE_BINS, reliability_bins

CLASSIFIER = "probabilities"  # the name of the softmax Dense layer in every model of train/models.py
TEMPERATURE_RANGE = (0.05, 20.0)
FOLDS = 10  # cross-validation folds of the selection split (fewer when it has fewer images)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def cross_entropy_at(logits: np.ndarray, targets: np.ndarray, temperature: float) -> np.ndarray:
    """Per image: the cross-entropy of softmax(logits / temperature) against rows of target probabilities."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    top = scaled.max(axis=1, keepdims=True)
    log_probabilities = scaled - top - np.log(np.exp(scaled - top).sum(axis=1, keepdims=True))
    return -(targets * log_probabilities).sum(axis=1)


def one_hot(y_true, classes: int) -> np.ndarray:
    """Labels as rows of 0/1 target probabilities."""
    return np.eye(classes)[np.asarray(y_true, dtype=int)]


def log_loss_at(logits: np.ndarray, y_true, temperature: float) -> float:
    """Mean negative log-likelihood of softmax(logits / temperature)."""
    return float(cross_entropy_at(logits, one_hot(y_true, logits.shape[1]), temperature).mean())


def platt_targets(y_true, classes: int) -> np.ndarray:
    """Platt's regularised targets: an image of class c gives its label (n_c + 1) / (n_c + 2) and the other
    classes 1 / (n_c + 2) between them, n_c being the images of class c (Platt 1999, section 2.2)."""
    y_true = np.asarray(y_true, dtype=int)
    counts = np.bincount(y_true, minlength=classes).astype(np.float64)
    other = 1 / (counts[y_true] + 2) / max(classes - 1, 1)
    targets = np.repeat(other[:, None], classes, axis=1)
    targets[np.arange(len(y_true)), y_true] = (counts[y_true] + 1) / (counts[y_true] + 2)
    return targets


def fit_temperature(logits: np.ndarray, y_true, iterations: int = 80) -> float:
    """The temperature in TEMPERATURE_RANGE minimising the cross-entropy against Platt's targets: golden-section
    search over 1/T, in which it is convex."""
    targets = platt_targets(y_true, logits.shape[1])
    low, high = 1 / TEMPERATURE_RANGE[1], 1 / TEMPERATURE_RANGE[0]
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(iterations):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if cross_entropy_at(logits, targets, 1 / a).mean() <= cross_entropy_at(logits, targets, 1 / b).mean():
            high = b
        else:
            low = a
    return float(2 / (low + high))


def stratified_folds(y_true, folds: int, seed: int) -> np.ndarray:
    """Each image's fold (0 .. folds - 1): seeded shuffle, then dealt out class by class."""
    y_true = np.asarray(y_true, dtype=int)
    order = np.random.default_rng(seed).permutation(len(y_true))
    fold = np.empty(len(y_true), dtype=int)
    for label in np.unique(y_true):
        members = order[y_true[order] == label]
        fold[members] = np.arange(len(members)) % folds
    return fold


@dataclass(frozen=True)
class CalibrationDecision:
    """What the cross-validation found: the temperature fitted on the whole split, the held-out log loss with
    the fold-wise fitted temperatures and with T = 1, and whether the temperature is folded in."""

    fitted: float
    applied: bool
    folds: int
    images: int
    errors: int
    cv_log_loss_fitted: float
    cv_log_loss_uncalibrated: float

    @property
    def temperature(self) -> float | None:
        """The temperature folded into the model, or None."""
        return self.fitted if self.applied else None

    def sentence(self) -> str:
        """One line for the training output: which way it went, and why."""
        verdict = f"folded in T = {self.fitted:.3f}" if self.applied else f"not calibrating (T = {self.fitted:.3f}"
        why = (
            f"{self.folds}-fold cross-validated log loss on the {self.images} selection images "
            f"({self.errors} misclassified): {self.cv_log_loss_uncalibrated:.4f} at T = 1, "
            f"{self.cv_log_loss_fitted:.4f} with fitted temperatures"
        )
        return f"{verdict}: {why}" if self.applied else f"{verdict} would not generalise): {why}"

    def to_dict(self) -> dict:
        return {**asdict(self), "temperature": self.temperature}


def decide_temperature(logits: np.ndarray, y_true, folds: int = FOLDS, seed: int = 0) -> CalibrationDecision:
    """Fit a temperature and decide by stratified k-fold cross-validation whether it generalises (module doc)."""
    y_true = np.asarray(y_true, dtype=int)
    folds = max(2, min(folds, len(y_true)))
    fold = stratified_folds(y_true, folds, seed)
    targets = one_hot(y_true, logits.shape[1])
    held_out_fitted = np.empty(len(y_true))
    for k in range(folds):
        test = fold == k
        if test.any():
            temperature = fit_temperature(logits[~test], y_true[~test])
            held_out_fitted[test] = cross_entropy_at(logits[test], targets[test], temperature)
    fitted_loss = float(held_out_fitted.mean())
    plain_loss = float(cross_entropy_at(logits, targets, 1.0).mean())
    return CalibrationDecision(
        fitted=fit_temperature(logits, y_true),
        applied=fitted_loss < plain_loss,
        folds=folds,
        images=len(y_true),
        errors=int((logits.argmax(axis=1) != y_true).sum()),
        cv_log_loss_fitted=fitted_loss,
        cv_log_loss_uncalibrated=plain_loss,
    )


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
    from catdog.train.plots import pyplot, save_figure

    plt = pyplot()

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
    save_figure(figure, path)
