"""`catdog-export`: a trained Keras model to TFLite and ONNX artifacts, each checked against the float
model on the validation split before it is put in place.

    catdog-export runs/<name> --int8 [--fp16] [--formats tflite,onnx] [--out DIR]

writes DIR/model_<precision>.<tflite|onnx>, a sidecar <artifact>.json each, and parity.md / parity.json
(the table below, plus every image's predicted class per artifact). The export is built in a hidden folder
beside DIR and replaces DIR whole at the end, so DIR is always one complete export, old or new.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from catdog.export.bias import BiasCorrection
from catdog.export.formats import FAMILIES, FORMATS, select_formats
from catdog.export.noise import quiet_tensorflow
from catdog.runtime.arguments import comma_separated, non_negative_float, percent, positive_int, refuse_orphans
from catdog.runtime.classifier import Classifier
from catdog.runtime.files import atomic_folder, atomic_path, require_zip, write_json
from catdog.runtime.folders import RunFolder, validation_items
from catdog.runtime.images import PREPARATION, ImageError, load_prepared, scan_images, skipped_lines
from catdog.runtime.kinds import FLAGS
from catdog.runtime.metadata import Input, Output, Sidecar, SourceModel, file_sha256, package_versions, sidecar_path
from catdog.runtime.metrics import check_parity, classification_metrics, decide

REPORTS = ("parity.md", "parity.json")
TOOLS = ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert")  # recorded in every sidecar


class ExportError(ValueError):
    """Something that stops an export, said in one line."""


@dataclass
class Source:
    """The Keras model to export and what its run folder says about it."""

    model_path: Path
    labels: list[str]
    config: dict
    split: dict | None


def families(text: str) -> list[str]:
    """argparse type: a comma-separated list of format families."""
    chosen = comma_separated(text)
    unknown = [family for family in chosen if family not in FAMILIES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(unknown) or repr(text)} (use {', '.join(FAMILIES)})"
        )
    return chosen


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="catdog-export", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("source", help="a run folder (from catdog-train) or a model.keras file")
    for flag in FLAGS:  # --int8, --fp16: from the artifact kinds (catdog.runtime.kinds)
        add(
            f"--{flag}",
            action="store_true",
            help=f"also export {', '.join(f.filename for f in FORMATS if f.flag == flag)}",
        )
    add("--formats", type=families, default="tflite,onnx", help="comma-separated families to export: tflite, onnx")
    add("--calibration-data", help="folder of images to calibrate int8 on (default: the run's training split)")
    add("--calibration-size", type=positive_int, default=300, help="how many calibration images (default 300)")
    add("--data", help="labelled images to check parity on (default: the run's validation split)")
    add(
        "--max-drop",
        type=non_negative_float,
        default=1.0,
        help="most accuracy points an artifact may lose vs the float model",
    )
    add(
        "--min-agreement",
        type=percent,
        default=98.0,
        help="least share of images, in percent, on which an artifact must give the float model's label (default 98)",
    )
    add(
        "--reduce-range",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ONNX int8 weights in 7 bits (default), so that x86 CPUs without VNNI compute exactly what ARM and "
        "VNNI CPUs compute; --no-reduce-range: 8 bits, for artifacts that never run on such an x86 (docs/export.md)",
    )
    add(
        "--bias-correction",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="int8 TFLite and ONNX: correct the offsets for the average shift that rounding the weights causes "
        "(default); --no-bias-correction: the converters' plain rounding (docs/export.md)",
    )
    add("--seed", type=int, default=42)
    add("--out", help="output folder (default: <run>/export)")
    add("--verbose", action="store_true", help="keep TensorFlow's and the converters' lines left out as noise")
    args = parser.parse_args(argv)
    int8_options = ("calibration_data", "calibration_size", "reduce_range", "bias_correction")
    refuse_orphans(parser, args, dict.fromkeys(int8_options, "int8"))
    return args


def load_source(path: Path) -> Source:
    """Find model.keras and its run folder's config and split."""
    run = RunFolder.of_model(path)
    model_path = run.model if path.is_dir() else path
    if not model_path.is_file():
        raise ExportError(f"model not found: {model_path}")
    try:
        config, split = run.config(), run.split()
    except ValueError as error:
        raise ExportError(f"unusable run folder: {error}") from None
    return Source(model_path, config.get("labels", []), config, split)


def is_export_file(name: str) -> bool:
    """Whether catdog-export writes files of this name (or, hidden and partial, left them when killed)."""
    artifacts = {f.filename for f in FORMATS}
    return (
        name in artifacts
        or name in REPORTS
        or name.removesuffix(".json") in artifacts
        or (name.startswith(".") and ".partial-" in name)
    )


def check_out(out: Path) -> None:
    """ExportError unless `out` can become an export folder: new, empty, or an earlier export (replaced whole)."""
    existing = next(path for path in (out, *out.parents) if path.exists())
    if not existing.is_dir():
        raise ExportError(f"cannot export to {out}: {existing} is a file, not a folder")
    foreign = sorted(path.name for path in out.iterdir() if not is_export_file(path.name)) if out.is_dir() else []
    if foreign:
        raise ExportError(
            f"{out} holds files that are not from catdog-export ({', '.join(foreign[:3])}); "
            "it would be replaced whole: give --out a new or empty folder"
        )


def load_keras_model(path: Path):
    """Load the float model, turning any failure into one line."""
    try:
        require_zip(path, ".keras model")  # before importing Keras: a quick answer, and a clean one
        import keras

        return keras.models.load_model(path, compile=False)
    except Exception as error:  # a truncated or foreign file fails in many different ways
        raise ExportError(
            f"cannot load model {path}: {(str(error).splitlines() or [type(error).__name__])[0][:200]}"
        ) from None


def calibration_set(args, source: Source, size: int) -> list[np.ndarray]:
    """Prepared RGB images to calibrate int8 on: a seeded sample of the given folder or of the training split."""
    skipped = {}
    if args.calibration_data:
        if not Path(args.calibration_data).is_dir():
            raise ExportError(f"calibration folder not found: {args.calibration_data}")
        paths, skipped = scan_images(args.calibration_data)
    elif source.split:
        paths = [p for p, _ in source.split["train"]]
    else:
        raise ExportError("no run folder beside the model: give --calibration-data DIR of training images")
    random.Random(args.seed).shuffle(paths)
    images, _ = prepared_images(paths, size, args.calibration_size, skipped)
    if not images:
        raise ExportError(f"no readable calibration images in {args.calibration_data or 'the training split'}")
    return images


def prepared_images(paths, size: int, limit: int | None = None, skipped: dict | None = None):
    """The first `limit` (default all) readable images of `paths`, prepared, and their paths. Files that
    cannot be used are reported on stderr by reason, with those already in `skipped`."""
    images, used, skipped = [], [], dict(skipped or {})
    for path in tqdm(paths, desc="reading images", unit="image", leave=False, disable=None):
        if len(images) == limit:
            break
        try:
            images.append(load_prepared(path, size))
            used.append(path)
        except ImageError as error:
            skipped.setdefault(error.reason, []).append(path)
    for line in skipped_lines(skipped):
        print(f"catdog-export: {line}", file=sys.stderr)
    return images, used


def validation_set(args, source: Source) -> tuple[list[str], list[tuple[str, int]]]:
    """Labels and (path, class) items to check parity on."""
    if args.data:
        from catdog.runtime.datasets import DataError, labelled_items

        try:
            labels, items, skipped = labelled_items(args.data, source.labels or None)
        except DataError as error:
            raise ExportError(str(error)) from None
        for line in skipped_lines(skipped):
            print(f"catdog-export: {line}", file=sys.stderr)
        return labels, items
    if not source.split:
        raise ExportError("no run folder beside the model: give --data DIR of labelled images to check parity on")
    return source.split["labels"], validation_items(source.split)


def io_metadata(path: Path) -> tuple[dict, dict]:
    """Input and output tensor descriptions (shape, dtype, quantization) read from the artifact itself."""
    from catdog.runtime.backends import TFLiteBackend, make_interpreter

    backend = make_interpreter(path)
    if isinstance(backend, TFLiteBackend):

        def describe(detail):
            scale, zero_point = detail["quantization"]
            quantized = np.issubdtype(detail["dtype"], np.integer)
            return {
                "name": detail["name"],
                "shape": [int(d) for d in detail["shape"]],
                "dtype": np.dtype(detail["dtype"]).name,
                "scale": float(scale) if quantized else None,
                "zero_point": int(zero_point) if quantized else None,
            }

        return describe(backend.input), describe(backend.output)
    inputs, outputs = backend.session.get_inputs()[0], backend.session.get_outputs()[0]
    return (
        {
            "name": inputs.name,
            "shape": [1, *backend.input_shape[1:]],
            "dtype": "float32",
            "scale": None,
            "zero_point": None,
        },
        {
            "name": outputs.name,
            "shape": [1, len(outputs.shape) and outputs.shape[-1]],
            "dtype": "float32",
            "scale": None,
            "zero_point": None,
        },
    )


def export_all(args) -> int:
    """Export, check parity, put artifacts in place; return the exit code."""
    source = load_source(Path(args.source))
    out = Path(args.out) if args.out else source.model_path.parent / "export"
    check_out(out)
    formats = select_formats(args.formats, {flag for flag in FLAGS if getattr(args, flag)})
    labels, items = validation_set(args, source)
    model = load_keras_model(source.model_path)
    size = int(model.input_shape[1])
    labels = source.labels or labels
    calibration = calibration_set(args, source, size) if any(f.precision == "int8" for f in formats) else []

    images, used = prepared_images([path for path, _ in items], size)
    if not images:
        raise ExportError("no readable image to check parity on")
    usable = set(used)
    items = [item for item in items if item[0] in usable]
    print(f"checking parity on {len(items)} images; float model first")
    images, truth = np.stack(images), [y for _, y in items]
    float_probabilities = model.predict(images.astype(np.float32), batch_size=32, verbose=0)
    rule = {
        "background": source.config.get("background"),
        "min_probability": source.config.get("min_probability") or 0.0,
    }
    float_metrics = classification_metrics(labels, truth, float_probabilities, **rule)
    rows = [
        {
            "artifact": "model.keras",
            "format": "keras",
            "precision": "fp32",
            "size_mb": source.model_path.stat().st_size / 1e6,
            **float_metrics,
            "delta_points": 0.0,
            "label_agreement": 1.0,
            "max_probability_difference": 0.0,
            "status": "reference",
        }
    ]
    predictions = {"model.keras": decide(float_probabilities, labels, **rule).tolist()}
    common = {  # the sidecar fields every artifact shares
        "labels": labels,
        "background_label": rule["background"],
        "min_probability": rule["min_probability"] if rule["background"] else None,
        "source": SourceModel(
            model=str(source.model_path.resolve()),
            sha256=file_sha256(source.model_path),
            architecture=source.config.get("model"),
            alpha=source.config.get("alpha"),
            temperature=source.config.get("temperature"),
        ),
        "tools": package_versions(TOOLS),
    }
    failures = []
    check = ParityCheck(labels, images, truth, float_probabilities, args.max_drop, args.min_agreement / 100, rule)
    options = {  # what the converters are told (catdog.export.formats)
        "reduce_range": args.reduce_range,
        "bias_correction": BiasCorrection(model, calibration) if args.bias_correction and calibration else None,
    }
    with atomic_folder(out) as staging:
        for fmt in formats:
            print(f"{fmt.format} {fmt.precision}: converting...", flush=True)
            try:
                row, predicted = export_one(fmt, model, size, calibration, options, staging, common, check, args)
            except Exception as error:  # one exporter failing must not stop the others
                message = (str(error).strip().splitlines() or [type(error).__name__])[-1][:200]
                row, predicted = (
                    {
                        "artifact": fmt.filename,
                        "format": fmt.format,
                        "precision": fmt.precision,
                        "status": f"export failed: {message}",
                    },
                    None,
                )
            rows.append(row)
            if predicted is not None:
                predictions[fmt.filename] = predicted
            if row["status"] != "ok":
                failures.append(
                    f"{fmt.filename}: {row['status']}"
                    + ("; marked failed in its metadata" if predicted is not None else "")
                )
        write_report(staging, rows, labels, items, predictions)
    print(f"wrote {out}")
    for failure in failures:
        print(f"catdog-export: error: {failure}", file=sys.stderr)
    return 1 if failures else 0


@dataclass
class ParityCheck:
    """The float model's predictions on the validation images, to hold every artifact against."""

    labels: list[str]
    images: np.ndarray
    truth: list[int]
    float_probabilities: np.ndarray
    max_drop: float
    min_agreement: float
    rule: dict  # background and min_probability: the decision rule (catdog.runtime.metrics.decide)

    def __call__(self, artifact: Path) -> tuple[dict, np.ndarray]:
        """Run the artifact through the lean runtime on every image; return (parity, probabilities)."""
        classifier = Classifier(artifact)
        probabilities = np.stack(
            [
                classifier.probabilities(image)
                for image in tqdm(
                    self.images,
                    desc=f"parity of {artifact.name.split('.partial-')[-1]}",
                    unit="image",
                    leave=False,
                    disable=None,
                )
            ]
        )  # None: a bar on a terminal only
        return check_parity(
            self.labels,
            self.truth,
            probabilities,
            self.float_probabilities,
            self.max_drop,
            self.min_agreement,
            **self.rule,
        ), probabilities


def export_one(fmt, model, size, calibration, options: dict, out: Path, common: dict, check: ParityCheck, args):
    """Convert one format to a temporary file, check it, then put artifact and sidecar in place.
    Returns the table row and the predicted class of every validation image."""
    final = out / fmt.filename
    with atomic_path(final) as temp:
        started = time.time()
        fmt.convert(model, size, calibration, temp, options)
        seconds = time.time() - started
        input_meta, output_meta = io_metadata(temp)
        sidecar = Sidecar(
            **common,
            format=fmt.format,
            precision=fmt.precision,
            artifact=fmt.filename,
            sha256=file_sha256(temp),
            size_bytes=temp.stat().st_size,
            input=Input(**input_meta, preparation=PREPARATION),
            output=Output(**output_meta, kind="probabilities"),
            calibration=(
                {
                    "images": len(calibration),
                    "source": args.calibration_data or "training split",
                    "seed": args.seed,
                    "bias_correction": args.bias_correction,
                    **({"reduce_range": args.reduce_range} if fmt.format == "onnx" else {}),
                }
                if fmt.precision == "int8"
                else None
            ),
        )
        sidecar.write(temp)  # the runtime reads it to run the check
        try:
            parity, probabilities = check(temp)
        finally:
            sidecar_path(temp).unlink(missing_ok=True)
    replace(sidecar, parity=parity).write(final)
    row = {
        "artifact": fmt.filename,
        "format": fmt.format,
        "precision": fmt.precision,
        "size_mb": sidecar.size_bytes / 1e6,
        **parity,
        "export_seconds": round(seconds, 1),
        "status": "ok" if parity["passed"] else "FAILED: " + "; ".join(parity["problems"]),
    }
    return row, decide(probabilities, check.labels, **check.rule).tolist()


def parity_table(rows: list[dict]) -> str:
    """The Markdown table of artifacts against the float model (with a background class, pet accuracy and
    false-pet rate at the decision rule too)."""
    background = any(row.get("background") for row in rows)
    extra = ["pet accuracy", "false pets"] if background else []
    columns = ["artifact", "format", "precision", "size MB", "accuracy", *extra, "log loss", "ECE"]
    columns += ["delta vs float (pts)", "label agreement", "max prob diff", "status"]
    lines = ["| " + " | ".join(columns) + " |", "|---|---|---|" + "---:|" * (len(columns) - 4) + "---|"]
    for row in rows:
        if "accuracy" not in row:
            lines.append(
                f"| {row['artifact']} | {row['format']} | {row['precision']} |"
                + " |" * (len(columns) - 4)
                + f" {row['status']} |"
            )
            continue
        rates = ["-" if row[k] is None else f"{row[k]:.2%}" for k in ("pet_accuracy", "false_pet_rate") if background]
        cells = [row["artifact"], row["format"], row["precision"], f"{row['size_mb']:.2f}", f"{row['accuracy']:.2%}"]
        cells += rates + [f"{row['log_loss']:.4f}", f"{row['ece']:.4f}", f"{row['delta_points'] + 0.0:+.2f}"]
        cells += [f"{row['label_agreement']:.2%}", f"{row['max_probability_difference']:.4f}", row["status"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(out: Path, rows, labels, items, predictions) -> None:
    """Print the parity table and save it (parity.md) with every image's predictions (parity.json)."""
    table = parity_table(rows)
    print(table)
    with atomic_path(out / "parity.md") as temp:
        temp.write_text(f"# Parity against the float model ({len(items)} validation images)\n\n{table}\n")
    results = {
        row["artifact"]: {
            **{k: v for k, v in row.items() if k != "confusion_matrix"},
            "predicted": predictions.get(row["artifact"]),
        }
        for row in rows
    }
    write_json(
        out / "parity.json",
        {"labels": labels, "images": [p for p, _ in items], "true": [y for _, y in items], "results": results},
    )


def main(argv=None) -> int:
    """Entry point of catdog-export."""
    args = parse_args(argv)
    try:
        with quiet_tensorflow(not args.verbose):  # and the converters' known harmless lines
            return export_all(args)
    except ExportError as error:
        print(f"catdog-export: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"catdog-export: error: cannot write {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("catdog-export: interrupted; the export folder was left as it was", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
