"""`catdog-train`: transfer learning in two phases (head, then top layers), one run folder per run.

runs/<name>/ holds model.keras (best by validation loss), config.json, split.json, history.json,
metrics.json and curves.png.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from catdog.runtime.files import atomic_path, write_json
from catdog.runtime.images import PREPARATION
from catdog.runtime.metrics import format_metrics


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="catdog-train", description="Train an image classifier on a folder of images.")
    add = parser.add_argument
    add("--data", help="data set folder (default: $CATDOG_DATA, else TensorFlow's cats_and_dogs_filtered download)")
    add("--model", default="mobilenetv2", choices=("mobilenetv2", "resnet50", "resnet101", "cnn"))
    add("--alpha", type=float, default=1.0, help="MobileNetV2 width: 0.35, 0.5, 0.75 or 1.0")
    add("--size", type=int, default=160, help="input size in pixels (square)")
    add("--weights", default="imagenet", help="'imagenet' ($CATDOG_WEIGHTS_DIR first, else Keras' download), 'none', or a file")
    add("--epochs", type=int, default=6, help="phase 1: epochs training the head on the frozen base")
    add("--fine-tune-epochs", type=int, default=16, help="phase 2: epochs fine-tuning the top of the base (0: skip)")
    add("--fine-tune-layers", type=int, default=100, help="how many top layers of the base to fine-tune")
    add("--lr", type=float, default=1e-3, help="phase 1 learning rate (Adam)")
    add("--fine-tune-lr", type=float, default=5e-5, help="phase 2 learning rate (Adam)")
    add("--fine-tune-schedule", choices=("cosine", "constant"), default="cosine",
        help="phase 2 learning rate: cosine decay from --fine-tune-lr to 0 over --fine-tune-epochs, or constant")
    add("--batch-size", type=int, default=32)
    add("--patience", type=int, default=4, help="early stopping patience on validation loss, per phase")
    add("--dropout", type=float, default=0.2, help="dropout before the classifier layer")
    add("--l2", type=float, default=0.0, help="L2 weight decay on the classifier layer")
    add("--no-ema", dest="ema", action="store_false",
        help="turn off the exponential moving average of weights (evaluated and checkpointed instead of raw weights)")
    add("--no-augment", dest="augment", action="store_false", help="turn off flip/rotation/zoom/... augmentation")
    add("--validation-fraction", type=float, default=0.2, help="share held out when the data has no validation split")
    add("--max-images", type=int, help="use at most this many training images (quick tries, tests)")
    add("--seed", type=int, default=42)
    add("--distribute", choices=("none", "mirrored"), default="none",
        help="'mirrored': tf.distribute.MirroredStrategy over all GPUs, or two logical CPU devices")
    add("--runs-dir", default="runs", help="where run folders go")
    add("--name", help="run folder name (default: model, size and time)")
    add("--quiet", action="store_true", help="no progress bars, only the result lines")
    return parser.parse_args(argv)


def make_strategy(kind: str):
    """The tf.distribute strategy: default, or mirrored (over GPUs, else two logical CPUs)."""
    import tensorflow as tf

    if kind != "mirrored":
        return tf.distribute.get_strategy()
    if not tf.config.list_physical_devices("GPU"):
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    return tf.distribute.MirroredStrategy()


def take_stratified(items, count: int, seed: int):
    """At most `count` items, the same share from each class."""
    import random

    if count >= len(items):
        return items
    shuffled = sorted(items)
    random.Random(seed).shuffle(shuffled)
    classes = sorted({y for _, y in items})
    return [item for c in classes for item in [i for i in shuffled if i[1] == c][: max(1, count // len(classes))]]


def train(args) -> dict:
    """Train as the arguments say; return the final validation metrics. Writes the run folder."""
    from catdog.train.data import default_data_dir, load_dataset, make_tf_dataset, skipped_line

    started = time.time()
    say = (lambda *a: None) if args.quiet else print
    dataset = load_dataset(args.data or default_data_dir(), args.validation_fraction, args.seed)
    if args.max_images:
        dataset.train = take_stratified(dataset.train, args.max_images, args.seed)
        dataset.validation = take_stratified(dataset.validation, max(2, args.max_images // 2), args.seed)
    print(dataset.summary())
    if dataset.skipped:
        print(skipped_line(dataset.skipped))

    strategy = make_strategy(args.distribute)  # before anything else touches TensorFlow's devices
    import keras
    import tensorflow as tf

    from catdog.train.evaluate import evaluate_model, plot_curves
    from catdog.train.models import augmentation, build_model, unfreeze_top

    keras.utils.set_random_seed(args.seed)
    # Same seed, same machine and versions: the same model, bit for bit (augmentation and shuffling included).
    tf.config.experimental.enable_op_determinism()
    run_dir = Path(args.runs_dir) / (args.name or f"{args.model}{args.alpha if args.model == 'mobilenetv2' else ''}"
                                     f"-{args.size}-{datetime.now():%Y%m%d-%H%M%S}")
    run_dir.mkdir(parents=True, exist_ok=True)
    def optimizer(learning_rate):
        return keras.optimizers.Adam(learning_rate, use_ema=args.ema, ema_momentum=0.99)

    with strategy.scope():
        model, base = build_model(args.model, args.size, len(dataset.labels), args.alpha, args.weights,
                                  args.dropout, args.l2)
        model.compile(optimizer(args.lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    config = {
        "model": args.model, "alpha": args.alpha if args.model == "mobilenetv2" else None, "size": args.size,
        "labels": dataset.labels, "preparation": PREPARATION, "weights": args.weights, "seed": args.seed,
        "data": str(Path(args.data or default_data_dir()).resolve()), "layout": dataset.layout,
        "train_images": len(dataset.train), "validation_images": len(dataset.validation),
        "hyperparameters": {k: getattr(args, k) for k in ("epochs", "fine_tune_epochs", "fine_tune_layers", "lr",
                            "fine_tune_lr", "fine_tune_schedule", "batch_size", "patience", "dropout", "l2", "ema", "augment", "distribute")},
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    write_json(run_dir / "config.json", config)
    write_json(run_dir / "split.json", {"labels": dataset.labels, "train": dataset.train, "validation": dataset.validation})

    train_ds = make_tf_dataset(dataset.train, args.size, args.batch_size, shuffle=True,
                               augment=augmentation(args.seed) if args.augment else None, seed=args.seed)
    val_ds = make_tf_dataset(dataset.validation, args.size, args.batch_size)
    checkpoint_path = run_dir / "checkpoint-best.keras"
    checkpoint = keras.callbacks.ModelCheckpoint(checkpoint_path, monitor="val_loss", save_best_only=True)
    verbose = 0 if args.quiet else (1 if sys.stdout.isatty() else 2)

    def fit(epochs: int, initial_epoch: int = 0) -> dict:
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience, restore_best_weights=True)
        # With EMA on, validation, checkpoint and early stopping all see the averaged weights.
        swap = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if args.ema else []
        result = model.fit(train_ds, validation_data=val_ds, epochs=initial_epoch + epochs,
                           initial_epoch=initial_epoch, callbacks=[*swap, checkpoint, stop], verbose=verbose,
                           shuffle=False)  # train_ds shuffles itself
        return result.history

    say(f"phase 1: training the head for up to {args.epochs} epochs, base frozen")
    history = fit(args.epochs)
    head_epochs = len(history["loss"])
    if base is not None and args.fine_tune_epochs > 0:
        with strategy.scope():
            trainable = unfreeze_top(base, args.fine_tune_layers)
            learning_rate = args.fine_tune_lr
            if args.fine_tune_schedule == "cosine":
                steps = args.fine_tune_epochs * math.ceil(len(dataset.train) / args.batch_size)
                learning_rate = keras.optimizers.schedules.CosineDecay(args.fine_tune_lr, steps)
            model.compile(optimizer(learning_rate), "sparse_categorical_crossentropy",
                          metrics=["accuracy"])
        say(f"phase 2: fine-tuning the top {args.fine_tune_layers} layers ({trainable} with weights, BatchNorm "
            f"frozen) for up to {args.fine_tune_epochs} epochs at lr {args.fine_tune_lr}"
            f"{' with cosine decay' if args.fine_tune_schedule == 'cosine' else ''}")
        for key, values in fit(args.fine_tune_epochs, head_epochs).items():
            history[key] += values

    best = keras.models.load_model(checkpoint_path, compile=False)
    with atomic_path(run_dir / "model.keras") as temp:
        best.save(temp)
    checkpoint_path.unlink()
    metrics = evaluate_model(best, dataset.validation, dataset.labels, args.size, args.batch_size)
    metrics["wall_seconds"] = round(time.time() - started, 1)
    history = {key: [float(v) for v in values] for key, values in history.items()}
    write_json(run_dir / "history.json", {"head_epochs": head_epochs, **history})
    write_json(run_dir / "metrics.json", metrics)
    plot_curves(history, run_dir / "curves.png", head_epochs if len(history["loss"]) > head_epochs else None)
    print(format_metrics(metrics))
    print(f"validation accuracy {metrics['accuracy']:.2%}, log loss {metrics['log_loss']:.4f}, "
          f"{metrics['wall_seconds'] / 60:.1f} min; run folder {run_dir}")
    return metrics


def main(argv=None) -> int:
    """Entry point of catdog-train: clear one-line errors, non-zero exit."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ info lines are noise here
    args = parse_args(argv)
    from catdog.train.data import DataError
    from catdog.train.models import ModelError

    try:
        train(args)
    except (DataError, ModelError) as error:
        print(f"catdog-train: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("catdog-train: interrupted; the run folder keeps the best checkpoint so far", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
