"""Scoring a Keras model on labelled images, training curves, and `catdog-eval`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from catdog.runtime.arguments import positive_int
from catdog.runtime.files import require_zip
from catdog.runtime.folders import RunFolder, validation_items
from catdog.runtime.images import ImageError, read_image, skipped_lines
from catdog.runtime.metrics import classification_metrics, format_metrics


def predict_probabilities(model, items, size: int, batch_size: int = 32) -> np.ndarray:
    """Class probabilities of a Keras model for (path, label) items, pixels prepared as on the board."""
    from catdog.train.data import make_tf_dataset

    return model.predict(make_tf_dataset(items, size, batch_size), verbose=0)


def evaluate_model(
    model, items, labels: list[str], size: int, batch_size: int = 32, background=None, min_probability=0.0
) -> dict:
    """Accuracy, log loss and confusion matrix of a Keras model on (path, label) items; with a background
    label, pet accuracy and false-pet rate at the decision rule too (classification_metrics)."""
    probabilities = predict_probabilities(model, items, size, batch_size)
    return classification_metrics(labels, [y for _, y in items], probabilities, background, min_probability)


def plot_curves(history: dict, path: Path, fine_tune_from: int | None = None, held_out: str = "validation") -> None:
    """Loss and accuracy per epoch, training and held out (the split Keras calls val_*, named `held_out`),
    with the start of fine-tuning marked."""
    from catdog.train.plots import pyplot, save_figure

    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    epochs = np.arange(1, len(history["loss"]) + 1)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, key in zip(axes, ("loss", "accuracy")):
        axis.plot(epochs, history[key], "o-", label=f"training {key}")
        axis.plot(epochs, history[f"val_{key}"], "o-", label=f"{held_out} {key}")
        if fine_tune_from:
            axis.axvline(fine_tune_from + 0.5, color="gray", linestyle="--", label="fine-tuning starts")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_title(key)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    save_figure(figure, path)


def usable_items(items) -> tuple[list, dict[str, list[Path]]]:
    """The (path, label) items whose image can be read, and the others' paths by reason."""
    kept, skipped = [], {}
    for path, label in items:
        try:
            read_image(path)
            kept.append((path, label))
        except ImageError as error:
            skipped.setdefault(error.reason, []).append(Path(path))
    return kept, skipped


def main(argv=None) -> int:
    """catdog-eval MODEL --data DIR: accuracy, log loss and confusion matrix of a saved model."""
    parser = argparse.ArgumentParser(prog="catdog-eval", description=main.__doc__)
    parser.add_argument("model", help="a model.keras file, or a run folder holding one")
    parser.add_argument(
        "--data",
        help="labelled images: class folders, Kaggle names, or a train/validation "
        "folder (its validation split is used); default: the run's own validation split",
    )
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument("--verbose", action="store_true", help="keep TensorFlow's own log lines")
    args = parser.parse_args(argv)
    from catdog.runtime.datasets import DataError, labelled_items

    run = RunFolder.of_model(args.model)
    model_path = run.model if Path(args.model).is_dir() else Path(args.model)
    try:
        if not model_path.is_file():
            raise DataError(f"model not found: {model_path}")
        config = run.config()
        if args.data:
            labels, items, skipped = labelled_items(args.data, config.get("labels"))
            folder = args.data
        elif config:
            split = run.split()
            labels, items = config["labels"], validation_items(split)
            folder = "the run's validation split"
            items, skipped = usable_items(items)
        else:
            raise DataError("no --data given and no run folder beside the model to take a validation split from")
        for line in skipped_lines(skipped):
            print(f"catdog-eval: {line}", file=sys.stderr)
        if not items:
            raise DataError(f"no image to evaluate in {folder}: every file was skipped")
    except (DataError, OSError, ValueError) as error:
        print(f"catdog-eval: error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    from catdog.export.noise import quiet_tensorflow

    with quiet_tensorflow(not args.verbose):
        try:
            require_zip(model_path, ".keras model")
            import keras

            model = keras.models.load_model(model_path, compile=False)
        except Exception as error:  # a truncated or foreign file fails in many different ways
            print(
                f"catdog-eval: error: cannot load model {model_path}: {str(error).splitlines()[0][:200]}",
                file=sys.stderr,
            )
            return 2
        rule = {key: config[key] for key in ("background", "min_probability") if config.get(key) is not None}
        metrics = evaluate_model(model, items, labels, model.input_shape[1], args.batch_size, **rule)
    print(json.dumps(metrics, indent=2) if args.json else format_metrics(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
