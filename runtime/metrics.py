"""Classification metrics on predicted probabilities (numpy only, so the board can score itself)."""
from __future__ import annotations

import numpy as np


def classification_metrics(labels: list[str], y_true, probabilities) -> dict:
    """Accuracy, log loss and confusion matrix (rows: true class, columns: predicted)."""
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
        "confusion_matrix": confusion.tolist(),
    }


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
        f"accuracy {metrics['accuracy']:.2%}  log loss {metrics['log_loss']:.4f}  ({metrics['images']} images)",
        "confusion matrix (rows true, columns predicted):",
        " " * width + "".join(f"{label:>{width}}" for label in labels),
    ]
    for label, row in zip(labels, metrics["confusion_matrix"]):
        lines.append(f"{label:>{width}}" + "".join(f"{n:>{width}}" for n in row))
    return "\n".join(lines)
