"""Classification metrics on predicted probabilities (numpy only, so the board can score itself)."""
from __future__ import annotations

import numpy as np

ECE_BINS = 15  # confidence bins of the expected calibration error and the reliability diagram


def classification_metrics(labels: list[str], y_true, probabilities) -> dict:
    """Accuracy, log loss, expected calibration error and confusion matrix (rows: true class, columns:
    predicted)."""
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities.argmax(axis=1)
    picked = np.clip(probabilities[np.arange(len(y_true)), y_true], 1e-7, 1.0)
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    np.add.at(confusion, (y_true, predicted), 1)
    return {
        "labels": list(labels),
        "images": int(len(y_true)),
        "accuracy": float((predicted == y_true).mean()),
        "log_loss": float(-np.log(picked).mean()),
        "ece": expected_calibration_error(y_true, probabilities),
        "confusion_matrix": confusion.tolist(),
    }


def reliability_bins(y_true, probabilities, bins: int = ECE_BINS) -> list[dict]:
    """Images binned by confidence (the top probability) in `bins` equal-width bins over [0, 1]:
    each bin's image count, mean confidence and accuracy (empty bins: count 0, the others None)."""
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence, correct = probabilities.max(axis=1), probabilities.argmax(axis=1) == y_true
    which = np.minimum((confidence * bins).astype(int), bins - 1)  # confidence 1.0 goes in the last bin
    result = []
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        result.append({"low": b / bins, "high": (b + 1) / bins, "count": count,
                       "confidence": float(confidence[inside].mean()) if count else None,
                       "accuracy": float(correct[inside].mean()) if count else None})
    return result


def expected_calibration_error(y_true, probabilities, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the image-weighted mean |accuracy - confidence| over confidence bins."""
    total = len(y_true)
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"])
                     for b in reliability_bins(y_true, probabilities, bins) if b["count"])) if total else 0.0


def agreement(reference, probabilities) -> dict:
    """How closely one model's probabilities follow a reference model's on the same images."""
    reference, probabilities = np.asarray(reference), np.asarray(probabilities)
    return {
        "label_agreement": float((reference.argmax(1) == probabilities.argmax(1)).mean()),
        "max_probability_difference": float(np.abs(reference - probabilities).max()),
    }


def format_metrics(metrics: dict) -> str:
    """Accuracy, log loss and the confusion matrix as a few readable lines."""
    labels = metrics["labels"]
    width = max(8, *(len(label) for label in labels))
    lines = [
        f"accuracy {metrics['accuracy']:.2%}  log loss {metrics['log_loss']:.4f}  ECE {metrics['ece']:.4f}  "
        f"({metrics['images']} images)",
        "confusion matrix (rows true, columns predicted):",
        " " * width + "".join(f"{label:>{width}}" for label in labels),
    ]
    for label, row in zip(labels, metrics["confusion_matrix"]):
        lines.append(f"{label:>{width}}" + "".join(f"{n:>{width}}" for n in row))
    return "\n".join(lines)
