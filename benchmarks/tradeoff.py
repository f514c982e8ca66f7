"""Which model for which board: per run folder (trained, then `catdog-export RUN --int8 --fp16`) float and int8
accuracy and log loss on the validation split, float accuracy on the selection split, int8 size, int8 ms per image
here at 1 thread and every usable core, and estimated Pi times. Writes OUT/tradeoff.md, tradeoff.json and the
Pareto plot tradeoff.png.

    python benchmarks/tradeoff.py runs/a035-96 runs/a035-128 ... [--out DIR]
    bash benchmarks/tradeoff.sh     # trains and exports what is missing, then this
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from baselines import INT8, run_row
from bench_core import machine_info, machine_line, one_line_errors, unexported

from catdog.runtime.backends import default_threads
from catdog.runtime.files import atomic_path, write_json

# Published end-to-end MobileNetV2 1.0 224x224 int8 times, multi-threaded (google/XNNPACK README, 64-bit Pi OS
# for the Pi 4; the Pi 3B+ figure is the 32-bit one, the only one given). No credible Pi 5 figure was found.
PUBLISHED_INT8_MS = {"Pi 4": 17.0, "Pi 3B+": 30.0}
REFERENCE_RUN = (1.0, 224)  # alpha, size of the published figures


def tradeoff_row(row: dict) -> dict:
    """A row of baselines.run_row as tradeoff.json has it."""
    config, metrics = row["config"], row["metrics"]
    out = {"run": row["run"], "alpha": config["alpha"], "size": config["size"]}
    out.update(selection_accuracy=metrics["selection"]["accuracy"], selection_log_loss=metrics["selection"]["log_loss"])
    out.update(float_accuracy=metrics["accuracy"], float_log_loss=metrics["log_loss"])
    out["train_minutes"] = metrics["wall_seconds"] / 60
    for artifact in INT8:
        if result := row.get(artifact):
            int8 = {
                "accuracy": result["accuracy"],
                "log_loss": result["log_loss"],
                "agreement": result["label_agreement"],
                "pet_accuracy": result.get("pet_accuracy"),
                "false_pet_rate": result.get("false_pet_rate"),
            }
            int8.update(size_mb=result["size_mb"], parity=result["status"], ms=result["ms"])
            out[artifact.replace("model_", "").replace(".", "_")] = int8
    return out


def pi_estimates(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Estimated int8 ms per board for every run, scaled from the reference run's 1-thread time here."""
    reference = next((row for row in rows if (row["alpha"], row["size"]) == REFERENCE_RUN), None)
    if reference is None or "int8_tflite" not in reference:
        return {}
    base = reference["int8_tflite"]["ms"]["1"]
    return {
        row["run"]: {board: ms * row["int8_tflite"]["ms"]["1"] / base for board, ms in PUBLISHED_INT8_MS.items()}
        for row in rows
        if "int8_tflite" in row
    }


def pareto_front(rows: list[dict]) -> list[str]:
    """Runs no other run beats on both int8 TFLite 1-thread ms and int8 TFLite validation accuracy."""
    points = {row["run"]: (row["int8_tflite"]["ms"]["1"], row["int8_tflite"]["accuracy"]) for row in rows}
    return [
        run
        for run, (ms, accuracy) in points.items()
        if not any(m <= ms and a >= accuracy and (m, a) != (ms, accuracy) for m, a in points.values())
    ]


def markdown(report: dict) -> str:
    """The trade-off table with the Pi estimates; ★ marks the Pareto front."""
    all_cores = str(report["threads"][-1])
    background = any(row["int8_tflite"].get("false_pet_rate") is not None for row in report["rows"])
    lines = [
        "| model | selection acc (float) | val acc float | val acc int8 TFLite / ONNX | "
        + ("int8 TFLite pets / false pets | " if background else "")
        + "log loss float / int8 | "
        f"int8 MB | int8 TFLite ms, 1 / {all_cores} threads | int8 ONNX ms, 1 / {all_cores} threads | int8 parity | "
        + " | ".join(f"{board} est. ms" for board in PUBLISHED_INT8_MS)
        + " |",
        "|---|---:|---:|---:|" + "---:|" * background + "---:|---:|---:|---:|---|" + "---:|" * len(PUBLISHED_INT8_MS),
    ]
    for row in report["rows"]:
        tflite, onnx = row["int8_tflite"], row.get("int8_onnx") or {}
        estimate = report["pi_estimates"].get(row["run"], {})
        failed = [kind for kind, result in (("TFLite", tflite), ("ONNX", onnx)) if result and result["parity"] != "ok"]
        cells = [
            f"α {row['alpha']}, {row['size']} px" + (" ★" if row["run"] in report["pareto_front"] else ""),
            f"{row['selection_accuracy']:.2%}",
            f"{row['float_accuracy']:.2%}",
            f"{tflite['accuracy']:.2%} / " + (f"{onnx['accuracy']:.2%}" if onnx else "–"),
            *([f"{tflite['pet_accuracy']:.2%} / {tflite['false_pet_rate']:.2%}"] if background else []),
            f"{row['float_log_loss']:.4f} / {tflite['log_loss']:.4f}",
            f"{tflite['size_mb']:.2f}",
            f"{tflite['ms']['1']:.2f} / {tflite['ms'][all_cores]:.2f}",
            f"{onnx['ms']['1']:.2f} / {onnx['ms'][all_cores]:.2f}" if onnx else "–",
            "failed: " + ", ".join(failed) if failed else "ok",
            *(f"~{estimate[board]:.0f}" if board in estimate else "" for board in PUBLISHED_INT8_MS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def document(report: dict, runs: list[Path]) -> str:
    """tradeoff.md: the command, the machine, the table and how to read it."""
    machine = report["machine"]
    return f"""# Which model for which board

- command: `python benchmarks/tradeoff.py {" ".join(map(str, runs))}`
- machine: {machine_line(machine)}
- load average at the end: {machine["load_average"]}

{report["table"]}

Every run: `catdog-train --alpha A --size S` (the default recipe otherwise), `catdog-export RUN --int8 --fp16`.
*selection acc*: the float model on the selection split carved from the training images (the default is chosen on
it alone); *val*: the untouched validation split. int8 accuracy, log loss, size and parity (at most 1 point lost,
at least 98% label agreement) come from `export/parity.json`; with a background class, *pets* are the validation
pets given their own label at the run's rule and *false pets* its negatives called a cat or a dog. ms: median of
{report["rounds"]} inferences of one prepared image through `catdog.runtime`'s Classifier. ★: on the Pareto front
of int8 TFLite ms at 1 thread against int8 TFLite accuracy. **Pi columns are estimates, not measurements**: the
run's 1-thread int8 TFLite time relative to α 1, 224 px here, times MobileNetV2 1.0 224 px's published int8 time on
that board (google/XNNPACK README: Pi 4 17 ms, 64-bit; Pi 3B+ 30 ms, 32-bit), assuming the same relative cost on
the Pi's Cortex-A cores.

![int8 speed against int8 accuracy](tradeoff.png)
"""


def plot(report: dict, path: Path) -> None:
    """int8 TFLite ms (1 thread) against int8 TFLite accuracy: a point per run (hollow: parity failed), the front."""
    from catdog.train.plots import log_x_axis, pyplot, save_figure

    figure, axes = pyplot().subplots(figsize=(8, 5.5))
    colors = {0.35: "tab:orange", 1.0: "tab:blue"}
    for row in report["rows"]:
        tflite = row["int8_tflite"]
        x, y, color = tflite["ms"]["1"], tflite["accuracy"] * 100, colors.get(row["alpha"], "tab:gray")
        failed = tflite["parity"] != "ok"
        axes.scatter(x, y, s=70, color=color, facecolors="none" if failed else color, linewidths=1.5, zorder=3)
        axes.annotate(f"α{row['alpha']} {row['size']}px", (x, y), textcoords="offset points", xytext=(6, -10))
    front = sorted(
        (row["int8_tflite"]["ms"]["1"], row["int8_tflite"]["accuracy"] * 100)
        for row in report["rows"]
        if row["run"] in report["pareto_front"]
    )
    axes.plot(*zip(*front, strict=True), color="tab:gray", linestyle="--", zorder=2, label="Pareto front")
    for alpha, color in colors.items():
        axes.scatter([], [], color=color, label=f"MobileNetV2 α {alpha}")
    axes.scatter([], [], facecolors="none", edgecolors="black", label="int8 TFLite parity failed")
    log_x_axis(axes)
    axes.set_xlabel(f"int8 TFLite ms per image, 1 thread ({report['machine']['cpu']})")
    axes.set_ylabel("int8 TFLite accuracy on the validation split (%)")
    axes.set_title("Which model for which board: int8 speed against int8 accuracy")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    save_figure(figure, path, dpi=120)


@one_line_errors
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders with export/parity.json")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"), help="default runs/benchmark (untracked)")
    parser.add_argument("--rounds", type=int, default=200, help="timed inferences per artifact and thread count")
    args = parser.parse_args(argv)
    if problem := unexported(args.runs, "tradeoff"):
        print(problem, file=sys.stderr)
        return 2
    threads = sorted({1, default_threads()})
    rows = [tradeoff_row(run_row(run, threads, args.rounds)) for run in args.runs]
    rows.sort(key=lambda row: (row["alpha"], row["size"]))
    report = {"threads": threads, "rounds": args.rounds, "machine": machine_info(), "rows": rows}
    report.update(pareto_front=pareto_front(rows), pi_estimates=pi_estimates(rows))
    report["table"] = markdown(report)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "tradeoff.json", report)
    with atomic_path(args.out / "tradeoff.md") as temp:
        temp.write_text(document(report, args.runs))
    plot(report, args.out / "tradeoff.png")
    print(report["table"])
    print(f"written: {args.out / 'tradeoff.md'}, tradeoff.json, tradeoff.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
