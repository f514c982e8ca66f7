"""Classification metrics on predicted probabilities (numpy only, so the board can score itself)."""

from __future__ import annotations

import numpy as np

ECE_BINS = 15  # confidence bins of the expected calibration error and the reliability diagram
FALSE_PET_TARGET = 0.01  # the default decision rule keeps the selection split's false pets under this share...
PET_COST = 0.01  # ...unless that costs its pets more than this share of accuracy


def decide(probabilities, labels: list[str], background: str | None = None, min_probability: float = 0.0):
    """The decision rule, as class indices: each row's most probable class, except that a class other than the
    `background` label below `min_probability` becomes the background. Without one, the most probable class."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities.argmax(axis=1)
    if background not in labels:
        return predicted
    index = labels.index(background)
    too_unsure = (predicted != index) & (probabilities.max(axis=1) < min_probability)
    return np.where(too_unsure, index, predicted)


def classification_metrics(
    labels: list[str], y_true, probabilities, background: str | None = None, min_probability: float = 0.0
) -> dict:
    """Accuracy, log loss, expected calibration error and confusion matrix (rows: true class, columns:
    predicted by `decide`). With a `background` label: also pet accuracy (the share of images of the other
    classes given their class; "none" is wrong) and the false-pet rate (the share of background images given
    another class), at `min_probability`."""
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = decide(probabilities, labels, background, min_probability)
    picked = np.clip(probabilities[np.arange(len(y_true)), y_true], 1e-7, 1.0)
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    np.add.at(confusion, (y_true, predicted), 1)
    metrics = {
        "labels": list(labels),
        "images": int(len(y_true)),
        "accuracy": float((predicted == y_true).mean()),
        "log_loss": float(-np.log(picked).mean()),
        "ece": expected_calibration_error(y_true, probabilities),
        "confusion_matrix": confusion.tolist(),
    }
    if background in labels:
        index = labels.index(background)
        pets, negatives = y_true != index, y_true == index
        metrics |= {
            "background": background,
            "min_probability": min_probability,
            "pet_images": int(pets.sum()),
            "pet_accuracy": float((predicted[pets] == y_true[pets]).mean()) if pets.any() else None,
            "negative_images": int(negatives.sum()),
            "false_pet_rate": float((predicted[negatives] != index).mean()) if negatives.any() else None,
        }
    return metrics


def choose_min_probability(
    probabilities, y_true, background: int, target: float = FALSE_PET_TARGET, pet_cost: float = PET_COST, cap=0.99
) -> float:
    """The smallest rule threshold (on a 0.01 grid, at most `cap`; 0: the most probable class as it is) that keeps
    the share of background images called another class under `target`, among those that cost the pets at most
    `pet_cost` of accuracy against the most probable class; if none of those meets `target`, the smallest with
    the fewest background images called another class. Without that budget a few negatives a model is sure are
    pets would push the rule up until it calls many pets "none"."""
    probabilities, y_true = np.asarray(probabilities, dtype=np.float64), np.asarray(y_true, dtype=int)
    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    pets = y_true != background
    best, fewest, pet_accuracy = 0.0, np.inf, None
    for threshold in np.round(np.arange(0.0, cap + 0.005, 0.01), 2):
        decided = np.where((predicted != background) & (confidence < threshold), background, predicted)
        accuracy = (decided[pets] == y_true[pets]).mean() if pets.any() else 1.0
        pet_accuracy = accuracy if pet_accuracy is None else pet_accuracy  # the most probable class's
        if accuracy < pet_accuracy - pet_cost - 1e-9:
            break
        false_pets = (decided[~pets] != background).mean() if (~pets).any() else 0.0
        if false_pets < fewest:
            best, fewest = float(threshold), false_pets
        if false_pets < target:
            break
    return best


def reliability_bins(y_true, probabilities, bins: int = ECE_BINS) -> list[dict]:
    """Images binned by confidence (the top probability) in `bins` equal-width bins over [0, 1]:
    each bin's image count, mean confidence and accuracy (empty bins: count 0, the others None)."""
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence, correct = probabilities.max(axis=1), probabilities.argmax(axis=1) == y_true
    # confidence 1.0 goes in the last bin; a non-finite one (a broken artifact) in the first
    which = np.minimum(np.nan_to_num(confidence * bins, posinf=0, neginf=0).astype(int), bins - 1)
    result = []
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        result.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "count": count,
                "confidence": float(confidence[inside].mean()) if count else None,
                "accuracy": float(correct[inside].mean()) if count else None,
            }
        )
    return result


def expected_calibration_error(y_true, probabilities, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the image-weighted mean |accuracy - confidence| over confidence bins."""
    total = len(y_true)
    return (
        float(
            sum(
                b["count"] / total * abs(b["accuracy"] - b["confidence"])
                for b in reliability_bins(y_true, probabilities, bins)
                if b["count"]
            )
        )
        if total
        else 0.0
    )


def share_interval(count: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's score interval (95% at z 1.96) for the share count / total: how far a share measured on a few
    photos may be from the share on every photo like them. Unlike the share plus or minus z standard errors, it
    stays inside [0, 1] and is not zero-width at 0 or total (Brown, Cai and DasGupta 2001 recommend it for small
    samples)."""
    share, scale = count / total, z * z / total
    centre = (share + scale / 2) / (1 + scale)
    half = z * np.sqrt(share * (1 - share) / total + scale / (4 * total)) / (1 + scale)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def shown_share(count: int, total: int, of: str = "") -> str:
    """A share with its count and 95% interval, as reports print it: 2.27% (2 of 88 photos, 95% 0.6-7.9%)."""
    low, high = share_interval(count, total)
    return f"{count / total:.2%} ({count} of {total}{of and ' ' + of}, 95% {100 * low:.1f}-{high:.1%})"


def format_metrics(metrics: dict) -> str:
    """Accuracy, log loss and the confusion matrix as a few readable lines."""
    labels = metrics["labels"]
    width = max(8, *(len(label) for label in labels))
    lines = [
        f"accuracy {metrics['accuracy']:.2%}  log loss {metrics['log_loss']:.4f}  ECE {metrics['ece']:.4f}  "
        f"({metrics['images']} images)",
        *([background_lines(metrics)] if metrics.get("background") else []),
        "confusion matrix (rows true, columns predicted):",
        " " * width + "".join(f"{label:>{width}}" for label in labels),
    ]
    for label, row in zip(labels, metrics["confusion_matrix"]):
        lines.append(f"{label:>{width}}" + "".join(f"{n:>{width}}" for n in row))
    return "\n".join(lines)


def background_lines(metrics: dict) -> str:
    """Pet accuracy and false-pet rate with their counts and 95% intervals at the rule they were measured at, a
    line each."""

    def shown(share: float | None, total: int, of: str) -> str:
        return f"- (no {of})" if share is None else f"{shown_share(round(share * total), total, of)} {rule}"

    rule = f"at min probability {metrics['min_probability']:g}"
    negatives = f"{metrics['background']!r} images"
    return (
        f"pet accuracy {shown(metrics['pet_accuracy'], metrics['pet_images'], 'pet images')}\n"
        f"false pets {shown(metrics['false_pet_rate'], metrics['negative_images'], negatives)}"
    )


def check_parity(
    labels: list[str],
    y_true,
    probabilities,
    reference,
    max_drop: float = 1.0,
    min_agreement: float = 0.98,
    background: str | None = None,
    min_probability: float = 0.0,
) -> dict:
    """An artifact held against the float model on the same images, the one parity check that catdog-export
    and the benchmark both apply. `reference` is the float model's probabilities (N, classes) or, where only
    those were kept (a board with no TensorFlow), its predicted classes (N,). Returns the artifact's metrics,
    delta_points (accuracy points against the float model), label_agreement (a fraction), the largest
    probability difference (None without reference probabilities), the limits, `problems` (why it fails, if
    it does: non-finite probabilities, more than max_drop points lost, less than min_agreement agreement)
    and `passed`. Labels are compared as `decide` gives them (every class, the background included, at the
    rule `background` and `min_probability`), which also adds pet accuracy and false-pet rate."""
    probabilities, reference = np.asarray(probabilities, dtype=np.float64), np.asarray(reference)
    rule = (labels, background, min_probability)
    reference_labels = decide(reference, *rule) if reference.ndim == 2 else reference.astype(int)
    metrics = classification_metrics(labels, y_true, probabilities, background, min_probability)
    float_accuracy = float((reference_labels == np.asarray(y_true, dtype=int)).mean())
    largest_difference = float(np.abs(reference - probabilities).max()) if reference.ndim == 2 else None
    row = {
        **metrics,
        "float_accuracy": float_accuracy,
        "delta_points": (metrics["accuracy"] - float_accuracy) * 100,
        "label_agreement": float((decide(probabilities, *rule) == reference_labels).mean()),
        "max_probability_difference": largest_difference,
        "finite": bool(np.isfinite(probabilities).all()),
        "max_drop": max_drop,
        "min_agreement": min_agreement,
    }
    problems = [] if row["finite"] else ["NaN or infinite probabilities"]
    if -row["delta_points"] > max_drop:
        problems.append(f"lost {-row['delta_points']:.2f} accuracy points (limit {max_drop:g})")
    if row["label_agreement"] < min_agreement:
        problems.append(f"label agreement {row['label_agreement']:.2%} (limit {min_agreement * 100:g}%)")
    return {**row, "problems": problems, "passed": not problems}


def latency_stats(milliseconds) -> dict:
    """Median, 90th percentile, mean and minimum of timings in milliseconds, and how many there were: the
    one summary of timings that catdog-predict, catdog-cam, --backend auto and the benchmark report."""
    ms = np.asarray(milliseconds, dtype=np.float64)
    return {
        "count": int(ms.size),
        "median_ms": float(np.median(ms)),
        "p90_ms": float(np.percentile(ms, 90)),
        "mean_ms": float(ms.mean()),
        "min_ms": float(ms.min()),
    }
