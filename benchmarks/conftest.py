"""Options, cases and shared state of the benchmark: `pytest benchmarks --benchmark` (see benchmarks/README.md).

Without --benchmark (or --pi-emulated) every measuring case is skipped, so `pytest benchmarks` stays fast
and runs in CI with the helpers' own tests. The report is written when the session ends.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import bench_core as core
import bench_report as report
import numpy as np
import pytest

SETTINGS = pytest.StashKey["Settings"]()
RESULTS = pytest.StashKey["report.Results"]()
REPORT_WRITTEN = pytest.StashKey[list]()
BENCH = pytest.StashKey["Bench"]()


def pytest_addoption(parser):
    group = parser.getgroup("catdog", "catdog benchmark (benchmarks/, see benchmarks/README.md)")
    add = group.addoption
    add(
        "--benchmark",
        action="store_true",
        help="run the benchmark cases: latency, accuracy, int8 parity, catdog-cam (skipped without it)",
    )
    add(
        "--runs",
        metavar="PATH[,PATH]",
        help="run folders (with export/) or export folders to benchmark (default: the newest runs/*/ with export/)",
    )
    add(
        "--data",
        metavar="DIR",
        help="validation images, one folder per label or a data set root with validation/ "
        "(default: the run's split.json, else the export's parity.json)",
    )
    add(
        "--build",
        action="store_true",
        help="if there is no run, train and export the default model first "
        "(catdog-train --name default; catdog-export runs/default --int8 --fp16)",
    )
    add(
        "--smoke",
        action="store_true",
        help="train and export a tiny model in a temp dir and benchmark it with "
        "a few rounds at 1 thread (what CI runs; report in benchmarks/results/smoke)",
    )
    add(
        "--pi-emulated",
        action="store_true",
        help="check int8 labels on emulated aarch64 (Debian bookworm/Python "
        "3.11 and trixie/3.13 via benchmarks/pi) against x86",
    )
    add(
        "--max-drop",
        type=float,
        help="most accuracy points an int8 artifact may lose vs float (default 1.0; --smoke: 100)",
    )
    add(
        "--min-agreement",
        type=float,
        help="least label agreement with float of an int8 artifact, percent (default 98.0; --smoke: 0)",
    )
    add("--threads", metavar="N[,N]", help="interpreter thread counts (default 1,2,<cpu count>; --smoke: 1)")
    add(
        "--report-dir",
        metavar="DIR",
        help="where report.md/.json and the plot go (default benchmarks/results; --smoke: benchmarks/results/smoke)",
    )
    add("--pi-images", type=int, default=100, metavar="N", help="validation images per emulated check (default 100)")
    add("--cam-frames", type=int, metavar="N", help="frames of the catdog-cam case (default 200; --smoke: 20)")


@dataclass
class Slot:
    """A run to benchmark, or one still to be made (smoke, build)."""

    name: str
    run: core.Run | None = None
    make: str | None = None  # "smoke" or "build"
    runs_dir: Path | None = None


@dataclass
class Settings:
    benchmark: bool
    pi_emulated: bool
    smoke: bool
    slots: list[Slot]
    threads: list[int]
    proxy_threads: tuple[int, ...]
    max_drop: float
    min_agreement: float
    report_dir: Path
    data: str | None
    pi_images: int
    cam_frames: int
    budget_s: float  # time per latency case
    min_rounds: int
    max_rounds: int
    warmup_rounds: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "threads": self.threads,
            "proxy_threads": list(self.proxy_threads),
            "max_drop": self.max_drop,
            "min_agreement": self.min_agreement,
            "smoke": self.smoke,
            "pi_images": self.pi_images,
            "cam_frames": self.cam_frames,
            "latency_budget_s": self.budget_s,
            "min_rounds": self.min_rounds,
            "max_rounds": self.max_rounds,
            "warmup_rounds": self.warmup_rounds,
        }


NO_RUN = (
    "no run to benchmark: no runs/*/export folder under {where}. Make one with "
    "`catdog-train --name default && catdog-export runs/default --int8 --fp16`, or add --build to do that "
    "first, or give --runs RUN_OR_EXPORT_DIR, or use --smoke for a tiny one"
)


def make_settings(config) -> Settings:
    option = config.option
    here = Path(config.invocation_params.dir)
    smoke = option.smoke
    slots: list[Slot] = []
    if smoke:
        if option.runs:
            raise core.BenchError("--smoke makes its own tiny run: leave out --runs")
        slots.append(Slot("smoke", make="smoke"))
    elif option.runs:
        runs = [core.find_run(here / path.strip()) for path in option.runs.split(",") if path.strip()]
        slots += [Slot(run.name, run) for run in core.unique_names(runs)]
    else:
        run = core.newest_run(here / "runs")
        if run is not None:
            slots.append(Slot(run.name, run))
        elif option.build:
            slots.append(Slot("default", make="build", runs_dir=here / "runs"))
        else:
            raise core.BenchError(NO_RUN.format(where=here))
    report_dir = Path(option.report_dir) if option.report_dir else core.HERE / "results" / ("smoke" if smoke else "")
    return Settings(
        benchmark=option.benchmark,
        pi_emulated=option.pi_emulated,
        smoke=smoke,
        slots=slots,
        threads=core.parse_threads(option.threads or ("1" if smoke else None)),
        proxy_threads=(1,) if smoke else core.PROXY_THREADS,
        max_drop=option.max_drop if option.max_drop is not None else (100.0 if smoke else 1.0),
        min_agreement=option.min_agreement if option.min_agreement is not None else (0.0 if smoke else 98.0),
        report_dir=report_dir if report_dir.is_absolute() else here / report_dir,
        data=option.data,
        pi_images=option.pi_images,
        cam_frames=option.cam_frames or (20 if smoke else 200),
        budget_s=0.2 if smoke else 3.0,
        min_rounds=5 if smoke else 30,
        max_rounds=10 if smoke else 1000,
        warmup_rounds=2 if smoke else 5,
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "catdog_benchmark: a benchmark case, run with --benchmark")
    config.addinivalue_line("markers", "pi_emulated: an emulated aarch64 check, run with --pi-emulated")
    option = config.option
    if not getattr(option, "benchmark", False) and not getattr(option, "pi_emulated", False):
        return
    try:
        settings = make_settings(config)
    except core.BenchError as error:
        raise pytest.UsageError(f"catdog benchmark: {error}") from None
    config.stash[SETTINGS] = settings
    command = "pytest " + " ".join(shlex.quote(arg) for arg in config.invocation_params.args)
    results = report.Results(command=command, settings=settings.summary(), machine=core.machine_info())
    if settings.smoke:
        results.note("smoke mode: a tiny, barely trained model; int8 parity limits relaxed unless given")
    config.stash[RESULTS] = results


def pytest_collection_modifyitems(config, items):
    option = config.option
    for item in items:
        if item.get_closest_marker("catdog_benchmark") and not option.benchmark:
            item.add_marker(
                pytest.mark.skip(
                    reason="benchmark case: run `pytest benchmarks --benchmark` "
                    "(--smoke for a tiny one; see benchmarks/README.md)"
                )
            )
        if item.get_closest_marker("pi_emulated") and not option.pi_emulated:
            item.add_marker(pytest.mark.skip(reason="emulated aarch64 check: run with --pi-emulated"))


# --- cases -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    run: str
    artifact: str
    format: str
    precision: str
    threads: int | None = None
    profile: str = report.ALL_CORES

    @property
    def id(self) -> str:
        return f"{self.run}-{self.artifact}" + (f"-t{self.threads}" if self.threads else "")

    @property
    def label(self) -> str:
        return f"{self.format} {self.precision}"


def slot_artifacts(slot: Slot) -> list[tuple[str, str, str]]:
    """Artifacts of a run (present ones), or every kind for a run still to be made."""
    if slot.run is None:
        return core.artifact_kinds()
    return [(a.name, a.format, a.precision) for a in slot.run.artifacts()]


def cases(kind: str, settings: Settings) -> list:
    out = []
    for slot in settings.slots:
        kinds = slot_artifacts(slot)
        lean = [k for k in kinds if k[1] != "keras"]
        if kind == "quality_case":
            out += [Case(slot.name, *k) for k in kinds]
        elif kind == "latency_case":
            out += [
                Case(slot.name, *k, threads)
                for k in kinds
                for threads in settings.threads
                if k[1] != "keras" or threads == max(settings.threads)
            ]
        elif kind == "proxy_case":
            out += [Case(slot.name, *k, threads, report.PROXY) for k in lean for threads in settings.proxy_threads]
        elif kind == "cam_case":
            out += [Case(slot.name, *k, threads) for k in lean for threads in settings.threads]
        elif kind == "emulated_case":
            out += [(slot.name, suite) for suite in core.SUITES]
    return out


def pytest_generate_tests(metafunc):
    settings = metafunc.config.stash.get(SETTINGS, None)
    for kind in ("quality_case", "latency_case", "proxy_case", "cam_case", "emulated_case"):
        if kind not in metafunc.fixturenames:
            continue
        enabled = settings and (settings.pi_emulated if kind == "emulated_case" else settings.benchmark)
        found = cases(kind, settings) if enabled else []
        ids = [c.id if isinstance(c, Case) else "-".join(c) for c in found]
        metafunc.parametrize(kind, found or [None], ids=ids or ["off"])


# --- shared state --------------------------------------------------------------------------------------------


class Bench:
    """Runs (made on first use for --smoke/--build), validation images and probabilities, cached per session."""

    def __init__(self, settings: Settings, results: report.Results, tmp_path_factory):
        self.settings, self.results, self.tmp = settings, results, tmp_path_factory
        self.slots = {slot.name: slot for slot in settings.slots}
        self.cache: dict = {}
        self.stamps: dict = {}  # run -> artifact files' size and mtime when first used

    def _cached(self, key, make):
        """make() once per key; a failure is remembered and raised again, not retried."""
        if key not in self.cache:
            try:
                self.cache[key] = ("ok", make())
            except Exception as error:  # remembered: one clear failure per case, not a retry per case
                self.cache[key] = ("error", error)
        status, value = self.cache[key]
        if status == "error":
            if isinstance(value, core.BenchError):
                pytest.fail(str(value), pytrace=False)
            raise value
        return value

    def run(self, name: str) -> core.Run:
        slot = self.slots[name]

        def make():
            if slot.run is None:
                if slot.make == "smoke":
                    slot.run = core.build_smoke_run(self.tmp.mktemp("smoke"))
                    slot.run.name = name
                else:
                    slot.run = core.build_default_run(slot.runs_dir)
            self.results.runs[name] = slot.run.describe()
            self.stamps[name] = slot.run.stamps()
            return slot.run

        return self._cached(("run", name), make)

    def artifact(self, case: Case) -> core.Artifact:
        artifact = self.run(case.run).artifact(case.artifact)
        if artifact is None:
            self.skip(f"{case.run}: {case.artifact} not exported (not in {self.run(case.run).export})")
        if not artifact.lean and not core.tensorflow_available():
            self.skip(f"{case.run}: Keras reference row skipped: TensorFlow is not installed here (the lean install)")
        return artifact

    def skip(self, reason: str):
        self.results.note(reason)
        pytest.skip(reason)

    def labels(self, name: str) -> list[str]:
        run = self.run(name)
        lean = run.artifacts(keras=False)
        return core.read_metadata(lean[0].path)["labels"] if lean else run.config()["labels"]

    def size(self, name: str) -> tuple[int, int]:
        run = self.run(name)
        lean = run.artifacts(keras=False)
        if lean:
            return tuple(core.read_metadata(lean[0].path)["input"]["shape"][1:3])
        size = run.config()["size"]
        return size, size

    def validation(self, name: str) -> core.ValidationSet:
        def make():
            validation = core.validation_set(self.run(name), self.labels(name), self.settings.data)
            self.results.runs[name]["validation"] = {"images": len(validation.paths), "source": validation.source}
            return validation

        return self._cached(("validation", name), make)

    def images(self, name: str) -> np.ndarray:
        return self._cached(("images", name), lambda: core.load_images(self.validation(name).paths, self.size(name)))

    def keras(self, name: str):
        """(model, TensorFlow intra-op threads) of the run's model.keras, loaded once."""
        artifact = self.run(name).artifact(core.KERAS)
        return self._cached(("keras", name), lambda: core.load_keras(artifact.path, max(self.settings.threads)))

    def probabilities(self, name: str, artifact: core.Artifact) -> np.ndarray:
        def make():
            if artifact.lean:
                return core.lean_probabilities(artifact.path, self.images(name), max(self.settings.threads))
            return core.keras_probabilities(self.keras(name)[0], self.images(name))

        return self._cached(("probabilities", name, artifact.name), make)

    def reference(self, name: str) -> core.Reference | None:
        """The float model to hold artifacts against: Keras measured here, else the export's own Keras
        predictions (parity.json) on the same images, else the fp32 TFLite (or ONNX) artifact measured here."""

        def make():
            run, validation = self.run(name), self.validation(name)
            keras = run.artifact(core.KERAS)
            if keras and core.tensorflow_available():
                probabilities = self.probabilities(name, keras)
                accuracy = float((probabilities.argmax(1) == np.asarray(validation.truth)).mean())
                return core.Reference("keras fp32, measured here", accuracy, probabilities.argmax(1))
            predicted = core.exported_predictions(run.parity(), core.KERAS, validation.paths)
            if predicted is not None:
                note = "keras fp32 as catdog-export predicted it (parity.json): TensorFlow not used here"
                self.results.note(f"{name}: float reference: {note}")
                accuracy = float((predicted == np.asarray(validation.truth)).mean())
                return core.Reference("keras fp32 (from parity.json)", accuracy, predicted, note)
            for candidate in ("model_fp32.tflite", "model_fp32.onnx"):
                artifact = run.artifact(candidate)
                if artifact:
                    probabilities = self.probabilities(name, artifact)
                    accuracy = float((probabilities.argmax(1) == np.asarray(validation.truth)).mean())
                    self.results.note(
                        f"{name}: float reference: {candidate} (no Keras model or TensorFlow here "
                        f"and parity.json does not cover these images)"
                    )
                    return core.Reference(f"{artifact.label}, measured here", accuracy, probabilities.argmax(1))
            return None

        reference = self._cached(("reference", name), make)
        self.results.runs[name]["float_reference"] = reference.name if reference else None
        return reference

    def video(self, name: str) -> Path:
        def make():
            paths = self.validation(name).paths
            picked = [paths[i] for i in core.sample_indices(len(paths), min(len(paths), 50))]
            return core.make_video(picked, self.tmp.mktemp("video") / "validation", self.settings.cam_frames)

        return self._cached(("video", name), make)


@pytest.fixture(scope="session")
def settings(request) -> Settings:
    return request.config.stash[SETTINGS]


@pytest.fixture(scope="session")
def bench(request, tmp_path_factory) -> Bench:
    config = request.config
    config.stash[BENCH] = Bench(config.stash[SETTINGS], config.stash[RESULTS], tmp_path_factory)
    return config.stash[BENCH]


# --- the report -------------------------------------------------------------------------------------------------


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    results = config.stash.get(RESULTS, None)
    if results is None or not results.has_data() or hasattr(config, "workerinput"):
        return
    bench = config.stash.get(BENCH, None)
    for name, stamps in bench.stamps.items() if bench else []:
        changed = sorted(set(stamps.items()) ^ set(bench.slots[name].run.stamps().items()))
        if changed:
            results.note(
                f"**{name}: artifacts changed while the benchmark ran** (re-exported?): "
                f"{', '.join(sorted({Path(path).name for path, _ in changed}))}; "
                "the rows may mix old and new artifacts: run it again"
            )
    config.stash[REPORT_WRITTEN] = report.write_report(results, config.stash[SETTINGS].report_dir)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    written = config.stash.get(REPORT_WRITTEN, None)
    if not written:
        if config.stash.get(RESULTS, None) is not None and not config.option.collectonly:
            terminalreporter.write_line("catdog benchmark: nothing was measured, no report written", yellow=True)
        return
    terminalreporter.section("catdog benchmark report")
    text = (written[1]).read_text()
    terminalreporter.write(text)
    for path in written:
        terminalreporter.write_line(f"written: {os.path.relpath(path)}")
