"""Learning-rate range test (`catdog-train --find-lr`, `--lr find`, `--fine-tune-lr find`): train for a
bounded number of steps while the learning rate rises exponentially from START to END, record the loss of
every batch, and suggest a rate from the smoothed curve. The model's weights are put back afterwards.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np

from catdog.runtime.files import write_json

START, END = 1e-7, 1.0
SMOOTHING = 0.95  # exponential moving average of the loss, bias-corrected
DIVERGED = 4.0  # stop once the smoothed loss is this many times its minimum
RULE = "the rate at the minimum of the smoothed loss, divided by 10"


class RangeTest(keras.callbacks.Callback):
    """Set an exponentially rising learning rate before each batch and record each batch's loss; stop when
    the smoothed loss diverges. Keras reports the epoch's running mean, so a batch's loss is recovered as
    n * mean_n - (n - 1) * mean_(n-1)."""

    def __init__(self, steps: int, start: float = START, end: float = END, progress=None):
        super().__init__()
        self.steps, self.start, self.end, self.progress = steps, start, end, progress
        self.rates, self.losses, self.smoothed = [], [], []
        self._mean, self._average = 0.0, 0.0

    def rate(self, step: int) -> float:
        return self.start * (self.end / self.start) ** (step / max(1, self.steps - 1))

    def on_train_batch_begin(self, batch, logs=None):
        rate = self.rate(len(self.rates))
        self.model.optimizer.learning_rate.assign(rate)
        self.rates.append(rate)

    def on_train_batch_end(self, batch, logs=None):
        n, mean = len(self.rates), float(logs["loss"])
        loss = n * mean - (n - 1) * self._mean
        self._mean = mean
        self.losses.append(loss)
        self._average = SMOOTHING * self._average + (1 - SMOOTHING) * loss
        self.smoothed.append(self._average / (1 - SMOOTHING**n))
        if self.progress:
            self.progress()
        if not math.isfinite(loss) or self.smoothed[-1] > DIVERGED * min(self.smoothed):
            self.model.stop_training = True


def suggest(rates: list[float], smoothed: list[float]) -> float:
    """RULE, on the finite part of the curve."""
    finite = [(s, r) for r, s in zip(rates, smoothed) if math.isfinite(s)]
    return min(finite)[1] / 10


def range_test(
    model, train_ds, loss, steps: int, folder: Path, phase: str, current: float | None = None, quiet: bool = False
) -> float:
    """Run the range test on `model` (its trainable layers as they are now) and put its weights back; write
    lr_find.json and lr_find.png (phase 2: lr_find_fine_tune.*) to `folder`, print the suggestion and return it."""
    from tqdm.auto import tqdm

    weights = model.get_weights()
    model.compile(keras.optimizers.Adam(START), loss)
    bar = tqdm(total=steps, unit="step", desc=f"learning-rate range test ({phase})", disable=quiet)
    test = RangeTest(steps, progress=bar.update)
    model.fit(train_ds.repeat(), steps_per_epoch=steps, epochs=1, callbacks=[test], verbose=0, shuffle=False)
    bar.close()
    model.set_weights(weights)
    suggested = suggest(test.rates, test.smoothed)
    result = {
        "phase": phase,
        "suggested_lr": suggested,
        "rule": RULE,
        "current_lr": current,
        "start": START,
        "end": END,
        "steps": steps,
        "steps_run": len(test.rates),
        "smoothing": SMOOTHING,
        "rates": test.rates,
        "losses": test.losses,
        "smoothed": test.smoothed,
    }
    stem = "lr_find" if phase == "head" else "lr_find_fine_tune"
    write_json(folder / f"{stem}.json", result)
    plot(result, folder / f"{stem}.png")
    print(
        f"learning-rate range test ({phase}, {len(test.rates)} steps from {START:g} to "
        f"{test.rates[-1]:.3g}): suggested rate {suggested:.3g} ({RULE})"
    )
    return suggested


def plot(result: dict, path: Path) -> None:
    """Raw and smoothed loss against learning rate (log scale), the suggestion and current rate marked."""
    from catdog.train.plots import pyplot, save_figure

    plt = pyplot()

    figure, axis = plt.subplots(figsize=(7, 4.5))
    rates, smoothed = np.array(result["rates"]), np.array(result["smoothed"])
    axis.plot(rates, result["losses"], color="lightgray", label="loss per batch")
    axis.plot(rates, smoothed, label="smoothed loss")
    suggested = result["suggested_lr"]
    axis.axvline(suggested, color="tab:red", linestyle="--", label=f"suggested {suggested:.2g}")
    if result["current_lr"]:
        axis.axvline(
            result["current_lr"], color="tab:green", linestyle=":", label=f"default {result['current_lr']:.2g}"
        )
    finite = np.concatenate([values[np.isfinite(values)] for values in (smoothed, np.array(result["losses"]))])
    axis.set_ylim(finite.min() * 0.9, min(finite.max(), DIVERGED * smoothed[np.isfinite(smoothed)].min()) * 1.05)
    axis.set_xscale("log")
    axis.set_xlabel("learning rate")
    axis.set_ylabel("training loss")
    axis.set_title(f"learning-rate range test, {result['phase']} ({result['steps_run']} steps)")
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    figure.tight_layout()
    save_figure(figure, path)
