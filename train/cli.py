"""`catdog-train`: transfer learning in two phases (head, then top layers), one run folder per run.

A stratified, seeded share of the training images (--selection-fraction) is set aside as the selection
split: early stopping, the best checkpoint and the temperature calibration are chosen on it, and the
validation split is measured once, at the end. runs/<name>/ holds model.keras (best by selection loss,
temperature folded in), config.json, split.json, history.json, metrics.json, curves.png and
reliability.png. The folder is built hidden and appears whole at the end; a run that fails leaves
nothing, and one interrupted after its first epoch keeps its best checkpoint.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

from catdog.runtime.datasets import BACKGROUND
from catdog.runtime.files import atomic_folder, atomic_path, write_json
from catdog.runtime.images import PREPARATION
from catdog.runtime.metrics import choose_min_probability, classification_metrics, format_metrics

CHECKPOINT = "checkpoint-best.keras"


def bounded(kind: type, low: float, high: float | None = None, exclusive: str = ""):
    """An argparse type: an int or float within [low, high] (`exclusive` may name the 'low' and 'high'
    ends to leave out), refused in argparse's one line otherwise."""
    what = "an integer" if kind is int else "a number"
    if high is None:
        rule = f"{what} {'>' if 'low' in exclusive else '>='} {low}"
    else:
        rule = f"{what} in {'(' if 'low' in exclusive else '['}{low}, {high}{')' if 'high' in exclusive else ']'}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {rule}, not {text!r}") from None
        inside = (
            math.isfinite(value)
            and (value > low if "low" in exclusive else value >= low)
            and (high is None or (value < high if "high" in exclusive else value <= high))
        )
        if not inside:
            raise argparse.ArgumentTypeError(f"must be {rule}, not {text}")
        return value

    return parse


def folder_name(text: str) -> str:
    """An argparse type: a plain, visible folder name (the run folder goes directly under --runs-dir)."""
    if not text or text.startswith(".") or "/" in text or os.sep in text:
        raise argparse.ArgumentTypeError(f"must be a plain folder name (no '/', not starting with '.'), not {text!r}")
    return text


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="catdog-train", description="Train an image classifier on a folder of images."
    )
    add = parser.add_argument
    add("--data", help="data set folder (default: $CATDOG_DATA, else TensorFlow's cats_and_dogs_filtered download)")
    add(
        "--negatives",
        help=f"folder of photos with none of the classes in them, learnt as the class {BACKGROUND!r} ('none': "
        "no background class; default with the default data set: $CATDOG_NEGATIVES, else the ImageNet sample "
        "images' non-pet classes)",
    )
    add(
        "--other-pets",
        help="class folders (cats/, dogs/) of pet photos from another source, mixed in ('none': not used; default "
        "with the default data set: $CATDOG_OTHER_PETS, else the ImageNet sample images' cat and dog classes)",
    )
    add(
        "--add",
        action="append",
        default=[],
        metavar="DIR",
        help="class folders to mix into the data set's classes of the same name (and none/ into the background), "
        "e.g. sorted catdog-cam --collect frames; repeatable",
    )
    add(
        "--config",
        help="a run's config.json (or catdog-tune's best.json): its values become the defaults, "
        "so it reproduces that run and the flags given override it",
    )
    add(
        "--model",
        default="mobilenetv2",
        choices=("mobilenetv2", "resnet50", "resnet101", "mlp", "cnn2", "cnn4", "cnn8", "cnn"),
        help="mlp: the numpy baseline; cnn2/cnn4/cnn8: "
        "from-scratch CNNs (README, Training tools); cnn: the old name of cnn4",
    )
    add("--alpha", type=float, default=1.0, help="MobileNetV2 width: 0.35, 0.5, 0.75 or 1.0")
    add("--size", type=bounded(int, 32, 512), default=224, help="input size in pixels (square)")
    add(
        "--weights",
        default="imagenet",
        help="'imagenet' ($CATDOG_WEIGHTS_DIR first, else Keras' download), 'none', or a file",
    )
    add("--epochs", type=bounded(int, 1), default=6, help="phase 1: epochs training the head on the frozen base")
    add(
        "--fine-tune-epochs",
        type=bounded(int, 0),
        default=16,
        help="phase 2: epochs fine-tuning the top of the base (0: skip)",
    )
    add("--fine-tune-layers", type=bounded(int, 1), default=100, help="how many top layers of the base to fine-tune")
    add(
        "--lr",
        type=or_find(bounded(float, 0, exclusive="low")),
        default=1e-3,
        help="phase 1 learning rate (Adam); 'find': the learning-rate range test's suggestion",
    )
    add(
        "--fine-tune-lr",
        type=or_find(bounded(float, 0, exclusive="low")),
        default=5e-5,
        help="phase 2 learning rate (Adam); 'find': the learning-rate range test's suggestion",
    )
    add(
        "--find-lr",
        nargs="?",
        const="head",
        choices=("head", "fine-tune"),
        help="only run the learning-rate range test for phase 1 (head, the default) or phase 2 (fine-tune, after "
        "training the head): writes lr_find.png and lr_find.json to the run folder, prints the suggestion",
    )
    add("--find-lr-steps", type=bounded(int, 2), default=100, help="batches the range test runs at most")
    add(
        "--fine-tune-schedule",
        choices=("cosine", "constant"),
        default="cosine",
        help="phase 2 learning rate: cosine decay from --fine-tune-lr to 0 over --fine-tune-epochs, or constant",
    )
    add("--batch-size", type=bounded(int, 1), default=32)
    add("--patience", type=bounded(int, 0), default=4, help="early stopping patience on selection loss, per phase")
    add(
        "--dropout",
        type=bounded(float, 0, 1, exclusive="high"),
        default=0.2,
        help="dropout before the classifier layer",
    )
    add("--l2", type=bounded(float, 0), default=0.0, help="L2 weight decay on the classifier layer")
    add(
        "--no-ema",
        dest="ema",
        action="store_false",
        help="turn off the exponential moving average of weights (evaluated and checkpointed instead of raw weights)",
    )
    add("--no-augment", dest="augment", action="store_false", help="turn off flip/rotation/zoom/... augmentation")
    add("--augment-strength", type=bounded(float, 0), default=1.0, help="scales every augmentation range")
    add(
        "--validation-fraction",
        type=bounded(float, 0, 1, exclusive="low high"),
        default=0.2,
        help="share held out when the data has no validation split",
    )
    add(
        "--selection-fraction",
        type=bounded(float, 0, 1, exclusive="high"),
        default=0.1,
        help="stratified share of the training images set aside to choose on (early stopping, best checkpoint, "
        "calibration), so that the validation split is only measured; 0: choose on validation as before",
    )
    add(
        "--no-calibrate",
        dest="calibrate",
        action="store_false",
        help="do not fit a temperature on the selection split and fold it into the classifier layer",
    )
    add(
        "--label-smoothing",
        type=bounded(float, 0, 1, exclusive="high"),
        default=0.0,
        help="label smoothing of the training loss (0: none)",
    )
    add("--max-images", type=bounded(int, 2), help="use at most this many training images (quick tries, tests)")
    add("--seed", type=bounded(int, 0), default=42)
    add(
        "--distribute",
        choices=("none", "mirrored"),
        default="none",
        help="'mirrored': tf.distribute.MirroredStrategy over all GPUs, or two logical CPU devices",
    )
    add("--runs-dir", default="runs", help="where run folders go")
    add("--name", type=folder_name, help="run folder name (default: model, size and time)")
    add("--quiet", action="store_true", help="no progress bars, only the result lines")
    add("--verbose", action="store_true", help="keep TensorFlow's log lines and warnings left out as noise")
    add(
        "--resume",
        metavar="RUN",
        help="continue an interrupted run folder at its last finished epoch, with its "
        "optimizer state and phase (its config.json gives the other options)",
    )
    return parse_with_config(parser, argv)


def or_find(parse):
    """An argparse type: 'find' (the learning-rate range test chooses), else what `parse` accepts."""
    return lambda text: text if text == "find" else parse(text)


# Keys catdog-train writes into a run's config.json, and catdog-tune into best.json, that are not options: a
# config file may hold them (they are left out); any other key that is not an option is refused.
RECORDED = {
    "labels",
    "preparation",
    "training",
    "class_weights",
    "layout",
    "train_images",
    "validation_images",
    "selection_images",
    "chosen_on",
    "versions",
    "temperature",
    "background",
    "min_probability",
    "hyperparameters",
    "trial",
    "selection_loss",
    "selection_accuracy",
}


def parse_with_config(parser, argv):
    """Parse `argv`; with --config FILE, the file's values (top level and its "hyperparameters") become the
    parser's defaults first, so any flag given overrides them. The values meet the command line's checks."""
    known, _ = parser.parse_known_args(argv)
    if known.resume:  # the run's own config, its folder name and place
        run = Path(known.resume)
        if not run.exists():
            recover_killed_run(run)
        if not (run / "config.json").is_file():
            parser.error(f"--resume {run}: not a run folder (no config.json in it)")
        known.config = str(run / "config.json")
        parser.set_defaults(runs_dir=str(run.parent), name=run.name)
    if known.config:
        try:
            saved = json.loads(Path(known.config).read_text())
            values = {**saved, **saved.get("hyperparameters", {})}
        except (OSError, ValueError, AttributeError, TypeError) as error:
            parser.error(f"--config {known.config}: not a readable JSON object ({error})")
        parser.set_defaults(**config_defaults(parser, values, f"--config {known.config}"))
    return parser.parse_args(argv)


def config_defaults(parser, values: dict, source: str) -> dict:
    """A config file's option values, checked by the parser itself: each is written as the command line would
    give it and parsed, so that types, bounds and choices are those of the flags. Refused in argparse's one
    line (exit 2): unknown keys, and a number, true/false or list where the flag takes none."""
    actions = {a.dest: a for a in parser._actions if a.option_strings and a.dest not in ("help", "config", "resume")}
    unknown = sorted(key for key in values if key not in actions and key not in RECORDED)
    if unknown:
        names = ", ".join(map(repr, unknown))
        parser.error(f"{source}: unknown key{'s' if len(unknown) > 1 else ''} {names} (not an option of {parser.prog})")
    given = {key: value for key, value in values.items() if key in actions and value is not None}
    argv = []
    for key, value in given.items():
        action = actions[key]
        option, flag = action.option_strings[0], action.nargs == 0
        listed = isinstance(value, list) and all(isinstance(item, str) for item in value)
        if flag != isinstance(value, bool) or isinstance(value, dict) or listed != is_append(action):
            expected = "true or false" if flag else "a list of text" if is_append(action) else "text or a number"
            parser.error(f"{source}: argument {option}: expected {expected}, not {json.dumps(value)}")
        if flag:
            argv += [option] if value != action.default else []
        else:
            argv += [f"{option}={item}" for item in (value if isinstance(value, list) else [value])]
    parser.exit_on_error = False  # errors raised to be named with the file, not printed as the command line's
    try:
        parsed = vars(parser.parse_args(argv))
    except argparse.ArgumentError as error:
        parser.error(f"{source}: {error}")
    finally:
        parser.exit_on_error = True
    for key, value in given.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and isinstance(parsed[key], str):
            parser.error(f"{source}: argument {actions[key].option_strings[0]}: expected text, not {value}")
    return {key: parsed[key] for key in given}


def is_append(action) -> bool:
    """Whether a flag may be given more than once, each value added to a list (--add)."""
    return isinstance(action, argparse._AppendAction)


def recover_killed_run(run: Path) -> None:
    """Put in place, as `run`, the hidden folder that a run of that name left when it was killed outright
    (SIGKILL, a power cut: no chance to put its folder in place) after at least one epoch."""
    from catdog.runtime.files import leftovers
    from catdog.train.resume import RESUME_STATE

    killed = [folder for folder, kind, _ in leftovers(run) if kind == "partial" and (folder / RESUME_STATE).is_file()]
    if killed:
        newest = max(killed, key=lambda folder: (folder / RESUME_STATE).stat().st_mtime)
        os.rename(newest, run)
        print(f"catdog-train: {run} put in place from {newest.name}, left by a run that was killed", file=sys.stderr)


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


def resolve_sources(args) -> None:
    """Fill in --negatives and --other-pets: with the default data set their defaults (train/data.py), else
    only what was given; 'none' where there is nothing."""
    from catdog.train.data import default_sources

    defaults = default_sources() if args.data is None and None in (args.negatives, args.other_pets) else (None, None)
    for name, default in zip(("negatives", "other_pets"), defaults):
        if getattr(args, name) is None:
            setattr(args, name, str(default) if default else "none")


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
    """Train as the arguments say; return the final validation metrics. The run folder is built hidden
    and appears whole at the end (or, interrupted after an epoch, with its best checkpoint)."""
    from catdog.runtime.datasets import dataset_from_split, load_dataset
    from catdog.runtime.images import skipped_lines
    from catdog.train.data import default_data_dir

    started = time.time()
    if args.resume:
        dataset = dataset_from_split(Path(args.resume))
    else:
        resolve_sources(args)
        extras = [folder for folder in (args.other_pets, *args.add) if folder != "none"]
        negatives = None if args.negatives == "none" else args.negatives
        dataset = load_dataset(args.data or default_data_dir(), args.validation_fraction, args.seed, negatives, extras)
        if args.max_images:
            dataset.train = take_stratified(dataset.train, args.max_images, args.seed)
            dataset.validation = take_stratified(dataset.validation, max(2, args.max_images // 2), args.seed)
        dataset.carve_selection(args.selection_fraction, args.seed)
    print(dataset.summary())
    for line in skipped_lines(dataset.skipped):
        print(f"catdog-train: {line}", file=sys.stderr)
    run_dir = Path(args.runs_dir) / (
        args.name
        or f"{args.model}{args.alpha if args.model == 'mobilenetv2' else ''}-{args.size}-{datetime.now():%Y%m%d-%H%M%S}"
    )
    interrupted = False
    with atomic_folder(run_dir) as building:
        if args.resume:  # the interrupted folder stays in place until the resumed run is complete
            shutil.copytree(args.resume, building, dirs_exist_ok=True)
        try:
            metrics = fit_and_measure(args, dataset, building, started)
        except KeyboardInterrupt:
            if not (building / CHECKPOINT).is_file():
                raise  # no epoch finished: nothing worth keeping
            interrupted = True  # the folder is put in place with its best checkpoint
    if interrupted:
        raise KeyboardInterrupt(
            f"{run_dir} keeps the best checkpoint so far; go on with catdog-train --resume {run_dir}"
        )
    if args.find_lr:
        print(f"range test written to {run_dir}")
        return metrics
    print(
        f"validation accuracy {metrics['accuracy']:.2%}, log loss {metrics['log_loss']:.4f}, "
        f"{metrics['wall_seconds'] / 60:.1f} min; run folder {run_dir}"
    )
    return metrics


def fit_and_measure(args, dataset, run_dir: Path, started: float) -> dict:
    """Build, train (choosing on the selection split), calibrate and measure the model in `run_dir`;
    return the validation metrics."""
    from catdog.train.data import default_data_dir, make_tf_dataset

    say = (lambda *a: None) if args.quiet else print
    strategy = make_strategy(args.distribute)  # before anything else touches TensorFlow's devices
    import keras
    import tensorflow as tf

    from catdog.train.calibration import decide_temperature, fold_temperature, plot_reliability, predict_logits, softmax
    from catdog.train.evaluate import evaluate_model, plot_curves
    from catdog.train.models import ModelError, all_layers, augmentation, build_model, from_scratch, unfreeze_top
    from catdog.train.resume import (
        RESUME_MODEL,
        RESUME_STATE,
        RestoreStopping,
        ResumePoint,
        StopOnInterrupt,
        pretrained_base,
        read_resume,
        run_identity,
    )

    StopOnInterrupt.install()
    tf.get_logger().setLevel("ERROR")  # not its retracing warnings: predicting on several splits is intended
    keras.utils.set_random_seed(args.seed)
    # Same seed, same machine and versions: the same model, bit for bit (augmentation and shuffling included).
    tf.config.experimental.enable_op_determinism()
    chooser = "selection" if dataset.selection else "validation"  # the split everything is chosen on
    choice_items = dataset.selection or dataset.validation
    smoothing = args.label_smoothing
    loss = (
        keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
        if smoothing
        else "sparse_categorical_crossentropy"
    )
    one_hot = len(dataset.labels) if smoothing else 0  # CategoricalCrossentropy takes one-hot targets

    def optimizer(learning_rate):  # "find": a placeholder until the range test has chosen
        return keras.optimizers.Adam(
            1e-3 if learning_rate == "find" else learning_rate, use_ema=args.ema, ema_momentum=0.99
        )

    counts = [sum(1 for _, y in dataset.train if y == i) for i in range(len(dataset.labels))]
    # Balanced: every class weighs as much in the loss, however many photos it has (negatives are fewer).
    class_weights = {label: len(dataset.train) / (len(counts) * n) for label, n in zip(dataset.labels, counts)}
    scratch = from_scratch(args.model, args.weights)
    if scratch:  # one phase: nothing pretrained to keep, nothing to fine-tune after
        args.fine_tune_epochs = 0
    with strategy.scope():
        model, base = build_model(
            args.model, args.size, len(dataset.labels), args.alpha, args.weights, args.dropout, args.l2
        )
        model.compile(optimizer(args.lr), loss, metrics=["accuracy"])
    config = {
        "model": args.model,
        "alpha": args.alpha if args.model == "mobilenetv2" else None,
        "size": args.size,
        "labels": dataset.labels,
        "preparation": PREPARATION,
        "weights": args.weights,
        "training": (
            "from scratch: the whole network, BatchNorm included, trains from the first epoch; no fine-tune phase"
            if scratch
            else "transfer: phase 1 trains the head on the frozen base, phase 2 fine-tunes its top layers"
        ),
        "seed": args.seed,
        "data": str(Path(args.data or default_data_dir()).resolve()),
        "negatives": args.negatives,
        "other_pets": args.other_pets,
        "add": args.add,
        "class_weights": class_weights,
        "layout": dataset.layout,
        "train_images": len(dataset.train),
        "validation_images": len(dataset.validation),
        "hyperparameters": {
            k: getattr(args, k)
            for k in (
                "epochs",
                "fine_tune_epochs",
                "fine_tune_layers",
                "lr",
                "fine_tune_lr",
                "fine_tune_schedule",
                "batch_size",
                "patience",
                "dropout",
                "l2",
                "ema",
                "augment",
                "distribute",
                "selection_fraction",
                "label_smoothing",
                "calibrate",
                "augment_strength",
                "max_images",
                "validation_fraction",
                "find_lr",
            )
        },
        "selection_images": len(dataset.selection),
        "chosen_on": chooser,
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    split = {
        "labels": dataset.labels,
        "train": dataset.train,
        "selection": dataset.selection,
        "validation": dataset.validation,
    }
    identity = run_identity(config, split)  # what the resume points of this run belong to
    resumed = None
    if args.resume:  # the model, compiled with its optimizer state, as the last finished epoch left it
        try:
            with strategy.scope():
                resumed, model = read_resume(run_dir, identity, model)
        except ValueError as error:
            raise ModelError(str(error).replace(str(run_dir), args.resume)) from None
        base = None if scratch else pretrained_base(model)
        say(f"resuming phase {resumed['phase']} after epoch {resumed['epochs_done']}")
    write_json(run_dir / "config.json", config)
    write_json(run_dir / "split.json", split)

    train_ds = make_tf_dataset(
        dataset.train,
        args.size,
        args.batch_size,
        shuffle=True,
        augment=augmentation(args.seed, args.augment_strength) if args.augment else None,
        seed=args.seed,
        one_hot=one_hot,
    )
    choice_ds = make_tf_dataset(choice_items, args.size, args.batch_size, one_hot=one_hot)
    checkpoint_path = run_dir / CHECKPOINT
    checkpoint = keras.callbacks.ModelCheckpoint(checkpoint_path, monitor="val_loss", save_best_only=True)
    verbose = 0 if args.quiet else (1 if sys.stdout.isatty() else 2)
    history = resumed["history"] if resumed else {}  # every epoch's logs, both phases, kept by ResumePoint
    if resumed:
        checkpoint.best = resumed["checkpoint_best"]
    earlier_seconds = resumed.get("seconds", 0.0) if resumed else 0.0  # of the epochs kept before a resume

    def elapsed() -> float:
        """Training seconds so far, the epochs kept from before a resume included."""
        return earlier_seconds + time.time() - started

    def fit(phase: int, end_epoch: int, head_epochs: int | None = None) -> dict:
        """Train up to `end_epoch` (counted over both phases) from where the history ends."""
        if args.model == "mlp":  # trained with numpy (mlp.py), then copied into the Keras model
            from catdog.train.mlp import fit as fit_mlp

            return fit_mlp(model, dataset.train, choice_items, args, checkpoint_path)
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience, restore_best_weights=True)
        # With EMA on, the selection loss, checkpoint and early stopping all see the averaged weights.
        # Keras names the metrics of `validation_data` val_*: here they are the selection split's.
        swap = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if args.ema else []
        restore = []
        if resumed and resumed["phase"] == phase:  # phase 1's best weights are the checkpoint's
            best = keras.models.load_model(checkpoint_path, compile=False).get_weights() if phase == 1 else None
            restore = [RestoreStopping(stop, resumed, best)]
        point = ResumePoint(run_dir, phase, head_epochs, history, checkpoint, stop, elapsed, identity)
        initial_epoch = len(history.get("loss", []))
        model.fit(
            train_ds,
            validation_data=choice_ds,
            epochs=end_epoch,
            initial_epoch=initial_epoch,
            callbacks=[StopOnInterrupt(), point, *swap, checkpoint, stop, *restore],
            class_weight=dict(enumerate(class_weights.values())),
            verbose=verbose,
            shuffle=False,
        )  # train_ds shuffles itself
        return history

    def find_rate(phase: str) -> float:
        """The learning-rate range test's suggestion (lr_find.py), recorded in config.json."""
        from catdog.train.lr_find import range_test

        if args.model == "mlp" or (phase == "fine-tune" and base is None):
            raise ModelError(f"no range test for {phase} of --model {args.model} (it has no such Keras phase)")
        key = "lr" if phase == "head" else "fine_tune_lr"
        with strategy.scope():
            rate = range_test(
                model, train_ds, loss, args.find_lr_steps, run_dir, phase, parse_args([]).__dict__[key], args.quiet
            )
        config["hyperparameters"][key] = rate
        return rate

    if args.find_lr == "head" or args.lr == "find":
        args.lr = find_rate("head")
        if args.find_lr == "head":
            return {"suggested_lr": args.lr}
        with strategy.scope():
            model.compile(optimizer(args.lr), loss, metrics=["accuracy"])
    if args.find_lr == "fine-tune" and (base is None or args.fine_tune_epochs == 0):
        raise ModelError("--find-lr fine-tune needs a pretrained model and --fine-tune-epochs above 0")
    if not resumed or resumed["phase"] == 1:
        if base is None:
            batchnorm = any(isinstance(layer, keras.layers.BatchNormalization) for layer in all_layers(model))
            say(
                f"training from scratch for up to {args.epochs} epochs: the whole network "
                f"({count_weights(model.trainable_weights):,} trainable parameters"
                f"{', BatchNorm included' if batchnorm else ''}) trains from the first epoch; no fine-tune phase"
            )
        else:
            say(f"phase 1: training the head for up to {args.epochs} epochs, base frozen")
        history = fit(1, args.epochs)
    head_epochs = resumed["head_epochs"] if resumed and resumed["phase"] == 2 else len(history["loss"])
    if base is not None and args.fine_tune_epochs > 0 and resumed and resumed["phase"] == 2:
        say(f"phase 2: fine-tuning, from epoch {resumed['epochs_done'] + 1}")
        history = fit(2, head_epochs + args.fine_tune_epochs, head_epochs)
    elif base is not None and args.fine_tune_epochs > 0:
        with strategy.scope():
            trainable = unfreeze_top(base, args.fine_tune_layers)
            if args.find_lr == "fine-tune" or args.fine_tune_lr == "find":
                args.fine_tune_lr = find_rate("fine-tune")
                if args.find_lr:
                    for done in (run_dir / CHECKPOINT, run_dir / RESUME_MODEL, run_dir / RESUME_STATE):
                        done.unlink()  # a range-test run keeps no model
                    return {"suggested_lr": args.fine_tune_lr}
            learning_rate = args.fine_tune_lr
            if args.fine_tune_schedule == "cosine":
                steps = args.fine_tune_epochs * math.ceil(len(dataset.train) / args.batch_size)
                learning_rate = keras.optimizers.schedules.CosineDecay(args.fine_tune_lr, steps)
            model.compile(optimizer(learning_rate), loss, metrics=["accuracy"])
        say(
            f"phase 2: fine-tuning the top {args.fine_tune_layers} layers ({trainable} with weights, BatchNorm "
            f"frozen) for up to {args.fine_tune_epochs} epochs at lr {args.fine_tune_lr}"
            f"{' with cosine decay' if args.fine_tune_schedule == 'cosine' else ''}"
        )
        history = fit(2, head_epochs + args.fine_tune_epochs, head_epochs)

    best = keras.models.load_model(checkpoint_path, compile=False)
    choice_y, val_y = [y for _, y in choice_items], [y for _, y in dataset.validation]
    val_logits = predict_logits(best, dataset.validation, args.size, args.batch_size)
    choice_logits = predict_logits(best, choice_items, args.size, args.batch_size)
    calibration, temperature = None, None
    if args.calibrate and dataset.selection:
        calibration = decide_temperature(choice_logits, choice_y, seed=args.seed)
        temperature = calibration.temperature
        if temperature:
            fold_temperature(best, temperature)
    elif args.calibrate:
        say("no selection split: not calibrating (the temperature would be fitted on the validation split)")
    rule = {"background": BACKGROUND if BACKGROUND in dataset.labels else None, "min_probability": 0.0}
    if rule["background"]:
        rule["min_probability"] = choose_min_probability(
            softmax(choice_logits / (temperature or 1)), choice_y, dataset.labels.index(BACKGROUND)
        )
    with atomic_path(run_dir / "model.keras") as temp:
        best.save(temp)
    for done in (checkpoint_path, run_dir / RESUME_MODEL, run_dir / RESUME_STATE):
        done.unlink(missing_ok=True)
    write_json(run_dir / "config.json", {**config, "temperature": temperature, **rule})

    # The validation split's only use: measuring the chosen model once.
    metrics = {
        "split": "validation",
        "chosen_on": chooser,
        **evaluate_model(best, dataset.validation, dataset.labels, args.size, args.batch_size, **rule),
    }
    before = softmax(val_logits)
    metrics["before_calibration"] = {
        k: v
        for k, v in classification_metrics(dataset.labels, val_y, before).items()
        if k in ("accuracy", "log_loss", "ece")
    }
    metrics["temperature"] = temperature
    metrics["calibration"] = calibration.to_dict() if calibration else None
    if dataset.selection:
        metrics["selection"] = {
            k: v
            for k, v in evaluate_model(
                best, dataset.selection, dataset.labels, args.size, args.batch_size, **rule
            ).items()
            if k != "confusion_matrix"
        }
    metrics["wall_seconds"] = round(elapsed(), 1)
    write_json(run_dir / "metrics.json", metrics)
    history = {key: [float(v) for v in values] for key, values in history.items()}
    write_json(run_dir / "history.json", {"head_epochs": head_epochs, "val_split": chooser, **history})
    plot_curves(history, run_dir / "curves.png", head_epochs if len(history["loss"]) > head_epochs else None, chooser)
    calibrated = softmax(val_logits / temperature) if temperature else None
    plot_reliability(
        val_y,
        before,
        calibrated,
        run_dir / "reliability.png",
        f"validation split, {len(val_y)} images"
        + (f"; T = {temperature:.3f} fitted on {chooser}" if temperature else ""),
    )
    print(format_metrics(metrics))
    if calibration:
        print(calibration.sentence())
        print(
            f"validation log loss {metrics['before_calibration']['log_loss']:.4f} -> {metrics['log_loss']:.4f}, "
            f"ECE {metrics['before_calibration']['ece']:.4f} -> {metrics['ece']:.4f}"
            + ("" if temperature else " (unchanged: no temperature)")
        )
    return metrics


def count_weights(weights) -> int:
    """How many numbers the weight tensors hold."""
    return sum(math.prod(w.shape) for w in weights)


def main(argv=None) -> int:
    """Entry point of catdog-train: clear one-line errors, non-zero exit."""
    args = parse_args(argv)
    from catdog.export.noise import filtered_stderr, quiet_python
    from catdog.runtime.datasets import DataError
    from catdog.runtime.images import skipped_lines

    if not args.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: no info lines
        quiet_python()
    with filtered_stderr(not args.verbose):  # TensorFlow's known harmless C++ lines left out (export/noise.py)
        from catdog.train.models import ModelError  # imports TensorFlow

        try:
            train(args)
        except (DataError, ModelError, OSError) as error:
            for line in skipped_lines(getattr(error, "skipped", {})):
                print(f"catdog-train: {line}", file=sys.stderr)
            print(f"catdog-train: error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as error:
            print(
                f"catdog-train: interrupted; {error or 'no epoch had finished: no run folder was left'}",
                file=sys.stderr,
            )
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
