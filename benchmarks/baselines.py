"""The baselines table: per run folder the command that made it, validation accuracy and log loss, training
minutes, and the int8 TFLite model's accuracy (its parity check) and ms per image (runtime.auto.time_inference).
run_row() is the table of runs that this and tradeoff.py render. Time it on a quiet machine.

    python benchmarks/baselines.py runs/mlp runs/cnn2 runs/cnn4 runs/default [--out DIR]  # OUT/baselines.md, .json
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import fields, replace
from pathlib import Path

from bench_core import machine_info, machine_line, one_line_errors

from catdog.runtime.auto import threads_text, time_inference
from catdog.runtime.classifier import Classifier
from catdog.runtime.files import atomic_path, read_json, write_json
from catdog.runtime.folders import METRICS, PARITY, RunFolder

INT8 = ("model_int8.tflite", "model_int8.onnx")
FOLDERS = {"data": "CATDOG_DATA", "negatives": "CATDOG_NEGATIVES", "other_pets": "CATDOG_OTHER_PETS"}


def command_line(run: Path, config: dict) -> str:
    """The catdog-train command that makes this run (catdog.train.config.TrainConfig.to_command_line): the
    options that differ from the defaults, the data folders unless they are the default ($CATDOG_DATA, ...),
    then --name."""
    from catdog.train.config import TrainConfig
    from catdog.train.models import from_scratch

    recipe = TrainConfig.from_record(config)
    defaults = {item.name: item.default for item in fields(TrainConfig) if item.name.startswith("fine_tune")}
    folders = {name: getattr(recipe, name) for name in FOLDERS}
    recipe = replace(
        recipe, **dict.fromkeys(FOLDERS), **(defaults if from_scratch(recipe.model, recipe.weights) else {})
    )
    if (run / "lr_find.json").is_file() and not recipe.find_lr:
        recipe = replace(recipe, lr="find")
    tail = []
    for name, folder in folders.items():  # after the recipe, as they were given
        default = os.environ.get(FOLDERS[name])
        if folder and folder != "none" and not (default and Path(default).resolve() == Path(folder)):
            tail += [f"--{name.replace('_', '-')}", folder]
    return shlex.join([*shlex.split(recipe.to_command_line()), *tail, "--name", run.name])


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


def run_row(run: Path, threads: list[int | None], rounds: int, artifacts=INT8) -> dict:
    """One row of the table of runs: what made the run, its validation (and selection) figures and training
    minutes, and per int8 artifact its parity check's figures and its median ms per image at each thread count
    (catdog.runtime.auto.time_inference; None: every CPU), keyed by the count the interpreter used."""
    folder = RunFolder(run)
    config, metrics = folder.config(), read_json(run / METRICS)
    parity = read_json(folder.export / PARITY) if (folder.export / PARITY).is_file() else {}
    row = {"run": run.name, "config": config, "metrics": metrics, "command": command_line(run, config)}
    for artifact in artifacts:
        result, path = parity.get("results", {}).get(artifact), folder.export / artifact
        if result is not None and path.is_file():
            classifiers = [Classifier(path, count) for count in threads]
            ms = {str(c.threads): time_inference(c, warmup=10, runs=rounds) for c in classifiers}
            row[artifact] = {**result, "ms": ms}
    return row


def baseline_row(row: dict) -> dict:
    """The row as baselines.json has it."""
    config, metrics, int8 = row["config"], row["metrics"], row.get(INT8[0]) or {}
    threads, ms = next(iter(int8.get("ms", {}).items()), (None, None))
    out = {"run": row["run"], "model": config["model"], "alpha": config.get("alpha"), "size": config["size"]}
    out.update(weights=weights_cell(config), command=row["command"], validation_images=metrics["images"])
    out.update(accuracy=metrics["accuracy"], log_loss=metrics["log_loss"])
    out.update(train_minutes=round(metrics["wall_seconds"] / 60, 1), int8_accuracy=int8.get("accuracy"))
    out.update(int8_ms=None if ms is None else round(ms, 2), int8_threads=threads and int(threads))
    return {**out, "int8_parity_passed": int8.get("passed")}


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


@one_line_errors
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
    missing = [run for run in args.runs if not (Path(run) / METRICS).is_file()]
    if missing:
        print(f"baselines: error: not a finished run folder (no {METRICS}): {missing[0]}", file=sys.stderr)
        return 2
    rows = [baseline_row(run_row(Path(run), [args.threads], args.timing_runs, INT8[:1])) for run in args.runs]
    write_table(rows, Path(args.out), args.machine, args.timing_runs, args.note)
    print((Path(args.out) / "baselines.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
