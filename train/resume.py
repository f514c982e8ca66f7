"""Resuming an interrupted catdog-train run (`--resume runs/NAME`) at its last finished epoch.

After every epoch the run folder gets `resume.keras` (the model with its optimizer state: Adam moments,
EMA of the weights, step count, hence the learning-rate schedule) and `resume.json` (the phase, the
epochs done, the history, the state of the checkpoint and early-stopping callbacks, and the seconds spent)."""

from __future__ import annotations

import math
import signal
from pathlib import Path

import keras

from catdog.runtime.files import atomic_path, read_json, write_json

RESUME_MODEL, RESUME_STATE = "resume.keras", "resume.json"


class ResumePoint(keras.callbacks.Callback):
    """Saves the resume point after every epoch. Put it first among the callbacks: it then runs before
    SwapEMAWeights puts the averaged weights in the model, and before the checkpoint and early stopping
    have seen this epoch (their new state is worked out here the same way)."""

    def __init__(self, run_dir: Path, phase: int, head_epochs: int | None, history: dict, checkpoint, stop, elapsed):
        super().__init__()
        self.run_dir, self.phase, self.head_epochs, self.history = run_dir, phase, head_epochs, history
        self.checkpoint, self.stop, self.elapsed = checkpoint, stop, elapsed

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


def read_resume(run_dir: Path) -> tuple[dict, object]:
    """The saved state and the compiled model with its optimizer state; ValueError if there is none."""
    if not (run_dir / RESUME_STATE).is_file() or not (run_dir / RESUME_MODEL).is_file():
        raise ValueError(
            f"nothing to resume in {run_dir}: no {RESUME_STATE} and {RESUME_MODEL} "
            "(a run writes them after every epoch until it ends)"
        )
    return read_json(run_dir / RESUME_STATE), keras.models.load_model(run_dir / RESUME_MODEL)


def pretrained_base(model):
    """The pretrained base nested in a model from train/models.py (None for the from-scratch ones)."""
    return next((layer for layer in model.layers if isinstance(layer, keras.Model)), None)
