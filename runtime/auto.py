"""Choosing which artifact to run: the one named, the preferred one in an export folder, or (`--backend auto`)
the fastest on this machine among those whose sidecar says parity passed."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from catdog.runtime.backends import BackendError
from catdog.runtime.classifier import Classifier
from catdog.runtime.folders import EXPORT, RUNS, is_export, newest_export
from catdog.runtime.kinds import PRECISIONS, SUFFIXES, ArtifactKind
from catdog.runtime.metadata import MetadataError, Sidecar, sidecar_path
from catdog.runtime.metrics import latency_stats


class ModelChoiceError(ValueError):
    """No artifact fits what was asked for."""


# Everything that loading a model can raise with a message meant for the user.
LOAD_ERRORS = (BackendError, MetadataError, ModelChoiceError)


def find_artifacts(folder: str | Path, backend: str | None = None) -> list[Path]:
    """Artifacts with a sidecar in an export folder, of one format if `backend` is 'tflite' or 'onnx'."""
    suffixes = [SUFFIXES[backend]] if backend in SUFFIXES else list(SUFFIXES.values())
    found = [p for p in sorted(Path(folder).iterdir()) if p.suffix in suffixes and sidecar_path(p).is_file()]
    if not found:
        kind = f"{backend} " if backend in SUFFIXES else ""
        raise ModelChoiceError(f"no {kind}artifacts with metadata in {folder}")
    return found


def time_inference(classifier: Classifier, warmup: int = 3, runs: int = 20) -> float:
    """Median milliseconds of one inference (quantize, invoke, dequantize) on a fixed prepared frame."""
    frame = np.random.default_rng(0).integers(0, 256, (*classifier.size, 3), dtype=np.uint8)
    for _ in range(warmup):
        classifier.probabilities(frame)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        classifier.probabilities(frame)
        times.append((time.perf_counter() - started) * 1000)
    return latency_stats(times)["median_ms"]


def pick_fastest(artifacts, threads: int | None = None) -> tuple[Classifier, str]:
    """Time each artifact whose parity passed, all at the same thread count; return the fastest Classifier
    and a one-line explanation."""
    timed, skipped = [], []
    for path in map(Path, artifacts):
        try:
            if not Sidecar.read(path).parity_passed:
                skipped.append(f"{path.name}: failed parity")
                continue
            classifier = Classifier(path, threads)
        except (BackendError, MetadataError) as error:
            skipped.append(f"{path.name}: {error}")
            continue
        timed.append((time_inference(classifier), classifier))
    if not timed:
        raise ModelChoiceError("no artifact passed parity and loaded: " + "; ".join(skipped))
    timed.sort(key=lambda pair: pair[0])
    (best_ms, best), others = timed[0], timed[1:]
    line = f"picked {best.path.name}: {best_ms:.2f} ms median"
    if others:
        line += " vs " + ", ".join(f"{c.path.name} {ms:.2f} ms" for ms, c in others)
    line += f", each at {threads_text(best.threads)}"
    if skipped:
        line += "; skipped " + "; ".join(skipped)
    return best, line


def threads_text(threads: int) -> str:
    """'1 thread', '4 threads'."""
    return f"{threads} thread{'s' if threads != 1 else ''}"


def pick_preferred(artifacts) -> Path:
    """The artifact whose parity passed that comes first by ArtifactKind.preference (int8 TFLite first)."""
    ranked = []
    for path in map(Path, artifacts):
        sidecar = Sidecar.read(path)
        if sidecar.parity_passed and sidecar.format in SUFFIXES and sidecar.precision in PRECISIONS:
            ranked.append((ArtifactKind(sidecar.format, sidecar.precision).preference, path))
    if not ranked:
        raise ModelChoiceError(f"no artifact passed parity among {', '.join(Path(p).name for p in artifacts)}")
    return min(ranked)[1]


def load_model(
    model: str | Path | None, backend: str | None = None, threads: int | None = None
) -> tuple[Classifier, str]:
    """A Classifier for MODEL (an artifact, or an export folder; None: the newest complete runs/*/export) and
    a line saying what was chosen and why.

    backend: None (the file as given; in a folder the preferred artifact), 'tflite' or 'onnx' (that format
    only), or 'auto' (in a folder: the fastest here among those that passed parity)."""
    if model is None:
        model = newest_export()
        if model is None:
            raise ModelChoiceError(
                f"no --model given and no complete {RUNS}/*/{EXPORT} folder here (catdog-export makes one)"
            )
    model = Path(model)
    if not model.exists():
        raise ModelChoiceError(f"model not found: {model}")
    if model.is_file():
        if backend == "auto":
            raise ModelChoiceError(
                f"--backend auto chooses among an export folder's artifacts; {model} is one file "
                f"(give its folder, {model.parent})"
            )
        if backend in SUFFIXES and model.suffix != SUFFIXES[backend]:
            raise ModelChoiceError(f"{model} is not a {backend} model (--backend {backend})")
        classifier = Classifier(model, threads)
        warning = "" if classifier.sidecar.parity_passed else " (warning: its sidecar does not say parity passed)"
        return classifier, f"using {model}: {classifier.name}, {threads_text(classifier.threads)}{warning}"
    artifacts = find_artifacts(model, backend)
    if backend == "auto":
        classifier, line = pick_fastest(artifacts, threads)
        return classifier, f"{line} (in {model})"
    classifier = Classifier(pick_preferred(artifacts), threads)
    return classifier, f"using {classifier.path}: {classifier.name}, {threads_text(classifier.threads)}"


def is_model(path: str | Path) -> bool:
    """Whether a path names an artifact (by its suffix) or an export folder."""
    path = Path(path)
    return path.suffix in SUFFIXES.values() if not path.is_dir() else is_export(path)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --threads and --backend, the same in catdog-predict and catdog-cam."""
    parser.add_argument(
        "--model",
        help=f"an artifact (.tflite/.onnx with its .json sidecar) or an export folder "
        f"(default: the newest complete {RUNS}/*/{EXPORT} folder)",
    )
    parser.add_argument(
        "--threads", type=positive_int, help="interpreter CPU threads (default: every CPU this process may use)"
    )
    parser.add_argument(
        "--backend",
        choices=("auto", *SUFFIXES),
        help="in an export folder: that format's preferred artifact, or 'auto': the fastest "
        "here among those that passed parity (default: int8 TFLite)",
    )
