"""The baselines table: one row per run folder (catdog-train, then `catdog-export RUN --int8`), with the
command that made it, validation accuracy and log loss, training minutes, and the int8 TFLite model's
accuracy (from the export's parity check) and milliseconds per image through catdog.runtime.

    python benchmarks/baselines.py runs/mlp runs/cnn2 runs/cnn4 runs/default [--out benchmarks/results]

writes OUT/baselines.md and OUT/baselines.json. A run without an int8 export gets empty int8 cells.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

from catdog.runtime.classifier import Classifier
from catdog.runtime.files import atomic_path, write_json
from catdog.runtime.images import load_prepared

INT8 = "model_int8.tflite"
FLAGS = {"ema": "--no-ema", "augment": "--no-augment", "calibrate": "--no-calibrate"}  # store_false options


def command_line(run: Path, config: dict) -> str:
    """A catdog-train command that makes this run: the options whose values differ from the defaults
    (--data unless it is $CATDOG_DATA)."""
    from catdog.train.cli import parse_args

    defaults = vars(parse_args([]))
    values = {**{k: config.get(k) for k in ("model", "alpha", "size", "weights", "seed")}, **config["hyperparameters"]}
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


def int8_timing(artifact: Path, images: list[str], count: int) -> float:
    """Median milliseconds per image (quantize, invoke, dequantize) of `count` images, after one warm-up."""
    classifier = Classifier(artifact)
    prepared = [load_prepared(path, classifier.size) for path in images[:count]]
    classifier.classify(prepared[0])
    return statistics.median(classifier.classify(image).inference_ms for image in prepared)


def baseline_row(run: Path, timing_images: int) -> dict:
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    row = {
        "run": run.name,
        "model": config["model"],
        "alpha": config.get("alpha"),
        "size": config["size"],
        "weights": config.get("weights") if config["model"] in ("mobilenetv2", "resnet50", "resnet101") else "none",
        "command": command_line(run, config),
        "validation_images": metrics["images"],
        "accuracy": metrics["accuracy"],
        "log_loss": metrics["log_loss"],
        "train_minutes": round(metrics["wall_seconds"] / 60, 1),
        "int8_accuracy": None,
        "int8_ms": None,
    }
    parity_path = run / "export" / "parity.json"
    if parity_path.is_file() and (run / "export" / INT8).is_file():
        parity = json.loads(parity_path.read_text())
        row["int8_accuracy"] = parity["results"][INT8]["accuracy"]
        row["int8_ms"] = round(int8_timing(run / "export" / INT8, parity["images"], timing_images), 2)
    return row


def percent(value) -> str:
    return "" if value is None else f"{value:.2%}"


def write_table(rows: list[dict], out: Path, machine: str) -> None:
    lines = [
        "| model | weights | size | validation accuracy | log loss | training min | int8 accuracy | "
        "int8 ms/image | command |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        name = row["model"] + (f" {row['alpha']}" if row["alpha"] else "")
        lines.append(
            f"| {name} | {row['weights']} | {row['size']} | {percent(row['accuracy'])} | "
            f"{row['log_loss']:.4f} | {row['train_minutes']} | {percent(row['int8_accuracy'])} | "
            f"{'' if row['int8_ms'] is None else row['int8_ms']} | `{row['command']}` |"
        )
    with atomic_path(out / "baselines.md") as temp:
        temp.write_text(
            f"# Baselines on cats_and_dogs_filtered\n\nMachine: {machine}. Validation split "
            f"({rows[0]['validation_images'] if rows else 0} images); int8 = the TFLite int8 export "
            "through catdog.runtime (accuracy from catdog-export's parity check, median ms per image "
            "on the machine above).\n\n" + "\n".join(lines) + "\n"
        )
    write_json(out / "baselines.json", {"machine": machine, "rows": rows})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="baselines", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--timing-images", type=int, default=50, help="images timed per int8 model")
    parser.add_argument(
        "--machine", default=platform.processor() or platform.machine(), help="what to call this machine in the table"
    )
    args = parser.parse_args(argv)
    missing = [run for run in args.runs if not (Path(run) / "metrics.json").is_file()]
    if missing:
        print(f"baselines: error: not a finished run folder (no metrics.json): {missing[0]}", file=sys.stderr)
        return 2
    rows = [baseline_row(Path(run), args.timing_images) for run in args.runs]
    write_table(rows, Path(args.out), args.machine)
    print((Path(args.out) / "baselines.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
