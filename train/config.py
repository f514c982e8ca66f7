"""The training recipe, declared once: `TrainConfig`, whose fields carry their default, type, bounds and help.

From it come catdog-train's flags (`TrainConfig.parser()`), the checking of a --config file's values (the
same parser: the same types, bounds and choices, unknown keys refused by name), config.json's recipe
(`record()`, with `from_record()` reading it back), catdog-tune's per-trial configs (`dataclasses.replace`)
and a command line that makes a run (`to_command_line()`). A run is its config: the same config, machine and
versions train the same model."""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from catdog.runtime.arguments import bounded, folder_name
from catdog.runtime.datasets import BACKGROUND

MODELS = ("mobilenetv2", "resnet50", "resnet101", "mlp", "cnn2", "cnn4", "cnn8", "cnn")
TOP, HYPER = "top", "hyperparameters"  # where config.json records a field (else it is not recorded)


def or_find(parse):
    """An argparse type: 'find' (the learning-rate range test chooses), else what `parse` accepts."""

    def parse_or_find(text: str):
        return text if text == "find" else parse(text)

    return parse_or_find


def option(default=None, help=None, record=HYPER, in_file=True, search=None, **argparse_options):
    """A TrainConfig field: its default, where config.json records it (TOP, HYPER or None), whether a --config
    file may set it, catdog-tune's search range for it (`search`: (low, high, log scale, step)) and its argparse
    options (type, choices, action, nargs, const, metavar). A True default is turned off by --no-NAME, a False
    one turned on by --NAME."""
    metadata = {"help": help, "record": record, "in_file": in_file, "search": search, "argparse": argparse_options}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a catdog-train run is made from (and where it goes, and how much it says)."""

    data: str | None = option(
        help="data set folder (default: $CATDOG_DATA, else TensorFlow's cats_and_dogs_filtered download)", record=TOP
    )
    negatives: str | None = option(
        help=f"folder of photos with none of the classes in them, learnt as the class {BACKGROUND!r} ('none': "
        "no background class; default with the default data set: $CATDOG_NEGATIVES, else the ImageNet sample "
        "images' non-pet classes)",
        record=TOP,
    )
    other_pets: str | None = option(
        help="class folders (cats/, dogs/) of pet photos from another source, mixed in ('none': not used; default "
        "with the default data set: $CATDOG_OTHER_PETS, else the ImageNet sample images' cat and dog classes)",
        record=TOP,
    )
    add: list[str] = option(
        [],
        help="class folders to mix into the data set's classes of the same name (and none/ into the background), "
        "e.g. sorted catdog-cam --collect frames; repeatable",
        record=TOP,
        action="append",
        metavar="DIR",
    )
    model: str = option(
        "mobilenetv2",
        help="mlp: the numpy baseline; cnn2/cnn4/cnn8: from-scratch CNNs (docs/tuning.md); cnn: the old name of cnn4",
        record=TOP,
        choices=MODELS,
    )
    alpha: float = option(1.0, help="MobileNetV2 width: 0.35, 0.5, 0.75 or 1.0", record=TOP, type=float)
    size: int = option(224, help="input size in pixels (square)", record=TOP, type=bounded(int, 32, 512))
    weights: str = option(
        "imagenet", help="'imagenet' ($CATDOG_WEIGHTS_DIR first, else Keras' download), 'none', or a file", record=TOP
    )
    epochs: int = option(6, help="phase 1: epochs training the head on the frozen base", type=bounded(int, 1))
    fine_tune_epochs: int = option(
        16, help="phase 2: epochs fine-tuning the top of the base (0: skip)", type=bounded(int, 0)
    )
    fine_tune_layers: int = option(
        100, help="how many top layers of the base to fine-tune", search=(20, 120, False, 20), type=bounded(int, 1)
    )
    lr: float | str = option(
        1e-3,
        help="phase 1 learning rate (Adam); 'find': the learning-rate range test's suggestion",
        search=(1e-4, 1e-2, True, None),
        type=or_find(bounded(float, 0, exclusive="low")),
    )
    fine_tune_lr: float | str = option(
        5e-5,
        help="phase 2 learning rate (Adam); 'find': the learning-rate range test's suggestion",
        search=(1e-6, 1e-3, True, None),
        type=or_find(bounded(float, 0, exclusive="low")),
    )
    find_lr: str | None = option(
        help="only run the learning-rate range test for phase 1 (head, the default) or phase 2 (fine-tune, after "
        "training the head): writes lr_find.png and lr_find.json to the run folder, prints the suggestion",
        nargs="?",
        const="head",
        choices=("head", "fine-tune"),
    )
    find_lr_steps: int = option(100, help="batches the range test runs at most", record=None, type=bounded(int, 2))
    fine_tune_schedule: str = option(
        "cosine",
        help="phase 2 learning rate: cosine decay from --fine-tune-lr to 0 over --fine-tune-epochs, or constant",
        choices=("cosine", "constant"),
    )
    batch_size: int = option(32, type=bounded(int, 1))
    patience: int = option(4, help="early stopping patience on selection loss, per phase", type=bounded(int, 0))
    dropout: float = option(
        0.2,
        help="dropout before the classifier layer",
        search=(0.0, 0.5, False, 0.1),
        type=bounded(float, 0, 1, "high"),
    )
    l2: float = option(
        0.0, help="L2 weight decay on the classifier layer", search=(1e-6, 1e-2, True, None), type=bounded(float, 0)
    )
    ema: bool = option(
        True,
        help="turn off the exponential moving average of weights (evaluated and checkpointed instead of raw weights)",
    )
    augment: bool = option(True, help="turn off flip/rotation/zoom/... augmentation (not --hide-source's)")
    hide_source: bool = option(
        False,
        help="also augment what tells one photo source from another (saturation, hue, blur, JPEG quality, "
        "resolution), so that a model with a background class learns the animal rather than where its photos "
        "came from (docs/training.md)",
    )
    augment_strength: float = option(
        1.0, help="scales every augmentation range", search=(0.0, 1.5, False, 0.25), type=bounded(float, 0)
    )
    validation_fraction: float = option(
        0.2, help="share held out when the data has no validation split", type=bounded(float, 0, 1, "low high")
    )
    selection_fraction: float = option(
        0.1,
        help="stratified share of the training images set aside to choose on (early stopping, best checkpoint, "
        "calibration), so that the validation split is only measured; 0: choose on validation as before",
        type=bounded(float, 0, 1, "high"),
    )
    calibrate: bool = option(
        True, help="do not fit a temperature on the selection split and fold it into the classifier layer"
    )
    label_smoothing: float = option(
        0.0, help="label smoothing of the training loss (0: none)", type=bounded(float, 0, 1, "high")
    )
    max_images: int | None = option(
        help="use at most this many training images (quick tries, tests)", type=bounded(int, 2)
    )
    max_background: int | None = option(
        help="train on at most this many of the background's photos, the selection and validation splits "
        "unchanged: how many negatives are enough (docs/results.md)",
        type=bounded(int, 1),
    )
    seed: int = option(42, record=TOP, type=bounded(int, 0))
    distribute: str = option(
        "none",
        help="'mirrored': tf.distribute.MirroredStrategy over all GPUs, or two logical CPU devices",
        choices=("none", "mirrored"),
    )
    runs_dir: str = option("runs", help="where run folders go", record=None)
    name: str | None = option(help="run folder name (default: model, size and time)", record=None, type=folder_name)
    quiet: bool = option(False, help="no progress bars, only the result lines", record=None)
    verbose: bool = option(False, help="keep TensorFlow's log lines and warnings left out as noise", record=None)
    resume: str | None = option(
        help="continue an interrupted run folder at its last finished epoch, with its optimizer state and phase "
        "(its config.json gives the other options)",
        record=None,
        in_file=False,
        metavar="RUN",
    )

    def __post_init__(self):
        """ConfigError in one line for values that go together in no run (however they were given: flags, a
        --config file, a resume point, catdog-tune, Python)."""
        if self.model != "mobilenetv2" and self.alpha != self.__dataclass_fields__["alpha"].default:
            raise ConfigError(f"--alpha {self.alpha:g} is MobileNetV2's width: --model {self.model} has none")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, changes: dict[str, dict] | None = None) -> None:
        """One flag per field, named after it (--fine-tune-lr; --no-ema for a field that is True by default).
        With `changes` (field name -> argparse options that replace the field's own: default, help, type,
        choices), only those fields' flags: catdog-tune's, with its own defaults."""
        for item in fields(cls):
            if changes is not None and item.name not in changes:
                continue
            options = {**item.metadata["argparse"], "help": item.metadata["help"], "dest": item.name}
            flag = f"--{item.name.replace('_', '-')}"
            if isinstance(item.default, bool):
                flag = f"--no-{item.name}" if item.default else flag
                options["action"] = "store_false" if item.default else "store_true"
            else:
                options["default"] = [] if item.default is MISSING else item.default
            parser.add_argument(flag, **{**options, **(changes or {}).get(item.name, {})})

    @classmethod
    def search_space(cls) -> dict[str, tuple]:
        """catdog-tune's search space: field name -> (low, high, log scale, step), in declaration order."""
        return {item.name: item.metadata["search"] for item in fields(cls) if item.metadata["search"]}

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        """catdog-train's parser: the fields' flags, and --config."""
        parser = argparse.ArgumentParser(
            prog="catdog-train", description="Train an image classifier on a folder of images."
        )
        cls.add_arguments(parser)
        parser.add_argument(
            "--config",
            help="a run's config.json (or catdog-tune's best.json): its values become the defaults, "
            "so it reproduces that run and the flags given override it",
        )
        return parser

    @classmethod
    def from_record(cls, config: dict, **changes) -> TrainConfig:
        """The TrainConfig of a run's config.json (or of catdog-tune's best.json): its top-level fields and its
        hyperparameters, then `changes`. Keys that are not fields are left out; values are not checked (read
        files given by people with `read_config`)."""
        values = {**config, **config.get(HYPER, {})}
        names = {item.name for item in fields(cls) if item.metadata["in_file"]}
        return cls(**{key: value for key, value in values.items() if key in names and value is not None}, **changes)

    def record(self) -> dict:
        """config.json's recipe: the top-level fields (alpha only for MobileNetV2) and the hyperparameters."""
        top = {item.name: getattr(self, item.name) for item in fields(self) if item.metadata["record"] == TOP}
        top["alpha"] = self.alpha if self.model == "mobilenetv2" else None
        hyper = {item.name: getattr(self, item.name) for item in fields(self) if item.metadata["record"] == HYPER}
        return {**top, HYPER: hyper}

    def to_dict(self) -> dict:
        return asdict(self)

    def to_command_line(self, program: str = "catdog-train") -> str:
        """A command that trains this config: `program` and every option whose value differs from its default, in
        declaration order (--no-ema for ema=False, --add once per folder)."""
        parts = [program]
        for item in fields(self):
            value = getattr(self, item.name)
            default = [] if item.default is MISSING else item.default
            if value == default or value is None:
                continue
            flag = f"--{item.name.replace('_', '-')}"
            if isinstance(default, bool):
                parts.append(f"--no-{item.name}" if default else flag)
            else:
                parts += [
                    part for each in (value if isinstance(value, list) else [value]) for part in (flag, str(each))
                ]
        return shlex.join(parts)


# Keys of config.json (catdog-train) and best.json (catdog-tune) that are not options: a config file may hold
# them (they are left out); any other key that is not an option is refused.
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
    HYPER,
    "trial",
    "selection_loss",
    "selection_accuracy",
}


class ConfigError(ValueError):
    """A config file that cannot be used, said in one line (naming the file and the key)."""


def read_config(path: str | Path, parser: argparse.ArgumentParser | None = None) -> dict:
    """A config file's option values, checked by `check_config`; ConfigError in one line for a file that is not
    readable JSON too."""
    source = f"--config {path}"
    try:
        saved = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"{source}: not a readable JSON object ({error})") from None
    return check_config(saved, source, parser)


def check_config(saved, source: str, parser: argparse.ArgumentParser | None = None) -> dict:
    """The option values of a recipe (a --config file's content, or the recipe a resume point carries: top level
    and its "hyperparameters"), checked by catdog-train's parser itself: each is written as the command line
    would give it and parsed, so that types, bounds and choices are those of the flags. ConfigError in one line
    beginning with `source`: not an object, unknown keys, a value the flag refuses, a number, true/false or list
    where the flag takes none."""
    try:
        values = {**saved, **saved.get(HYPER, {})}
    except (AttributeError, TypeError) as error:
        raise ConfigError(f"{source}: not a readable JSON object ({error})") from None
    parser = parser or TrainConfig.parser()
    allowed = {item.name for item in fields(TrainConfig) if item.metadata["in_file"]}
    actions = {a.dest: a for a in parser._actions if a.dest in allowed}
    unknown = sorted(key for key in values if key not in actions and key not in RECORDED)
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise ConfigError(
            f"{source}: unknown key{'s' if len(unknown) > 1 else ''} {names} (not an option of catdog-train)"
        )
    given = {key: value for key, value in values.items() if key in actions and value is not None}
    argv = []
    for key, value in given.items():
        action = actions[key]
        option, flag, append = action.option_strings[0], action.nargs == 0, isinstance(action, argparse._AppendAction)
        listed = isinstance(value, list) and all(isinstance(item, str) for item in value)
        if flag != isinstance(value, bool) or isinstance(value, dict) or listed != append:
            expected = "true or false" if flag else "a list of text" if append else "text or a number"
            raise ConfigError(f"{source}: argument {option}: expected {expected}, not {json.dumps(value)}")
        if flag:
            argv += [option] if value != action.default else []
        else:
            argv += [f"{option}={item}" for item in (value if isinstance(value, list) else [value])]
    parser.exit_on_error = False  # errors raised to be named with the file, not printed as the command line's
    try:
        parsed = vars(parser.parse_args(argv))
    except argparse.ArgumentError as error:
        raise ConfigError(f"{source}: {error}") from None
    finally:
        parser.exit_on_error = True
    for key, value in given.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and isinstance(parsed[key], str):
            raise ConfigError(f"{source}: argument {actions[key].option_strings[0]}: expected text, not {value}")
    return {key: parsed[key] for key in given}


NUMBER = (int, float)
# What a resume point's resume.json holds (train/resume.py writes it after every epoch), and the JSON types of
# each: "recipe" is the run's record (what config.json will hold, less what the end adds), which --resume reads.
STATE = {
    "phase": int,
    "epochs_done": int,
    "head_epochs": (int, type(None)),
    "history": dict,
    "checkpoint_best": NUMBER,
    "stop_best": NUMBER,
    "stop_wait": int,
    "seconds": NUMBER,
    "run": dict,
    "recipe": dict,
}


def state_problem(state) -> str | None:
    """What is wrong with a resume.json's content (missing keys, wrong types, a history that does not add up);
    None if nothing. The recipe's values are checked by `check_config`."""
    if not isinstance(state, dict):
        return "not a JSON object"
    for key, kind in STATE.items():
        if key not in state:
            return f"no {key!r}"
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            return f"{key!r} is {json.dumps(state[key])}"
    if state["phase"] not in (1, 2) or state["epochs_done"] < 1 or (state["phase"] == 2 and not state["head_epochs"]):
        return f"phase {state['phase']}, {state['epochs_done']} epochs done, head epochs {state['head_epochs']}"
    history = state["history"]
    if not all(isinstance(v, list) and all(isinstance(x, NUMBER) for x in v) for v in history.values()):
        return "its history is not lists of numbers"
    if len(history.get("loss", [])) != state["epochs_done"]:
        return f"its history has {len(history.get('loss', []))} epochs' losses, not {state['epochs_done']}"
    return None
