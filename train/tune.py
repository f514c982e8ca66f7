"""`catdog-tune`: Keras Tuner's Bayesian optimisation of the transfer-learning hyperparameters.

Every trial is a short `catdog-train` run (its run folder is kept in the trial's folder) scored on the
selection split carved from the training images (catdog-train's --selection-fraction), never on the
validation split, so the accuracy reported afterwards stays honest. The search is resumable: the Keras
Tuner project folder OUT/keras_tuner keeps every finished trial, and the same command carries on.

Distributed, as Keras Tuner does it: one chief (the oracle) and any number of workers, told apart by
KERASTUNER_TUNER_ID ("chief", "tuner0", ...), KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT.
`--workers N` starts the chief here and N local workers. OUT gets trials.md / trials.json (one row per
trial), search.png and best.json (`catdog-train --config OUT/best.json` trains the best trial in full).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from catdog.runtime.arguments import bounded
from catdog.runtime.files import atomic_path, write_json
from catdog.train.config import ConfigError, TrainConfig

# name -> (low, high, log scale, step): the hyperparameters that matter for transfer learning (train/config.py).
SPACE = TrainConfig.search_space()
OBJECTIVE = "selection_loss"
# catdog-train's options that a search fixes for all its trials, with the search's own defaults and help.
BUDGET = {
    "data": {"help": "data set folder (default: $CATDOG_DATA, else the cats_and_dogs_filtered download)"},
    "model": {"choices": ("mobilenetv2", "resnet50", "resnet101"), "help": None},
    "alpha": {"help": "MobileNetV2 width"},
    "size": {"default": 160, "help": "input size in pixels (default: %(default)s)"},
    "weights": {"help": "as catdog-train's --weights"},
    "max_images": {"default": 600, "type": bounded(int, 4), "help": "training images per trial (default: %(default)s)"},
    "epochs": {"default": 2, "help": "phase 1 epochs per trial (default: %(default)s)"},
    "fine_tune_epochs": {"default": 2, "help": "phase 2 epochs per trial (default: %(default)s)"},
    "batch_size": {},
    "selection_fraction": {
        "default": 0.2,
        "type": bounded(float, 0, 1, exclusive="low high"),
        "help": "share of the training images each trial is scored on, not validation (default: %(default)s)",
    },
    "seed": {},
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="catdog-tune", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    TrainConfig.add_arguments(parser, BUDGET)
    add(
        "--trials",
        type=bounded(int, 1),
        default=6,
        help="how many trials in all (a resumed search counts the finished ones)",
    )
    add(
        "--initial-points",
        type=bounded(int, 1),
        help="random trials before the Gaussian process takes over (default: a third of --trials, at least 2)",
    )
    add(
        "--workers",
        type=bounded(int, 0),
        default=0,
        help="start a chief (the oracle) and this many local worker processes (0: run the trials in this process)",
    )
    add("--out", default="runs/tune", help="folder for the Keras Tuner project and the reports")
    add("--overwrite", action="store_true", help="start afresh instead of resuming the search in --out")
    add("--quiet", action="store_true", help="no progress bars, only the result lines")
    add("--verbose", action="store_true", help="keep TensorFlow's log lines and warnings left out as noise")
    return parser.parse_args(argv)


def search_space():
    """SPACE as Keras Tuner hyperparameters."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    for name, (low, high, log, step) in SPACE.items():
        sampling = "log" if log else "linear"
        if isinstance(low, int):
            hp.Int(name, low, high, step=step, sampling=sampling)
        else:
            hp.Float(name, low, high, step=step, sampling=sampling)
    return hp


def trial_config(args, values: dict, folder: Path | None = None) -> TrainConfig:
    """The catdog-train config of one trial: the search's budget and data, the trial's values, no calibration
    (a trial is scored on the selection split's log loss), its run folder in the trial's folder."""
    budget = {name: getattr(args, name) for name in BUDGET}
    where = {"runs_dir": str(folder), "name": "run", "quiet": True} if folder else {}
    return TrainConfig(**budget, **values, calibrate=False, **where)


def make_tuner(args):
    """The BayesianOptimization tuner whose trials are catdog-train runs."""
    import keras
    import keras_tuner

    from catdog.runtime.datasets import DataError
    from catdog.train.models import ModelError
    from catdog.train.run import train

    class Tuner(keras_tuner.BayesianOptimization):
        def run_trial(self, trial, *unused, **unused_kw):
            folder = Path(self.get_trial_dir(trial.trial_id))
            worker = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
            started = time.time()
            keras.backend.clear_session()
            try:
                metrics = train(trial_config(args, trial.hyperparameters.values, folder)).metrics
            except (DataError, ModelError) as error:  # the same in every trial: the search stops, in one line
                raise keras_tuner.errors.FatalRuntimeError(str(error)) from None
            seconds = time.time() - started
            with open(folder / "runs.jsonl", "a") as log:  # one line per time this trial ran
                log.write(json.dumps({"worker": worker, "pid": os.getpid(), "seconds": round(seconds, 1)}) + "\n")
            return {
                OBJECTIVE: metrics["selection"]["log_loss"],
                "selection_accuracy": metrics["selection"]["accuracy"],
                "seconds": round(seconds, 1),
                "worker": float(worker.removeprefix("tuner") or 0),
            }

    return Tuner(
        objective=keras_tuner.Objective(OBJECTIVE, "min"),
        max_trials=args.trials,
        num_initial_points=args.initial_points or max(2, args.trials // 3),
        hyperparameters=search_space(),
        allow_new_entries=False,
        seed=args.seed,
        directory=args.out,
        project_name="keras_tuner",
        overwrite=args.overwrite,
    )


def trial_rows(oracle) -> list[dict]:
    """One row per trial in creation order: its values, state and scores."""
    rows = []
    for trial_id in sorted(oracle.trials, key=int):
        trial = oracle.trials[trial_id]
        metrics = {
            name: trial.metrics.get_last_value(name)
            for name in (OBJECTIVE, "selection_accuracy", "seconds", "worker")
            if trial.metrics.exists(name)
        }
        worker = metrics.pop("worker", None)
        if "seconds" in metrics:  # Keras Tuner keeps metrics as float32: 113.5 comes back as 113.5057
            metrics["seconds"] = round(metrics["seconds"], 1)
        rows.append(
            {
                "trial": trial_id,
                "status": trial.status,
                "worker": None if worker is None else f"tuner{int(worker)}",
                **metrics,
                **trial.hyperparameters.values,
            }
        )
    return rows


def write_reports(args, rows: list[dict]) -> dict | None:
    """trials.json, trials.md, search.png and best.json (the trial with the lowest selection loss)."""
    out = Path(args.out)
    done = [row for row in rows if row.get(OBJECTIVE) is not None and math.isfinite(row[OBJECTIVE])]
    best = min(done, key=lambda row: row[OBJECTIVE]) if done else None
    write_json(
        out / "trials.json",
        {
            "objective": f"{OBJECTIVE} (log loss on the selection split, min)",
            "budget": {"trials": args.trials, **{name: getattr(args, name) for name in BUDGET}},
            "best_trial": best and best["trial"],
            "trials": rows,
        },
    )
    columns = ["trial", "worker", "status", OBJECTIVE, "selection_accuracy", "seconds", *SPACE]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [format_value(row.get(column)) for column in columns]
        lines.append("| " + " | ".join(f"**{c}**" if row is best else c for c in cells) + " |")
    with atomic_path(out / "trials.md") as temp:
        temp.write_text(
            f"# catdog-tune: {len(rows)} trials, scored on the selection split\n\n" + "\n".join(lines) + "\n"
        )
    if done:
        plot_search(done, out / "search.png")
    if best:
        # The best trial's recipe without the search's budget (its epochs and images): a full run of it.
        recipe = trial_config(args, {name: best[name] for name in SPACE}).record()
        given = {key: value for key, value in recipe.items() if value not in (None, []) and key != "hyperparameters"}
        options = {**given, **{name: best[name] for name in SPACE}}
        write_json(
            out / "best.json",
            {
                **options,
                "trial": best["trial"],
                OBJECTIVE: best[OBJECTIVE],
                "selection_accuracy": best.get("selection_accuracy"),
            },
        )
    return best


def format_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 or abs(value) >= 1e3 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def plot_search(rows: list[dict], path: Path) -> None:
    """Selection loss per trial with the best so far, and against both learning rates."""
    from catdog.train.plots import pyplot, save_figure

    plt = pyplot()
    import numpy as np
    from matplotlib.ticker import MaxNLocator, NullFormatter

    losses = np.array([row[OBJECTIVE] for row in rows])
    figure, axes = plt.subplots(1, 3, figsize=(14, 4))
    axes[0].plot(range(1, len(rows) + 1), losses, "o", label="trial")
    axes[0].plot(range(1, len(rows) + 1), np.minimum.accumulate(losses), "-", label="best so far")
    axes[0].set_xlabel("trial (in order)")
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    for axis, name in zip(axes[1:], ("lr", "fine_tune_lr")):
        points = axis.scatter([row[name] for row in rows], losses, c=[row["fine_tune_layers"] for row in rows])
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(NullFormatter())  # a narrow log range would label every minor tick
        axis.set_xlabel(f"{name} ({'phase 1' if name == 'lr' else 'phase 2'})")
    figure.colorbar(points, ax=axes[2], label="fine-tuned layers")
    for axis in axes:
        axis.set_ylabel("selection log loss")
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.suptitle("catdog-tune: Bayesian optimisation, scored on the selection split")
    figure.tight_layout()
    save_figure(figure, path)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def become_chief() -> None:
    """This process becomes the chief (the oracle), on a free local port."""
    os.environ.update(
        KERASTUNER_TUNER_ID="chief", KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(free_port())
    )


def start_workers(count: int, argv: list[str]) -> list[subprocess.Popen]:
    """`count` worker processes of the same search on this chief; they never start the project afresh."""
    command = [sys.executable, "-m", "catdog.train.tune", *[a for a in argv if a != "--overwrite"], "--workers", "0"]
    return [subprocess.Popen(command, env={**os.environ, "KERASTUNER_TUNER_ID": f"tuner{i}"}) for i in range(count)]


def check_out(out: Path) -> None:
    """NotADirectoryError in one line if --out is, or would be under, a file: Keras Tuner's own error would be
    TensorFlow's (its file layer's errors are not OSError)."""
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                raise NotADirectoryError(f"cannot use --out {out}: {folder} is a file, not a folder")
            return


def make_out(out: Path) -> None:
    """Make the --out folder before Keras Tuner does; OSError in one line if it cannot be made."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(f"cannot use --out {out}: {error.strerror}") from None


def tune(args, argv: list[str]) -> dict | None:
    """Run (or resume, or serve as the chief of) the search; the chief or a lone process writes the reports."""
    from catdog.train.run import load_data

    load_data(trial_config(args, {}))  # the data set's errors in one line before any trial, downloads done once
    make_out(Path(args.out))
    if args.workers:
        become_chief()
    role = os.environ.get("KERASTUNER_TUNER_ID")
    tuner = make_tuner(args)  # before the workers start: --overwrite clears the project first
    workers = start_workers(args.workers, argv) if args.workers else []
    if role and role != "chief":
        print(
            f"catdog-tune: worker {role} asking the oracle at {os.environ.get('KERASTUNER_ORACLE_IP')}:"
            f"{os.environ.get('KERASTUNER_ORACLE_PORT')} for trials"
        )
    else:
        print(
            f"catdog-tune: {args.trials} trials ({len(tuner.oracle.trials)} already in {args.out}), "
            + (
                f"{len(workers)} local workers on port {os.environ['KERASTUNER_ORACLE_PORT']}"
                if workers
                else "chief: waiting for workers"
                if role == "chief"
                else "in this process"
            )
        )
    tuner.search(verbose=0 if args.quiet else 1)
    if not (role and role != "chief"):
        # Keras Tuner saves the oracle before it drops the last trial from its ongoing trials, so a resumed
        # search would run that trial again; saving once more now that none is ongoing avoids it.
        tuner.oracle.save()
    failed = [w.args for w in workers if w.wait() != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} worker(s) failed")
    if role and role != "chief":
        return None  # the chief writes the reports
    best = write_reports(args, trial_rows(tuner.oracle))
    print(
        f"trials: {args.out}/trials.md, best: {args.out}/best.json"
        + (
            f" (trial {best['trial']}, selection log loss {best[OBJECTIVE]:.4f}); train it in full with "
            f"catdog-train --config {args.out}/best.json"
            if best
            else " (no trial finished)"
        )
    )
    return best


def main(argv=None) -> int:
    """Entry point of catdog-tune: one-line errors, non-zero exit."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    try:
        check_out(Path(args.out))  # before TensorFlow is imported: its start-up lines would come first
    except OSError as error:
        print(f"catdog-tune: error: {error}", file=sys.stderr)
        return 2
    from catdog.export.noise import quiet_tensorflow
    from catdog.runtime.datasets import DataError

    with quiet_tensorflow(not args.verbose):
        from catdog.train.models import ModelError  # imports TensorFlow

        try:
            tune(args, argv)
        except (ConfigError, DataError, ModelError, OSError, RuntimeError, ImportError) as error:
            print(f"catdog-tune: error: {str(error).splitlines()[0]}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(
                f"catdog-tune: interrupted; finished trials stay in {args.out}: the same command resumes",
                file=sys.stderr,
            )
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
