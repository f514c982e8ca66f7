"""Choosing which artifact to run: the one named; in an export folder by default the fastest on this machine
among those whose sidecar says parity passed (timed once per machine, artifacts and thread count, then read
from a cache file); or the preferred one of a format (`--backend tflite|onnx|preferred`)."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from catdog.runtime.arguments import positive_int, probability
from catdog.runtime.backends import BackendError, default_threads
from catdog.runtime.classifier import Classifier
from catdog.runtime.files import read_json, write_json
from catdog.runtime.folders import EXPORT, RUNS, default_export, is_export
from catdog.runtime.kinds import PRECISIONS, SUFFIXES, ArtifactKind
from catdog.runtime.machine import machine_identity
from catdog.runtime.metadata import MetadataError, Sidecar, sidecar_path
from catdog.runtime.metrics import latency_stats

CACHE_DIR = "CATDOG_CACHE_DIR"  # the environment variable that moves the cache (tests put it in tmp_path)


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


def time_calls(call, warmup: int = 3, runs: int = 20, budget_s: float = 0.0, max_runs: int | None = None) -> dict:
    """The timer: latency_stats (ms) of call() after `warmup` calls; `runs` timed calls, or with budget_s as many
    as fit in it at the warm-up's pace (at least runs, at most max_runs)."""

    def ms() -> float:
        started = time.perf_counter()
        call()
        return (time.perf_counter() - started) * 1000

    warm = np.median([ms() for _ in range(warmup)]) if warmup else 0.0
    if budget_s:
        runs = int(min(max_runs or runs, max(runs, budget_s * 1000 / max(warm, 1e-3))))
    return latency_stats([ms() for _ in range(runs)])


def time_inference(classifier: Classifier, warmup: int = 3, runs: int = 20) -> float:
    """Median milliseconds of one inference (quantize, invoke, dequantize) on a fixed prepared frame."""
    frame = np.random.default_rng(0).integers(0, 256, (*classifier.size, 3), dtype=np.uint8)
    return time_calls(lambda: classifier.probabilities(frame), warmup, runs)["median_ms"]


def cache_dir() -> Path:
    """$CATDOG_CACHE_DIR, else $XDG_CACHE_HOME/catdog, else ~/.cache/catdog."""
    if os.environ.get(CACHE_DIR):
        return Path(os.environ[CACHE_DIR])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "catdog"


def read_timings(path: Path, key: dict) -> dict | None:
    """The cache entry at `path` if it is one for exactly `key` (machine, threads, artifacts' SHA-256) with
    usable timings; None if it is missing, unparsable, of other types or stale."""
    try:
        entry = read_json(path)
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or any(entry.get(name) != value for name, value in key.items()):
        return None
    times, skipped = entry.get("median_ms"), entry.get("skipped")
    if not (isinstance(times, dict) and times and set(times) <= set(key["artifacts"])):
        return None
    if not all(type(ms) in (int, float) and math.isfinite(ms) and ms >= 0 for ms in times.values()):
        return None
    if not (isinstance(skipped, list) and all(isinstance(s, str) for s in skipped)):
        return None
    return entry if isinstance(entry.get("measured"), str) else None


def time_all(paths: list[Path], threads: int) -> tuple[Classifier, dict[str, float], list[str]]:
    """Time each artifact at `threads` threads: the fastest Classifier, median ms by file name, and the ones
    that did not load, with why."""
    best, times, skipped = None, {}, []
    for path in paths:
        try:
            classifier = Classifier(path, threads)
        except (BackendError, MetadataError) as error:
            skipped.append(f"{path.name}: {error}")
            continue
        times[path.name] = round(time_inference(classifier), 4)
        if best is None or times[path.name] < times[best.path.name]:
            best = classifier
    if best is None:
        raise ModelChoiceError("no artifact that passed parity loaded: " + "; ".join(skipped))
    return best, times, skipped


def passed_parity(artifacts) -> tuple[list[tuple[Path, str]], list[str]]:
    """The artifacts whose sidecar says parity passed, with the SHA-256 it records; and the others, with why."""
    passed, skipped = [], []
    for path in map(Path, artifacts):
        try:
            sidecar = Sidecar.read(path)
        except MetadataError as error:
            skipped.append(f"{path.name}: {error}")
            continue
        if sidecar.parity_passed:
            passed.append((path, sidecar.sha256))
        else:
            skipped.append(f"{path.name}: failed parity")
    if not passed:
        raise ModelChoiceError("no artifact passed parity: " + "; ".join(skipped))
    return passed, skipped


def pick_fastest(artifacts, threads: int | None = None) -> tuple[Classifier, str]:
    """The fastest here of the artifacts whose parity passed, all timed at the same thread count, once per
    machine (machine_identity), artifacts (their sidecars' SHA-256) and thread count: the timings are cached in
    cache_dir(), so a later start loads only the one it picks. Returns it and its "using ..." line: which,
    why, and whether measured now or read from the cache."""
    threads = threads or default_threads()
    passed, skipped = passed_parity(artifacts)
    key = {"machine": machine_identity(), "threads": threads, "artifacts": {p.name: sha for p, sha in passed}}
    cache = cache_dir() / f"fastest-{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]}.json"
    entry, classifier = read_timings(cache, key), None
    if entry is not None:
        fastest = min(entry["median_ms"], key=entry["median_ms"].get)
        try:
            classifier = Classifier(next(p for p, _ in passed if p.name == fastest), threads)
            source = f"from the cache {cache} (measured {entry['measured']})"
        except (BackendError, MetadataError):  # the cached pick no longer loads: measure again
            entry = None
    if entry is None:
        classifier, times, failed = time_all([p for p, _ in passed], threads)
        entry = {**key, "median_ms": times, "skipped": failed, "measured": time.strftime("%Y-%m-%d %H:%M")}
        try:
            write_json(cache, entry)
            source = f"measured now, cached in {cache}"
        except OSError as error:
            source = f"measured now, not cached ({cache}: {error.strerror})"
    return classifier, fastest_line(classifier, entry["median_ms"], skipped + entry["skipped"], source)


def fastest_line(classifier: Classifier, times: dict[str, float], skipped: list[str], source: str) -> str:
    """'using PATH: NAME, N threads; fastest of 4 that passed parity: A ms median vs OTHER B ms, ...;
    skipped ...; measured now, cached in FILE' (or 'from the cache FILE (measured WHEN)')."""
    name = classifier.path.name
    line = f"using {classifier.path}: {classifier.name}, {threads_text(classifier.threads)}; "
    which = f"fastest of {len(times)}" if len(times) > 1 else "the only one"
    line += f"{which} that passed parity: {times[name]:.2f} ms median"
    others = sorted((ms, other) for other, ms in times.items() if other != name)
    if others:
        line += " vs " + ", ".join(f"{other} {ms:.2f} ms" for ms, other in others)
    if skipped:
        line += "; skipped " + "; ".join(skipped)
    return f"{line}; {source}"


def threads_text(threads: int) -> str:
    """'1 thread', '4 threads'."""
    return f"{threads} thread{'s' if threads != 1 else ''}"


def pick_preferred(artifacts, most_precise: bool = False) -> Path:
    """The artifact whose parity passed that comes first by ArtifactKind.preference (int8 TFLite first), or
    with `most_precise` the highest precision first (fp32 TFLite first)."""
    ranked = []
    for path in map(Path, artifacts):
        sidecar = Sidecar.read(path)
        if sidecar.parity_passed and sidecar.format in SUFFIXES and sidecar.precision in PRECISIONS:
            precision, file_format = ArtifactKind(sidecar.format, sidecar.precision).preference
            ranked.append(((-precision if most_precise else precision, file_format), path))
    if not ranked:
        raise ModelChoiceError(f"no artifact passed parity among {', '.join(Path(p).name for p in artifacts)}")
    return min(ranked)[1]


def load_model(
    model: str | Path | None,
    backend: str | None = None,
    threads: int | None = None,
    min_probability: float | None = None,
) -> tuple[Classifier, str]:
    """A Classifier for MODEL (an artifact, an export folder, or a run folder: its export/; None: the newest
    complete runs/*/export), using `min_probability` as its decision rule if given, and a line saying what was
    chosen and why, and the decision rule.

    backend: None or 'auto' (the file as given; in a folder the fastest here that passed parity: pick_fastest),
    'preferred' (in a folder: int8 TFLite first, untimed: pick_preferred), 'precise' (fp32 first, untimed),
    'tflite' or 'onnx' (that format only, its preferred artifact)."""
    classifier, note = choose_model(model, backend, threads)
    try:
        classifier.set_min_probability(min_probability)
    except ValueError as error:
        raise ModelChoiceError(str(error)) from None
    rule = classifier.describe_rule()
    return classifier, f"{note}; {rule}" if rule else note


def choose_model(model: str | Path | None, backend: str | None, threads: int | None) -> tuple[Classifier, str]:
    """load_model's choice of artifact, and the line saying which and why."""
    if model is None:
        model, why = default_export()
        if model is None:
            raise ModelChoiceError(
                f"no --model given and no complete {RUNS}/*/{EXPORT} folder here (catdog-export makes one)"
            )
        classifier, note = choose_model(model, backend, threads)
        return classifier, f"{note} (no --model: {why})"
    model = Path(model)
    if not model.exists():
        raise ModelChoiceError(f"model not found: {model}")
    if model.is_dir() and not is_export(model) and is_export(model / EXPORT):  # a run folder
        model = model / EXPORT
    if model.is_file():
        if backend in ("auto", "preferred", "precise"):
            raise ModelChoiceError(
                f"--backend {backend} chooses among an export folder's artifacts; {model} is one file "
                f"(give its folder, {model.parent})"
            )
        if backend in SUFFIXES and model.suffix != SUFFIXES[backend]:
            raise ModelChoiceError(f"{model} is not a {backend} model (--backend {backend})")
        classifier = Classifier(model, threads)
        warning = "" if classifier.sidecar.parity_passed else " (warning: its sidecar does not say parity passed)"
        return classifier, f"using {model}: {classifier.name}, {threads_text(classifier.threads)}{warning}"
    artifacts = find_artifacts(model, backend)
    if backend in (None, "auto"):
        return pick_fastest(artifacts, threads)
    classifier = Classifier(pick_preferred(artifacts, most_precise=backend == "precise"), threads)
    why = "; the most precise that passed parity" if backend == "precise" else ""
    return classifier, f"using {classifier.path}: {classifier.name}, {threads_text(classifier.threads)}{why}"


def is_model(path: str | Path) -> bool:
    """Whether a path names an artifact (by its suffix) or an export folder."""
    path = Path(path)
    return path.suffix in SUFFIXES.values() if not path.is_dir() else is_export(path)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --threads and --backend, the same in catdog-predict and catdog-cam."""
    parser.add_argument(
        "--model",
        help=f"an artifact (.tflite/.onnx with its .json sidecar), an export folder or a run folder "
        f"(default: the newest complete {RUNS}/*/{EXPORT} folder)",
    )
    parser.add_argument(
        "--threads", type=positive_int, help="interpreter CPU threads (default: every CPU this process may use)"
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "preferred", "precise", *SUFFIXES),
        help="in an export or run folder: auto (the default) runs the fastest here of the artifacts that passed "
        "parity, timed once per machine, artifacts and thread count and cached in "
        f"${CACHE_DIR}, else $XDG_CACHE_HOME/catdog or ~/.cache/catdog; preferred: int8 TFLite first, untimed; "
        "precise: fp32 first, untimed (the default with catdog-predict --csv); tflite or onnx: that format only, "
        "int8 first",
    )
    parser.add_argument(
        "--min-probability",
        type=probability,
        metavar="P",
        help="models with a background class: a label other than the background below P is reported as the "
        "background (the JSON keeps the raw probabilities); default: the sidecar's, chosen on the selection split "
        "so that under 1%% of its background photos are called a pet, at a cost to its pets of at most 1 point",
    )
