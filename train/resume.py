"""Resuming an interrupted catdog-train run (`--resume runs/NAME`) at its last finished epoch.

After every epoch the run folder gets `resume.keras` (the model with its optimizer state: Adam moments,
EMA of the weights, step count, hence the learning-rate schedule) and `resume.json` (the phase, the
epochs done, the history, the state of the checkpoint and early-stopping callbacks, the seconds spent, the
run's recipe, which `--resume` reads back, and the run it belongs to: the model, a hash of the recipe and a hash
of the split). A resume point that is not the run's own (copied from another run, or a resume.json a person
wrote) is refused in one line. What resume.json holds (STATE) and its check (state_problem) are in
train/config.py, free of TensorFlow: catdog-train reads the recipe before importing it."""

from __future__ import annotations

import hashlib
import json
import math
import signal
from pathlib import Path

import keras

from catdog.runtime.files import atomic_path, read_json, require_zip, write_json
from catdog.runtime.folders import RESUME_MODEL, RESUME_STATE
from catdog.train.config import state_problem

__all__ = ["RESUME_MODEL", "RESUME_STATE", "ResumePoint", "RestoreStopping", "StopOnInterrupt", "read_resume"]
# The record's keys that make the recipe (with its hyperparameters, but for --distribute: where it runs).
RECIPE = ("model", "alpha", "size", "labels", "preparation", "weights", "seed", "negatives", "other_pets", "add")


def run_identity(config: dict, split: dict) -> dict:
    """What a resume point belongs to: the model, and short SHA-256s of the recipe (the record's RECIPE keys
    and hyperparameters: run.py's recipe_record, as config.json and resume.json hold it) and of the split
    (split.json's content)."""
    hyperparameters = {k: v for k, v in config["hyperparameters"].items() if k != "distribute"}
    recipe = {**{key: config.get(key) for key in RECIPE}, "hyperparameters": hyperparameters}
    return {"model": config["model"], "recipe": digest(recipe), "split": digest(split)}


def digest(value) -> str:
    """A short SHA-256 of a JSON value."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


class ResumePoint(keras.callbacks.Callback):
    """Saves the resume point after every epoch. Put it first among the callbacks: it then runs before
    SwapEMAWeights puts the averaged weights in the model, and before the checkpoint and early stopping
    have seen this epoch (their new state is worked out here the same way)."""

    def __init__(
        self,
        run_dir: Path,
        phase: int,
        head_epochs: int | None,
        history: dict,
        checkpoint,
        stop,
        elapsed,
        identity,
        recipe: dict,
    ):
        super().__init__()
        self.run_dir, self.phase, self.head_epochs, self.history = run_dir, phase, head_epochs, history
        self.checkpoint, self.stop, self.elapsed, self.identity = checkpoint, stop, elapsed, identity
        self.recipe = recipe

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        current = float(logs["val_loss"])
        improved = self.stop.best is None or current < self.stop.best
        state = {
            "phase": self.phase,
            "epochs_done": epoch + 1,
            "head_epochs": self.head_epochs,
            "history": self.history,
            "checkpoint_best": min(finite(self.checkpoint.best), current),
            "stop_best": current if improved else float(self.stop.best),
            "stop_wait": 0 if improved else self.stop.wait + 1,
            "seconds": round(self.elapsed(), 1),  # the run's training time so far, for its metrics
            "run": self.identity,
            "recipe": self.recipe,  # what --resume reads the run's options from
        }
        with atomic_path(self.run_dir / RESUME_MODEL) as temp:
            self.model.save(temp)
        write_json(self.run_dir / RESUME_STATE, state)


class RestoreStopping(keras.callbacks.Callback):
    """Gives early stopping back its state when a phase resumes (after EarlyStopping.on_train_begin reset it):
    its best selection loss, the epochs waited, and, in phase 1, the best weights (those of the checkpoint)."""

    def __init__(self, stop, state: dict, best_weights):
        super().__init__()
        self.stop, self.state, self.best_weights = stop, state, best_weights

    def on_train_begin(self, logs=None):
        self.stop.best, self.stop.wait = self.state["stop_best"], self.state["stop_wait"]
        self.stop.best_weights = self.best_weights


class StopOnInterrupt(keras.callbacks.Callback):
    """Ctrl-C (or `kill`'s SIGTERM) stops training at the next batch even where Python swallowed its
    KeyboardInterrupt: a signal that lands in a finalizer (a tf.data iterator's __del__ at an epoch's end) is
    only printed as ignored."""

    requested = False

    @classmethod
    def install(cls) -> None:
        """Note every SIGINT and SIGTERM, then raise KeyboardInterrupt as Python's own SIGINT handler does."""

        def handler(signum, frame):
            cls.requested = True
            raise KeyboardInterrupt

        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, handler)

    def on_train_batch_end(self, batch, logs=None):
        if StopOnInterrupt.requested:
            raise KeyboardInterrupt

    on_epoch_end = on_test_batch_end = on_train_batch_end


def finite(value) -> float:
    """A callback's best value so far (None or inf before the first epoch) as a float."""
    return math.inf if value is None else float(value)


def read_resume(run_dir: Path, identity: dict, fresh) -> tuple[dict, object]:
    """The saved state and the compiled model with its optimizer state, once the state is whole and belongs to
    the run `identity` names, and the model has the weights of `fresh` (the network this run builds);
    ValueError in one line otherwise."""
    state_path, model_path = run_dir / RESUME_STATE, run_dir / RESUME_MODEL
    if not state_path.is_file() or not model_path.is_file():
        raise ValueError(
            f"nothing to resume in {run_dir}: no {RESUME_STATE} and {RESUME_MODEL} "
            "(a run writes them after every epoch until it ends)"
        )
    state = read_json(state_path)
    problem = state_problem(state)
    if problem:
        raise ValueError(f"{state_path} is not a resume point catdog-train wrote: {problem}")
    differ = [key for key in identity if state["run"].get(key) != identity[key]]
    if differ:
        theirs = ", ".join(f"{key} {state['run'].get(key)}" for key in differ)
        ours = ", ".join(f"{key} {identity[key]}" for key in differ)
        raise ValueError(f"{state_path} belongs to another run ({theirs}; this run: {ours}): not resumed")
    try:
        require_zip(model_path, "Keras model")
    except ValueError as error:
        raise ValueError(f"cannot load {model_path}: {error}") from None
    model = keras.models.load_model(model_path)
    if shapes(model) != shapes(fresh):
        raise ValueError(
            f"{model_path} is not this run's {identity['model']} network (its weights differ in number or shape: "
            "another run's?): not resumed"
        )
    return state, model


def shapes(model) -> list[tuple]:
    """The shapes of a model's weights: the network it is, whatever their values."""
    return sorted(tuple(weight.shape) for weight in model.weights)


def pretrained_base(model):
    """The pretrained base nested in a model from train/models.py (None for the from-scratch ones)."""
    return next((layer for layer in model.layers if isinstance(layer, keras.Model)), None)
