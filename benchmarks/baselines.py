"""The baselines table: one row per run folder (catdog-train, then `catdog-export RUN --int8`), with the
command that made it, validation accuracy and log loss, training minutes, and the int8 TFLite model's
accuracy (from the export's parity check) and milliseconds per image through catdog.runtime (the median
of catdog.runtime.auto.time_inference, as `--backend auto` times artifacts, at --threads threads).

    python benchmarks/baselines.py runs/mlp runs/cnn2 runs/cnn4 runs/default [--out DIR]

writes OUT/baselines.md and OUT/baselines.json. A run without an int8 export gets empty int8 cells.
Time it on a quiet machine: the int8 timings and the training minutes are this machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bench_core import machine_info, machine_line

from catdog.runtime.auto import threads_text, time_inference
from catdog.runtime.classifier import Classifier
from catdog.runtime.files import atomic_path, write_json

INT8 = "model_int8.tflite"
FLAGS = {"ema": "--no-ema", "augment": "--no-augment", "calibrate": "--no-calibrate"}  # store_false options


def command_line(run: Path, config: dict) -> str:
    """A catdog-train command that makes this run: the options whose values differ from the defaults
    (--data unless it is $CATDOG_DATA)."""
    from catdog.train.cli import parse_args
    from catdog.train.models import from_scratch

    defaults = vars(parse_args([]))
    values = {**{k: config.get(k) for k in ("model", "alpha", "size", "weights", "seed")}, **config["hyperparameters"]}
    if from_scratch(config["model"], config.get("weights")):  # one phase: the fine-tune options do not apply
        values = {k: v for k, v in values.items() if not k.startswith("fine_tune")}
    if (run / "lr_find.json").is_file() and not values.get("find_lr"):
        values["lr"] = "find"
    parts = ["catdog-train"]
    for key, value in values.items():
        if key not in defaults or value is None or value == defaults[key]:
            continue
        parts += [FLAGS[key]] if key in FLAGS else [f"--{key.replace('_', '-')}", str(value)]
    default_data = os.environ.get("CATDOG_DATA")
    if config.get("data") and (not default_data or Path(default_data).resolve() != Path(config["data"])):
        parts += ["--data", config["data"]]
    return " ".join([*parts, "--name", run.name])


def weights_cell(config: dict) -> str:
    """'imagenet', or 'none' for the from-scratch models; a pretrained architecture trained from scratch says
    so, and whether that is because this machine has no ImageNet weights for it."""
    from catdog.train.models import PRETRAINED, resolve_weights

    weights = config.get("weights") or "none"
    if config["model"] not in PRETRAINED:
        return "none"
    if weights in ("none", "None"):
        missing = resolve_weights(config["model"], config.get("alpha") or 1.0, "imagenet") == "imagenet"
        return "none: from scratch" + (f" (no {config['model']} ImageNet weights here)" if missing else "")
    return weights


def baseline_row(run: Path, timing_runs: int, threads: int | None) -> dict:
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    row = {
        "run": run.name,
        "model": config["model"],
        "alpha": config.get("alpha"),
        "size": config["size"],
        "weights": weights_cell(config),
        "command": command_line(run, config),
        "validation_images": metrics["images"],
        "accuracy": metrics["accuracy"],
        "log_loss": metrics["log_loss"],
        "train_minutes": round(metrics["wall_seconds"] / 60, 1),
        "int8_accuracy": None,
        "int8_ms": None,
        "int8_threads": None,
        "int8_parity_passed": None,
    }
    parity_path = run / "export" / "parity.json"
    if parity_path.is_file() and (run / "export" / INT8).is_file():
        parity = json.loads(parity_path.read_text())
        row["int8_accuracy"] = parity["results"][INT8]["accuracy"]
        row["int8_parity_passed"] = parity["results"][INT8].get("passed")
        classifier = Classifier(run / "export" / INT8, threads)
        row["int8_ms"] = round(time_inference(classifier, runs=timing_runs), 2)
        row["int8_threads"] = classifier.threads
    return row


def percent(value) -> str:
    return "" if value is None else f"{value:.2%}"


def write_table(rows: list[dict], out: Path, machine: str, timing_runs: int, note: str = "") -> None:
    threads = sorted({row["int8_threads"] for row in rows if row["int8_threads"]})
    at = " and ".join(threads_text(t) for t in threads) or "no int8 model timed"
    lines = [
        "| model | weights | size | validation accuracy | log loss | training min | int8 accuracy | "
        "int8 ms/image | command |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        name = row["model"] + (f" {row['alpha']}" if row["alpha"] else "")
        lines.append(
            f"| {name} | {row['weights']} | {row['size']} | {percent(row['accuracy'])} | "
            f"{row['log_loss']:.4f} | {row['train_minutes']} | {percent(row['int8_accuracy'])}"
            f"{' (failed parity)' if row['int8_parity_passed'] is False else ''} | "
            f"{'' if row['int8_ms'] is None else row['int8_ms']} | `{row['command']}` |"
        )
    with atomic_path(out / "baselines.md") as temp:
        temp.write_text(
            f"# Baselines on cats_and_dogs_filtered\n\nMachine: {machine}. Validation split "
            f"({rows[0]['validation_images'] if rows else 0} images); int8 = the TFLite int8 export "
            "through catdog.runtime: accuracy from catdog-export's parity check; ms per image = the median "
            f"of {timing_runs} inferences (catdog.runtime.auto.time_inference) at {at}, on the machine "
            "above; training minutes = the run's wall time on it.\n\n"
            + (f"{note}\n\n" if note else "")
            + "\n".join(lines)
            + "\n"
        )
    write_json(out / "baselines.json", {"machine": machine, "timing_runs": timing_runs, "note": note, "rows": rows})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="baselines", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders")
    parser.add_argument("--out", default="runs/benchmark", help="default runs/benchmark (untracked)")
    parser.add_argument("--timing-runs", type=int, default=50, help="inferences timed per int8 model (median)")
    parser.add_argument("--threads", type=int, help="interpreter threads (default: every CPU this process may use)")
    parser.add_argument(
        "--machine", default=machine_line(machine_info()), help="what to call this machine in the table"
    )
    parser.add_argument("--note", default="", help="a line under the table's header (how the runs were made)")
    args = parser.parse_args(argv)
    missing = [run for run in args.runs if not (Path(run) / "metrics.json").is_file()]
    if missing:
        print(f"baselines: error: not a finished run folder (no metrics.json): {missing[0]}", file=sys.stderr)
        return 2
    rows = [baseline_row(Path(run), args.timing_runs, args.threads) for run in args.runs]
    write_table(rows, Path(args.out), args.machine, args.timing_runs, args.note)
    print((Path(args.out) / "baselines.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
