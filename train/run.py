"""Training as steps that return values: `train(config) -> Run`.

`train` loads the data (`load_data`), then in the hidden run folder: `prepare` (seeds, determinism, the
distribution strategy), `build` (the compiled network and its loss), `start_fitting` (the datasets, the
checkpoint, the resume point if resuming), `train_head` (phase 1), `fine_tune` (phase 2), `calibrate` (the
temperature, folded in), `decision_rule` (the background class's threshold) and `measure` (the validation
split, once); `write_results` writes config.json (the recipe with the temperature and the decision rule: once,
at the end; until then the resume point written after every epoch carries the recipe), metrics.json,
history.json and the plots.
A stratified, seeded share of the training images (selection_fraction) is set aside as the selection split:
early stopping, the best checkpoint and the temperature are chosen on it; the validation split is only measured.
The folder is built hidden and appears whole at the end; a run that fails leaves nothing, and one interrupted
after its first epoch keeps its best checkpoint (and its resume point: `--resume`)."""

from __future__ import annotations

import math
import shutil
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from catdog.runtime.datasets import BACKGROUND
from catdog.runtime.files import atomic_folder, atomic_path, read_json, write_json
from catdog.runtime.folders import CHECKPOINT, CONFIG, HISTORY, METRICS, MODEL, RESUME_MODEL, RESUME_STATE, SPLIT
from catdog.runtime.images import PREPARATION
from catdog.runtime.metrics import (
    FALSE_PET_TARGET,
    PET_COST,
    choose_min_probability,
    classification_metrics,
    format_metrics,
)
from catdog.train.config import TrainConfig

CURVES, RELIABILITY = "curves.png", "reliability.png"


@dataclass(frozen=True)
class Run:
    """What `train` made: the run folder, its validation metrics (or, for a range test, {"suggested_lr": ...})
    and the config it was trained with (the learning rates a range test chose filled in)."""

    folder: Path
    metrics: dict
    config: TrainConfig


def train(config: TrainConfig) -> Run:
    """Train as `config` says, in a run folder built hidden that appears whole at the end (or, interrupted
    after an epoch, with its best checkpoint: KeyboardInterrupt says how to resume)."""
    from catdog.runtime.images import skipped_lines

    started = time.time()
    config, dataset = load_data(config)
    print(dataset.summary())
    for line in skipped_lines(dataset.skipped):
        print(f"catdog-train: {line}", file=sys.stderr)
    folder = run_folder(config)
    interrupted = False
    with atomic_folder(folder) as building:
        if config.resume:  # the interrupted folder stays in place until the resumed run is complete
            shutil.copytree(config.resume, building, dirs_exist_ok=True)
        try:
            config, metrics = train_in(config, dataset, building, started)
        except KeyboardInterrupt:
            if not (building / CHECKPOINT).is_file():
                raise  # no epoch finished: nothing worth keeping
            interrupted = True  # the folder is put in place with its best checkpoint
    if interrupted:
        raise KeyboardInterrupt(f"{folder} keeps the best checkpoint so far; go on with catdog-train --resume {folder}")
    if config.find_lr:
        print(f"range test written to {folder}")
    else:
        print(
            f"validation accuracy {metrics['accuracy']:.2%}, log loss {metrics['log_loss']:.4f}, "
            f"{metrics['wall_seconds'] / 60:.1f} min; run folder {folder}"
        )
    return Run(folder, metrics, config)


def run_folder(config: TrainConfig) -> Path:
    """runs_dir/name, the name by default the model, its width, the size and the time."""
    width = config.alpha if config.model == "mobilenetv2" else ""
    return Path(config.runs_dir) / (
        config.name or f"{config.model}{width}-{config.size}-{datetime.now():%Y%m%d-%H%M%S}"
    )


def load_data(config: TrainConfig):
    """The config with its sources resolved (the data set folder; --negatives, --other-pets: with the default data
    set their defaults, else only what was given; 'none' where there is nothing) and the data set: the run's own split
    when resuming, else loaded, cut to max_images and with its selection split carved."""
    from catdog.runtime.datasets import dataset_from_split, load_dataset
    from catdog.train.data import default_data_dir, default_sources

    if config.resume:
        return config, dataset_from_split(Path(config.resume))
    data = config.data or default_data_dir()  # first: without it nothing else is worth getting
    defaults = (None, None)
    if config.data is None and None in (config.negatives, config.other_pets):
        defaults = default_sources(negatives_given=config.negatives is not None)
    negatives, other_pets = (
        given if given is not None else str(default) if default else "none"
        for given, default in zip((config.negatives, config.other_pets), defaults)
    )
    config = replace(config, data=str(data), negatives=negatives, other_pets=other_pets)  # resolved once
    extras = [folder for folder in (other_pets, *config.add) if folder != "none"]
    dataset = load_dataset(
        data,
        config.validation_fraction,
        config.seed,
        None if negatives == "none" else negatives,
        extras,
    )
    if config.max_images:
        dataset.train = take_stratified(dataset.train, config.max_images, config.seed)
        dataset.validation = take_stratified(dataset.validation, max(2, config.max_images // 2), config.seed)
    dataset.carve_selection(config.selection_fraction, config.seed)
    if config.max_background:
        dataset.train = fewer_background(dataset, config.max_background, config.seed)
    return config, dataset


def fewer_background(dataset, count: int, seed: int) -> list:
    """The training items with at most `count` of the background's, drawn at random (seeded); DataError
    without a background class."""
    import random

    from catdog.runtime.datasets import DataError

    if BACKGROUND not in dataset.labels:
        raise DataError(f"--max-background needs a background class ({BACKGROUND!r}); this data set has none")
    background = dataset.labels.index(BACKGROUND)
    negatives = sorted(item for item in dataset.train if item[1] == background)
    kept = set(random.Random(seed).sample(negatives, min(count, len(negatives))))
    return [item for item in dataset.train if item[1] != background or item in kept]


def take_stratified(items, count: int, seed: int):
    """At most `count` items, the same share from each class."""
    import random

    if count >= len(items):
        return items
    shuffled = sorted(items)
    random.Random(seed).shuffle(shuffled)
    classes = sorted({y for _, y in items})
    return [item for c in classes for item in [i for i in shuffled if i[1] == c][: max(1, count // len(classes))]]


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


def prepare(config: TrainConfig):
    """The distribution strategy (made before anything else touches TensorFlow's devices), with the seeds set
    and op determinism on: same seed, same machine and versions, the same model bit for bit."""
    strategy = make_strategy(config.distribute)
    import keras
    import tensorflow as tf

    from catdog.train.resume import StopOnInterrupt

    StopOnInterrupt.install()
    tf.get_logger().setLevel("ERROR")  # not its retracing warnings: predicting on several splits is intended
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    return strategy


@dataclass
class Built:
    """The compiled network, its pretrained base (None when trained from scratch) and its training loss."""

    model: object
    base: object
    loss: object
    one_hot: int  # classes of the one-hot targets (label smoothing), else 0: sparse labels


def make_optimizer(config: TrainConfig, learning_rate):
    """Adam with the config's EMA of the weights; "find": a placeholder until the range test has chosen."""
    import keras

    rate = 1e-3 if learning_rate == "find" else learning_rate
    return keras.optimizers.Adam(rate, use_ema=config.ema, ema_momentum=0.99)


def build(config: TrainConfig, classes: int, strategy) -> Built:
    """The network for `classes` classes, compiled for phase 1."""
    import keras

    from catdog.train.models import build_model

    smoothing = config.label_smoothing
    loss = (
        keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
        if smoothing
        else "sparse_categorical_crossentropy"
    )
    with strategy.scope():
        model, base = build_model(
            config.model, config.size, classes, config.alpha, config.weights, config.dropout, config.l2
        )
        model.compile(make_optimizer(config, config.lr), loss, metrics=["accuracy"])
    return Built(model, base, loss, classes if smoothing else 0)


def class_weights(dataset) -> dict:
    """Balanced: every class weighs as much in the loss, however many photos it has (negatives are fewer)."""
    counts = [sum(1 for _, y in dataset.train if y == i) for i in range(len(dataset.labels))]
    return {label: len(dataset.train) / (len(counts) * n) for label, n in zip(dataset.labels, counts)}


def recipe_record(config: TrainConfig, dataset, scratch: bool) -> dict:
    """The run's record: the recipe (TrainConfig.record) and the data it meets. Every resume point carries it
    (what --resume reads back); config.json is it, completed at the end."""
    import keras
    import tensorflow as tf

    from catdog.train.data import default_data_dir

    recipe = config.record()
    return {
        **{key: recipe[key] for key in ("model", "alpha", "size")},
        "labels": dataset.labels,
        "preparation": PREPARATION,
        "weights": config.weights,
        "training": (
            "from scratch: the whole network, BatchNorm included, trains from the first epoch; no fine-tune phase"
            if scratch
            else "transfer: phase 1 trains the head on the frozen base, phase 2 fine-tunes its top layers"
        ),
        "seed": config.seed,
        "data": str(Path(config.data or default_data_dir()).resolve()),
        **{key: recipe[key] for key in ("negatives", "other_pets", "add")},
        "class_weights": class_weights(dataset),
        "layout": dataset.layout,
        "train_images": len(dataset.train),
        "validation_images": len(dataset.validation),
        "hyperparameters": recipe["hyperparameters"],
        "selection_images": len(dataset.selection),
        "chosen_on": "selection" if dataset.selection else "validation",
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }


@dataclass
class Fitting:
    """What every epoch of both phases uses, made once by `start_fitting`: the datasets, the checkpoint, the
    history so far, and the resume point this run goes on from (None for a fresh run)."""

    run_dir: Path
    train_items: list
    choice_items: list
    train_ds: object
    choice_ds: object
    class_weights: dict
    checkpoint: object
    history: dict
    resumed: dict | None
    identity: dict
    record: dict  # the recipe the resume points carry
    earlier_seconds: float  # the epochs kept from before a resume
    started: float
    verbose: int

    def elapsed(self) -> float:
        """Training seconds so far, the epochs kept from before a resume included."""
        return self.earlier_seconds + time.time() - self.started


def start_fitting(config: TrainConfig, dataset, built: Built, record: dict, run_dir: Path, started: float, strategy):
    """The Fitting of this run and its model (the resume point's, with its optimizer state, when resuming).
    Writes split.json (with the data set's layout) on a fresh run; a resumed one has its own already."""
    import keras

    from catdog.train.data import make_tf_dataset, source_disguise
    from catdog.train.models import ModelError, augmentation
    from catdog.train.resume import pretrained_base, read_resume, run_identity

    if config.resume:
        split = read_json(run_dir / SPLIT)  # what dataset_from_split read: the layout as first recorded
    else:
        split = {
            "labels": dataset.labels,
            "layout": dataset.layout,
            **{name: getattr(dataset, name) for name in ("train", "selection", "validation")},
        }
        write_json(run_dir / SPLIT, split)
    identity = run_identity(record, split)  # what the resume points of this run belong to
    model, base, resumed = built.model, built.base, None
    if config.resume:
        try:
            with strategy.scope():
                resumed, model = read_resume(run_dir, identity, model)
        except ValueError as error:
            raise ModelError(str(error).replace(str(run_dir), config.resume)) from None
        base = None if base is None else pretrained_base(model)
        if not config.quiet:
            print(f"resuming phase {resumed['phase']} after epoch {resumed['epochs_done']}")
    choice_items = dataset.selection or dataset.validation
    augment = augmentation(config.seed, config.augment_strength, config.augment, config.hide_source)
    disguise = source_disguise(config.augment_strength) if config.hide_source else None
    train_ds = make_tf_dataset(
        dataset.train,
        config.size,
        config.batch_size,
        shuffle=True,
        augment=augment,
        disguise=disguise,
        seed=config.seed,
        one_hot=built.one_hot,
    )
    choice_ds = make_tf_dataset(choice_items, config.size, config.batch_size, one_hot=built.one_hot)
    checkpoint = keras.callbacks.ModelCheckpoint(run_dir / CHECKPOINT, monitor="val_loss", save_best_only=True)
    if resumed:
        checkpoint.best = resumed["checkpoint_best"]
    fitting = Fitting(
        run_dir,
        dataset.train,
        choice_items,
        train_ds,
        choice_ds,
        class_weights(dataset),
        checkpoint,
        resumed["history"] if resumed else {},  # every epoch's logs, both phases, kept by ResumePoint
        resumed,
        identity,
        record,
        resumed.get("seconds", 0.0) if resumed else 0.0,
        started,
        0 if config.quiet else (1 if sys.stdout.isatty() else 2),
    )
    return fitting, replace(built, model=model, base=base)


def fit_phase(config: TrainConfig, fitting: Fitting, model, phase: int, end_epoch: int, head_epochs=None) -> dict:
    """Train `model` up to `end_epoch` (counted over both phases) from where the history ends; the history."""
    import keras

    from catdog.train.resume import RestoreStopping, ResumePoint, StopOnInterrupt

    checkpoint_path = fitting.run_dir / CHECKPOINT
    if config.model == "mlp":  # trained with numpy (mlp.py), then copied into the Keras model
        from catdog.train.mlp import fit as fit_mlp

        options = {key: getattr(config, key) for key in ("size", "epochs", "batch_size", "lr", "l2", "seed", "quiet")}
        return fit_mlp(model, fitting.train_items, fitting.choice_items, checkpoint_path, **options)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)
    # With EMA on, the selection loss, checkpoint and early stopping all see the averaged weights.
    # Keras names the metrics of `validation_data` val_*: here they are the selection split's.
    swap = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if config.ema else []
    restore = []
    resumed = fitting.resumed
    if resumed and resumed["phase"] == phase:  # phase 1's best weights are the checkpoint's
        best = keras.models.load_model(checkpoint_path, compile=False).get_weights() if phase == 1 else None
        restore = [RestoreStopping(stop, resumed, best)]
    point = ResumePoint(
        fitting.run_dir,
        phase,
        head_epochs,
        fitting.history,
        fitting.checkpoint,
        stop,
        fitting.elapsed,
        fitting.identity,
        fitting.record,
    )
    model.fit(
        fitting.train_ds,
        validation_data=fitting.choice_ds,
        epochs=end_epoch,
        initial_epoch=len(fitting.history.get("loss", [])),
        callbacks=[StopOnInterrupt(), point, *swap, fitting.checkpoint, stop, *restore],
        class_weight=dict(enumerate(fitting.class_weights.values())),
        verbose=fitting.verbose,
        shuffle=False,
    )  # train_ds shuffles itself
    return fitting.history


def find_rate(config: TrainConfig, fitting: Fitting, built: Built, phase: str, strategy) -> float:
    """The learning-rate range test's suggestion for phase "head" or "fine-tune" (lr_find.py)."""
    from catdog.train.lr_find import range_test
    from catdog.train.models import ModelError

    if config.model == "mlp" or (phase == "fine-tune" and built.base is None):
        raise ModelError(f"no range test for {phase} of --model {config.model} (it has no such Keras phase)")
    default = TrainConfig.lr if phase == "head" else TrainConfig.fine_tune_lr
    with strategy.scope():
        return range_test(
            built.model,
            fitting.train_ds,
            built.loss,
            config.find_lr_steps,
            fitting.run_dir,
            phase,
            default,
            config.quiet,
        )


def train_head(config: TrainConfig, fitting: Fitting, built: Built) -> dict:
    """Phase 1 (the only phase of a from-scratch network), unless the run resumes in phase 2; the history."""
    import keras

    from catdog.train.models import all_layers

    if fitting.resumed and fitting.resumed["phase"] == 2:
        return fitting.history
    if config.quiet:
        pass
    elif built.base is None:
        batchnorm = any(isinstance(layer, keras.layers.BatchNormalization) for layer in all_layers(built.model))
        print(
            f"training from scratch for up to {config.epochs} epochs: the whole network "
            f"({count_weights(built.model.trainable_weights):,} trainable parameters"
            f"{', BatchNorm included' if batchnorm else ''}) trains from the first epoch; no fine-tune phase"
        )
    else:
        print(f"phase 1: training the head for up to {config.epochs} epochs, base frozen")
    return fit_phase(config, fitting, built.model, 1, config.epochs)


def unfreeze(config: TrainConfig, fitting: Fitting, built: Built, strategy) -> tuple[TrainConfig, int]:
    """The top layers of the base made trainable and the model compiled for phase 2 (its learning rate found
    first if the config says "find"); the config with that rate, and how many layers with weights train."""
    import keras

    from catdog.train.models import unfreeze_top

    with strategy.scope():
        trainable = unfreeze_top(built.base, config.fine_tune_layers)
        if config.find_lr == "fine-tune" or config.fine_tune_lr == "find":
            config = replace(config, fine_tune_lr=find_rate(config, fitting, built, "fine-tune", strategy))
            if config.find_lr:
                return config, trainable
        learning_rate = config.fine_tune_lr
        if config.fine_tune_schedule == "cosine":
            steps = config.fine_tune_epochs * math.ceil(len(fitting.train_items) / config.batch_size)
            learning_rate = keras.optimizers.schedules.CosineDecay(config.fine_tune_lr, steps)
        built.model.compile(make_optimizer(config, learning_rate), built.loss, metrics=["accuracy"])
    return config, trainable


def fine_tune(config: TrainConfig, fitting: Fitting, built: Built, head_epochs: int, trainable: int | None) -> dict:
    """Phase 2 on the model `unfreeze` compiled (or the resume point's); the history."""
    if config.quiet:
        pass
    elif trainable is None:
        print(f"phase 2: fine-tuning, from epoch {fitting.resumed['epochs_done'] + 1}")
    else:
        print(
            f"phase 2: fine-tuning the top {config.fine_tune_layers} layers ({trainable} with weights, BatchNorm "
            f"frozen) for up to {config.fine_tune_epochs} epochs at lr {config.fine_tune_lr}"
            f"{' with cosine decay' if config.fine_tune_schedule == 'cosine' else ''}"
        )
    return fit_phase(config, fitting, built.model, 2, head_epochs + config.fine_tune_epochs, head_epochs)


def calibrate(config: TrainConfig, best, choice_logits, choice_y, selection: bool):
    """The temperature decision on the selection split, folded into `best`'s classifier layer; (decision,
    temperature), both None when not calibrating."""
    from catdog.train.calibration import decide_temperature, fold_temperature

    if not config.calibrate:
        return None, None
    if not selection:
        if not config.quiet:
            print("no selection split: not calibrating (the temperature would be fitted on the validation split)")
        return None, None
    calibration = decide_temperature(choice_logits, choice_y, seed=config.seed)
    if calibration.temperature:
        fold_temperature(best, calibration.temperature)
    return calibration, calibration.temperature


def decision_rule(labels: list[str], choice_logits, choice_y, temperature) -> dict:
    """The background label (None without one) and the least probability a pet label needs, chosen on the
    split everything is chosen on."""
    from catdog.train.calibration import softmax

    rule = {"background": BACKGROUND if BACKGROUND in labels else None, "min_probability": 0.0}
    if rule["background"]:
        probabilities = softmax(choice_logits / (temperature or 1))
        rule["min_probability"] = choose_min_probability(probabilities, choice_y, labels.index(BACKGROUND))
    return rule


def measure(config: TrainConfig, best, dataset, rule: dict, before, calibration, chooser: str) -> dict:
    """The validation split's only use: the chosen model measured once (and on the selection split)."""
    from catdog.train.evaluate import evaluate_model

    labels, size, batch = dataset.labels, config.size, config.batch_size
    metrics = {"split": "validation", "chosen_on": chooser}
    metrics.update(evaluate_model(best, dataset.validation, labels, size, batch, **rule))
    scores = classification_metrics(labels, [y for _, y in dataset.validation], before)
    metrics["before_calibration"] = {k: v for k, v in scores.items() if k in ("accuracy", "log_loss", "ece")}
    metrics["temperature"] = calibration.temperature if calibration else None
    metrics["calibration"] = calibration.to_dict() if calibration else None
    if dataset.selection:
        selection = evaluate_model(best, dataset.selection, labels, size, batch, **rule)
        metrics["selection"] = {k: v for k, v in selection.items() if k != "confusion_matrix"}
    return metrics


def train_in(config: TrainConfig, dataset, run_dir: Path, started: float) -> tuple[TrainConfig, dict]:
    """Build, train (choosing on the selection split), calibrate and measure the model in `run_dir`; the
    config (with any learning rate the range test found) and the validation metrics."""
    from catdog.train.calibration import predict_logits, softmax
    from catdog.train.models import ModelError, from_scratch

    strategy = prepare(config)
    import keras

    scratch = from_scratch(config.model, config.weights)
    if scratch:  # one phase: nothing pretrained to keep, nothing to fine-tune after
        config = replace(config, fine_tune_epochs=0)
    built = build(config, len(dataset.labels), strategy)
    record = recipe_record(config, dataset, scratch)
    fitting, built = start_fitting(config, dataset, built, record, run_dir, started, strategy)
    if config.find_lr == "head" or config.lr == "find":
        config = replace(config, lr=find_rate(config, fitting, built, "head", strategy))
        if config.find_lr == "head":
            write_json(run_dir / CONFIG, record)  # a range test's end: its recipe, as given
            return config, {"suggested_lr": config.lr}
        with strategy.scope():
            built.model.compile(make_optimizer(config, config.lr), built.loss, metrics=["accuracy"])
    phase_two = built.base is not None and config.fine_tune_epochs > 0
    if config.find_lr == "fine-tune" and not phase_two:
        raise ModelError("--find-lr fine-tune needs a pretrained model and --fine-tune-epochs above 0")
    history = train_head(config, fitting, built)
    resumed_in_two = bool(fitting.resumed and fitting.resumed["phase"] == 2)
    head_epochs = fitting.resumed["head_epochs"] if resumed_in_two else len(history["loss"])
    if phase_two:
        trainable = None
        if not resumed_in_two:
            config, trainable = unfreeze(config, fitting, built, strategy)
            if config.find_lr:
                for done in (CHECKPOINT, RESUME_MODEL, RESUME_STATE):
                    (run_dir / done).unlink()  # a range-test run keeps no model
                write_json(run_dir / CONFIG, record)  # a range test's end: its recipe, as given
                return config, {"suggested_lr": config.fine_tune_lr}
        history = fine_tune(config, fitting, built, head_epochs, trainable)

    best = keras.models.load_model(run_dir / CHECKPOINT, compile=False)
    chooser = "selection" if dataset.selection else "validation"
    choice_y = [y for _, y in fitting.choice_items]
    val_logits = predict_logits(best, dataset.validation, config.size, config.batch_size)
    choice_logits = predict_logits(best, fitting.choice_items, config.size, config.batch_size)
    calibration, temperature = calibrate(config, best, choice_logits, choice_y, bool(dataset.selection))
    rule = decision_rule(dataset.labels, choice_logits, choice_y, temperature)
    metrics = measure(config, best, dataset, rule, softmax(val_logits), calibration, chooser)
    metrics["wall_seconds"] = round(fitting.elapsed(), 1)
    config_json = {**with_rates(record, config), "temperature": temperature, **rule}
    write_results(run_dir, best, config_json, metrics, history, head_epochs)
    plot_reliability_of(run_dir, dataset, val_logits, temperature, chooser)
    print(format_metrics(metrics))
    if (metrics.get("selection", {}).get("false_pet_rate") or 0) >= FALSE_PET_TARGET:
        print(
            f"min probability {rule['min_probability']:g} leaves {metrics['selection']['false_pet_rate']:.1%} of the "
            f"selection split's negatives called a pet: under {FALSE_PET_TARGET:.0%} would cost its pets more than "
            f"{PET_COST:.0%} of accuracy"
        )
    if calibration:
        print(calibration.sentence())
        print(
            f"validation log loss {metrics['before_calibration']['log_loss']:.4f} -> {metrics['log_loss']:.4f}, "
            f"ECE {metrics['before_calibration']['ece']:.4f} -> {metrics['ece']:.4f}"
            + ("" if temperature else " (unchanged: no temperature)")
        )
    return config, metrics


def with_rates(record: dict, config: TrainConfig) -> dict:
    """config.json's record with the config's hyperparameters: the learning rates a range test found."""
    return {**record, "hyperparameters": config.record()["hyperparameters"]}


def write_results(run_dir: Path, best, config_json: dict, metrics: dict, history: dict, head_epochs: int) -> None:
    """model.keras, config.json (written once, here), metrics.json, history.json and curves.png; the
    checkpoint and the resume point removed."""
    from catdog.train.evaluate import plot_curves

    with atomic_path(run_dir / MODEL) as temp:
        best.save(temp)
    for done in (CHECKPOINT, RESUME_MODEL, RESUME_STATE):
        (run_dir / done).unlink(missing_ok=True)
    write_json(run_dir / CONFIG, config_json)
    write_json(run_dir / METRICS, metrics)
    chooser = metrics["chosen_on"]
    history = {key: [float(v) for v in values] for key, values in history.items()}
    write_json(run_dir / HISTORY, {"head_epochs": head_epochs, "val_split": chooser, **history})
    fine_tuned = len(history["loss"]) > head_epochs
    plot_curves(history, run_dir / CURVES, head_epochs if fine_tuned else None, chooser)


def plot_reliability_of(run_dir: Path, dataset, val_logits, temperature, chooser: str) -> None:
    """reliability.png: the validation split before and after the temperature."""
    from catdog.train.calibration import plot_reliability, softmax

    val_y = [y for _, y in dataset.validation]
    calibrated = softmax(val_logits / temperature) if temperature else None
    title = f"validation split, {len(val_y)} images" + (
        f"; T = {temperature:.3f} fitted on {chooser}" if temperature else ""
    )
    plot_reliability(val_y, softmax(val_logits), calibrated, run_dir / RELIABILITY, title)


def count_weights(weights) -> int:
    """How many numbers the weight tensors hold."""
    return sum(math.prod(w.shape) for w in weights)
