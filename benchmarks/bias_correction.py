"""Bias correction of int8 TFLite and ONNX (catdog-export's default, docs/export.md): how far each int8 model is
from the float model with and without it, on the photos with no pet and on the pets of the selection split (where
the choice to correct was made) and of the validation split (reported, chose nothing), and what it does at the
decision rule. The run's int8 artifacts must be made with it (the default); the same kinds without it are
exported into a temporary folder with the same calibration. Writes OUT/NAME.md and NAME.json (NAME: --name,
default bias_correction).

    python benchmarks/bias_correction.py runs/default [--out DIR (default runs/benchmark)] [--name NAME]
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_core import command_of, machine_info, machine_line, one_line_errors, unexported, write_results

from catdog.runtime.classifier import Classifier
from catdog.runtime.files import read_json
from catdog.runtime.images import read_image
from catdog.runtime.metadata import Sidecar
from catdog.runtime.metrics import decide

INT8 = {"TFLite": "model_int8.tflite", "ONNX": "model_int8.onnx"}


def plain_export(run: Path, kinds: list[str], calibration: dict, out: Path) -> None:
    """The run's int8 artifacts of `kinds` (keys of INT8) exported without bias correction, with the same
    calibration, into `out`."""
    command = [
        *command_of("catdog-export", "catdog.export.cli"),
        *(str(run), "--int8", "--formats", ",".join(kind.lower() for kind in kinds), "--no-bias-correction"),
        *("--calibration-size", str(calibration["images"]), "--seed", str(calibration["seed"])),
        *("--max-drop", "100", "--min-agreement", "0", "--out", str(out)),
    ]
    if calibration["source"] != "training split":
        command += ["--calibration-data", calibration["source"]]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def compare(models: dict[str, Classifier], reference: Classifier, items: list[tuple[str, int]]) -> list[dict]:
    """Per model: how far from the reference (mean of each photo's largest probability difference, photos more
    than 0.1 apart, label agreement) and the share right at the decision rule."""
    photos = [reference.prepare(read_image(path)) for path, _ in items]
    truth = np.array([label for _, label in items])
    expected = np.stack([reference.probabilities(photo) for photo in photos])
    rows = []
    for name, model in models.items():
        found = np.stack([model.probabilities(photo) for photo in photos])
        apart = np.abs(found - expected).max(axis=1)
        decided = decide(found, model.labels, model.background, model.min_probability)
        rows.append(
            {
                "model": name,
                "images": len(items),
                "mean_difference": float(apart.mean()),
                "over_0.1": int((apart > 0.1).sum()),
                "label_agreement": float((found.argmax(axis=1) == expected.argmax(axis=1)).mean()),
                "right_at_rule": float((decided == truth).mean()),
            }
        )
    return rows


@one_line_errors
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder with export/ (int8 made with bias correction)")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"), help="default runs/benchmark (untracked)")
    parser.add_argument("--name", default="bias_correction", help="the results' file name (default bias_correction)")
    args = parser.parse_args(argv)
    if problem := unexported([args.run], "bias_correction.py"):
        print(problem, file=sys.stderr)
        return 2
    export = args.run / "export"
    kinds = [kind for kind, artifact in INT8.items() if (export / artifact).is_file()]
    calibrations = {kind: Sidecar.read(export / INT8[kind]).calibration or {} for kind in kinds}
    if uncorrected := [INT8[kind] for kind in kinds if not calibrations[kind].get("bias_correction")]:
        print(f"bias_correction.py: {export}/{uncorrected[0]} was made without bias correction", file=sys.stderr)
        return 2
    split = read_json(args.run / "split.json")
    background = Classifier(export / INT8[kinds[0]]).background
    no_pet = split["labels"].index(background) if background else None
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        plain = Path(temp) / "export"
        plain_export(args.run, kinds, calibrations[kinds[0]], plain)
        models = {}
        for kind in kinds:
            models[f"{kind}, corrected"] = Classifier(export / INT8[kind])
            models[f"{kind}, plain"] = Classifier(plain / INT8[kind])
        reference = Classifier(args.run / "export" / "model_fp32.tflite")
        for part in ("selection", "validation"):
            for group, wanted in (("no pet", True), ("pets", False)):
                items = [(path, label) for path, label in split[part] if (label == no_pet) == wanted]
                if items:
                    rows += [{"split": part, "group": group, **row} for row in compare(models, reference, items)]
                print(f"{part}, {group}: done", file=sys.stderr)
    machine = machine_line(machine_info())
    rule = next(iter(models.values())).min_probability
    lines = [
        "# Bias correction of int8 TFLite and ONNX",
        "",
        f"`python benchmarks/bias_correction.py {shlex.join(map(str, argv or sys.argv[1:]))}` on {machine}.",
        "",
        f"| split | photos | int8 model | mean difference | over 0.1 apart | label agreement | right at {rule:g} |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['split']} | {row['group']} ({row['images']}) | {row['model']} | {row['mean_difference']:.3f} "
            f"| {row['over_0.1']} | {row['label_agreement']:.2%} | {row['right_at_rule']:.2%} |"
        )
    lines += [
        "",
        "Against fp32 TFLite (the float model): *mean difference*, the mean over the photos of the largest "
        "difference between the two models' probabilities; *over 0.1 apart*, the photos where that difference "
        "exceeds 0.1; *right at* the sidecar's decision rule: a pet given its label, a photo with no pet called "
        "`none`. *plain*: `catdog-export --no-bias-correction`, the same calibration images.",
    ]
    write_results(args.out, args.name, "\n".join(lines) + "\n", {"machine": machine, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
