"""The benchmark as a library: its Settings, the cases of some runs, and Bench, which measures a case and records
its row in a bench_report.Results. pytest (conftest.py) and benchmark() are thin shells on the same calls:

    results = measure.benchmark(["runs/default"], threads="1,2", kinds=("quality", "latency"))
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import shlex
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import arm64_classify
import bench_core as core
import numpy as np
from bench_core import ARTIFACTS, BenchError, Run, label
from bench_report import ALL_CORES, PROXY, Results, write_report

from catdog.runtime.auto import time_calls
from catdog.runtime.classifier import Classifier
from catdog.runtime.folders import MODEL
from catdog.runtime.images import load_prepared
from catdog.runtime.metrics import check_parity

MEASURES = ("quality", "latency", "proxy", "cam", "emulated")  # what Bench measures, one method each


@dataclass(frozen=True)
class Settings:
    """How the benchmark measures (report.json's "settings")."""

    threads: list[int]  # interpreter thread counts
    proxy_threads: tuple[int, ...] = (1, 4)  # thread counts on the 1-core proxy
    max_drop: float = 1.0  # most accuracy points an artifact may lose against the float model
    min_agreement: float = 98.0  # least label agreement with the float model, percent
    smoke: bool = False
    data: str | None = None  # validation images (default: the run's split.json, else parity.json)
    pi_images: int = 100  # validation images per emulated check
    cam_frames: int = 200
    latency_budget_s: float = 3.0  # time per latency case, after the warm-up rounds
    min_rounds: int = 30
    max_rounds: int = 1000
    warmup_rounds: int = 5


SMOKE = {  # a tiny, barely trained model on CI: 1 thread, few rounds, parity limits relaxed
    "proxy_threads": (1,),
    "max_drop": 100.0,
    "min_agreement": 0.0,
    "cam_frames": 20,
    "latency_budget_s": 0.2,
    "min_rounds": 5,
    "max_rounds": 10,
    "warmup_rounds": 2,
}


def make_settings(smoke: bool = False, threads: str | None = None, **given) -> Settings:
    """The defaults (smoke mode's with smoke), overridden by what is given and not None."""
    chosen = {**(SMOKE if smoke else {}), **{key: value for key, value in given.items() if value is not None}}
    for name in ("pi_images", "cam_frames"):
        if chosen.get(name, 1) < 1:
            raise BenchError(f"--{name.replace('_', '-')} {chosen[name]}: give at least 1")
    return Settings(core.parse_threads(threads or ("1" if smoke else None)), smoke=smoke, **chosen)


@dataclass(frozen=True)
class Case:
    """One measurement: an artifact of a run (bench_core.ARTIFACTS), at a thread count, on all cores or one."""

    run: str
    artifact: str
    threads: int | None = None
    profile: str = ALL_CORES

    @property
    def id(self) -> str:
        return f"{self.run}-{self.artifact}" + (f"-t{self.threads}" if self.threads else "")


@dataclass
class Slot:
    """A run to measure, or one made on first use (--smoke, --build) by make(mktemp)."""

    name: str
    run: Run | None = None
    make: Callable[[Callable[[str], Path]], Run] | None = None


def cases(kind: str, slots, settings: Settings) -> list:
    """The cases of one kind: Case objects, or (run, suite) for "emulated"; a run still to be made has every kind."""
    out = []
    for slot in slots:
        every = slot.run.artifacts() if slot.run else list(ARTIFACTS)
        lean, name = [artifact for artifact in every if artifact != MODEL], slot.name
        if kind == "quality":
            out += [Case(name, a) for a in every]
        elif kind == "latency":  # Keras at the largest thread count only (its pool is fixed once per process)
            out += [
                Case(name, a, t) for a in every for t in settings.threads if a != MODEL or t == max(settings.threads)
            ]
        elif kind == "proxy":
            out += [Case(name, a, t, PROXY) for a in lean for t in settings.proxy_threads]
        elif kind == "cam":
            out += [Case(name, a, t) for a in lean for t in settings.threads]
        else:
            out += [(name, suite) for suite in arm64_classify.SUITES]
    return out


class Skipped(Exception):
    """A case that cannot be measured here (its reason is also a note in the report)."""


@dataclass
class Reference:
    """The float model the artifacts are held against: its probabilities, or only its classes (parity.json)."""

    name: str
    outputs: np.ndarray
    artifact: str | None = None  # the artifact measured as the reference, if one was


def default_mktemp(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"catdog-bench-{name}-"))


def once(method):
    """A Bench method computed once per arguments; a failure is raised again, not retried, in every case."""

    @functools.wraps(method)
    def cached(self, *args):
        key = (method.__name__, *args)
        if key not in self.cache:
            try:
                self.cache[key] = (True, method(self, *args))
            except Exception as error:
                self.cache[key] = (False, error)
        ok, value = self.cache[key]
        if not ok:
            raise value
        return value

    return cached


class Bench:
    """Measures cases of some runs into `results`; what cases share (runs, images, the reference) is made once."""

    def __init__(self, settings: Settings, slots: list[Slot], results: Results, mktemp=default_mktemp):
        self.settings, self.results, self.mktemp = settings, results, mktemp
        self.slots = {slot.name: slot for slot in slots}
        self.cache: dict = {}
        self.stamps: dict = {}  # run -> its artifact files' size and mtime when first used

    def skip(self, reason: str):
        self.results.note(reason)
        raise Skipped(reason)

    # --- what the cases share ---
    @once
    def run(self, name: str) -> Run:
        slot = self.slots[name]
        slot.run = slot.run or slot.make(self.mktemp)
        slot.run.name = name
        self.results.runs[name] = slot.run.describe()
        self.stamps[name] = slot.run.stamps()
        return slot.run

    def path(self, run: str, artifact: str) -> Path:
        """The artifact's file; the case is skipped where it is absent or needs TensorFlow that is not here."""
        path = self.run(run).path(artifact)
        if path is None:
            self.skip(f"{run}: no {artifact} (not exported, or no run folder beside {self.run(run).export})")
        if artifact == MODEL and importlib.util.find_spec("tensorflow") is None:
            self.skip(f"{run}: Keras reference row skipped: TensorFlow is not installed here (the lean install)")
        return path

    @once
    def validation(self, name: str):
        run = self.run(name)
        validation = core.validation_set(run, run.sidecar().labels, self.settings.data)
        self.results.runs[name]["validation"] = {"images": len(validation.paths), "source": validation.source}
        return validation

    @once
    def images(self, name: str) -> np.ndarray:
        size = tuple(self.run(name).sidecar().input.shape[1:3])
        return np.stack([load_prepared(path, size) for path in self.validation(name).paths])

    @once
    def keras(self, name: str):
        """(model, TensorFlow's intra-op threads) of the run's model.keras."""
        return core.load_keras(self.path(name, MODEL), max(self.settings.threads))

    @once
    def probabilities(self, name: str, artifact: str) -> np.ndarray:
        """Every validation image through the artifact (one at a time through the Classifier; Keras in chunks)."""
        images = self.images(name)
        if artifact == MODEL:
            chunks = [images[i : i + 256].astype(np.float32) for i in range(0, len(images), 256)]
            return np.concatenate([self.keras(name)[0].predict(chunk, batch_size=32, verbose=0) for chunk in chunks])
        classifier = Classifier(self.path(name, artifact), max(self.settings.threads))
        return np.stack([classifier.probabilities(image) for image in images])

    @once
    def reference(self, name: str) -> Reference | None:
        """The float model: Keras here, else its predictions in parity.json, else an fp32 artifact here, else None."""
        run, paths, note = self.run(name), self.validation(name).paths, self.results.note
        self.results.runs[name]["float_reference"] = None
        if run.path(MODEL) and importlib.util.find_spec("tensorflow"):
            reference = Reference("keras fp32, measured here", self.probabilities(name, MODEL), MODEL)
        elif (predicted := core.exported_predictions(run.parity(), MODEL, paths)) is not None:
            note(f"{name}: float reference: keras fp32 as catdog-export predicted it (parity.json), no TensorFlow here")
            reference = Reference("keras fp32 (from parity.json)", predicted)
        else:
            fp32 = [artifact for artifact in run.artifacts(lean_only=True) if ARTIFACTS[artifact][1] == "fp32"]
            if not fp32:
                return None
            why = "no Keras model or TensorFlow here and parity.json does not cover these images"
            note(f"{name}: float reference: {fp32[0]} ({why})")
            reference = Reference(f"{label(fp32[0])}, measured here", self.probabilities(name, fp32[0]), fp32[0])
        self.results.runs[name]["float_reference"] = reference.name
        return reference

    @once
    def video(self, name: str) -> Path:
        paths = self.validation(name).paths
        picked = [paths[i] for i in core.sample_indices(len(paths), 50)]
        return core.make_video(picked, self.mktemp("video") / "validation", self.settings.cam_frames)

    @once
    def emulated_host(self, name: str, artifacts: tuple[Path, ...]) -> tuple[Path, dict]:
        """The emulated check's request file (a sample of validation images, prepared here as .npy) and the
        host's answer to it."""
        paths = self.validation(name).paths
        picked = core.sample_indices(len(paths), self.settings.pi_images)
        folder = self.mktemp("emulated")
        np.save(folder / "images.npy", self.images(name)[picked])
        request = {"artifacts": list(map(str, artifacts)), "images": str(folder / "images.npy"), "threads": 1}
        request["paths"] = [paths[i] for i in picked]
        (folder / "request.json").write_text(json.dumps(request))
        return folder / "request.json", arm64_classify.classify(request)

    # --- the measurements: each returns its row and records it in results ---
    def quality(self, case: Case) -> dict:
        """Accuracy, log loss and ECE on every validation image, and parity with the float reference by
        runtime.metrics.check_parity: "ok", "FAILED" (and why), "reference" or "no float reference"."""
        path, validation = self.path(case.run, case.artifact), self.validation(case.run)
        probabilities, reference = self.probabilities(case.run, case.artifact), self.reference(case.run)
        outputs = reference.outputs if reference else probabilities
        limits = (self.settings.max_drop, self.settings.min_agreement / 100)
        sidecar = self.run(case.run).sidecar()
        rule = {"background": sidecar.background_label, "min_probability": sidecar.min_probability or 0.0}
        check = check_parity(validation.labels, validation.truth, probabilities, outputs, *limits, **rule)
        keys = ("images", "accuracy", "log_loss", "ece", "confusion_matrix", "pet_accuracy", "false_pet_rate")
        row = {key: check[key] for key in keys if key in check}
        row.update(self._identity(case, path))
        if reference:
            row.update(reference=reference.name, agreement=check["label_agreement"] * 100)
            row.update({key: check[key] for key in ("float_accuracy", "delta_points", "max_probability_difference")})
        verdict = "reference" if reference and reference.artifact == case.artifact else "ok" if reference else ""
        row["parity"] = "FAILED" if not check["passed"] else verdict or "no float reference"
        if check["problems"]:
            row["parity_problem"] = (
                f"{case.run}/{case.artifact}: accuracy {check['accuracy']:.2%} vs float "
                f"{check['float_accuracy']:.2%} ({row.get('reference')}) on {check['images']} images: "
                + "; ".join(check["problems"])
            )
        self.results.quality[f"{case.run}/{case.artifact}"] = row
        return row

    def latency(self, case: Case) -> dict:
        """Latency of one prepared image through Classifier.probabilities, or the Keras model in a tf.function."""
        path, image = self.path(case.run, case.artifact), self.images(case.run)[0]
        if case.artifact != MODEL:
            classifier = Classifier(path, case.threads)
            return self._latency_row(case, path, classifier.backend.engine, lambda: classifier.probabilities(image))
        import tensorflow as tf

        model, intra = self.keras(case.run)
        if intra != case.threads:
            pool = f"{intra} intra-op threads" if intra else "default thread pool (all cores)"
            self.results.note(
                f"{case.run}: Keras row at TensorFlow's {pool}, not {case.threads}: TensorFlow was running "
                "before the benchmark could set it (its pool is fixed once per process)"
            )
        function = tf.function(lambda x: model(x, training=False))
        batch = tf.constant(image[np.newaxis].astype(np.float32))
        target = lambda: function(batch).numpy()  # noqa: E731  (traced once, then timed)
        return self._latency_row(case, path, f"tensorflow {tf.__version__}", target, tf_intra_op_threads=intra)

    def proxy(self, case: Case) -> dict:
        """Latency with the interpreter and all its threads confined to one CPU: a Pi-class stand-in."""
        if not hasattr(os, "sched_setaffinity"):
            self.skip("1-core proxy skipped: os.sched_setaffinity is not available on this system")
        path, image = self.path(case.run, case.artifact), self.images(case.run)[0]
        with core.one_cpu() as (cpu, confined):
            classifier = Classifier(path, case.threads)
            row = self._latency_row(case, path, classifier.backend.engine, lambda: classifier.probabilities(image))
            row.update(cpu=cpu, threads_confined=confined())
        return row

    def cam(self, case: Case) -> dict:
        """`catdog-cam --no-display --source VIDEO --max-frames N` on a video of validation photos."""
        path, video = self.path(case.run, case.artifact), self.video(case.run)
        row = {"run": case.run, "artifact": case.artifact, "label": label(case.artifact), "threads": case.threads}
        row.update(video=video.name, **core.run_cam(path, video, self.settings.cam_frames, case.threads))
        self.results.cam.append(row)
        return row

    def emulated(self, name: str, suite: str) -> list[dict]:
        """The int8 artifacts on a sample of validation images, here and in an emulated arm64 root."""
        int8 = [a for a in self.run(name).artifacts(lean_only=True) if ARTIFACTS[a][1] == "int8"]
        if not int8:
            self.skip(f"{name}: no int8 artifact to check on emulated aarch64")
        request, host = self.emulated_host(name, tuple(self.path(name, artifact) for artifact in int8))
        rows = arm64_classify.compare(name, suite, host, arm64_classify.run_emulated(suite, request))
        self.results.emulated += rows
        return rows

    def _identity(self, case: Case, path: Path) -> dict:
        (form, precision), size_mb = ARTIFACTS[case.artifact], path.stat().st_size / 1e6
        row = {"run": case.run, "artifact": case.artifact, "label": label(case.artifact), "format": form}
        return {**row, "precision": precision, "size_mb": size_mb}

    def _latency_row(self, case: Case, path: Path, engine: str, target, **extra) -> dict:
        """Per-call latency of target() by runtime.auto.time_calls in the settings' budget, with rounds and FPS."""
        s = self.settings
        stats = time_calls(target, s.warmup_rounds, s.min_rounds, s.latency_budget_s, s.max_rounds)
        row = {**self._identity(case, path), "engine": engine, "profile": case.profile, "threads": case.threads}
        row.update(rounds=stats.pop("count"), **stats, fps=1000 / stats["median_ms"], **extra)
        self.results.latency.append(row)
        return row

    def check_stamps(self) -> None:
        """A note in the report if a run's artifacts changed while it was measured (re-exported?)."""
        for name, stamps in self.stamps.items():
            changed = set(stamps.items()) ^ set(self.slots[name].run.stamps().items())
            if changed:
                self.results.note(
                    f"**{name}: artifacts changed while the benchmark ran** (re-exported?): "
                    f"{', '.join(sorted({Path(path).name for path, _ in changed}))}; "
                    "the rows may mix old and new artifacts: run it again"
                )


def benchmark(paths, kinds=("quality", "latency", "proxy", "cam"), report_dir=None, **options) -> Results:
    """Every case of these kinds of runs (run or export folders) as `pytest benchmarks --benchmark` measures them
    (a case that cannot run here is a note); options: make_settings'. The report is written into report_dir."""
    settings = make_settings(**options)
    results = Results(command=f"measure.benchmark({shlex.join(map(str, paths))})", settings=asdict(settings))
    bench = Bench(settings, [Slot(run.name, run) for run in core.find_runs(paths)], results)
    for kind in kinds:
        for case in cases(kind, bench.slots.values(), settings):
            with contextlib.suppress(Skipped):
                getattr(bench, kind)(case)
    bench.check_stamps()
    if report_dir:
        write_report(results, Path(report_dir))
    return results
