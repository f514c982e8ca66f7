"""The benchmark's building blocks over catdog.runtime: the runs to measure, the validation images, the float
reference, the 1-core proxy, the machine, and catdog-cam on a video file. Lean imports only (numpy, OpenCV,
catdog.runtime), so that it runs on a Raspberry Pi without TensorFlow (imported for the Keras row alone).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdog.runtime.arguments import comma_separated
from catdog.runtime.auto import LOAD_ERRORS
from catdog.runtime.backends import default_threads
from catdog.runtime.cam import SUMMARY_FILE
from catdog.runtime.datasets import DataError, labelled_items
from catdog.runtime.files import atomic_path, read_json, write_json
from catdog.runtime.folders import EXPORT, MODEL, PARITY, SPLIT, RunFolder, default_export, is_export, validation_items
from catdog.runtime.images import read_image, skipped_lines
from catdog.runtime.kinds import KINDS
from catdog.runtime.machine import cpu_model, cpuinfo, machine_identity
from catdog.runtime.metadata import Sidecar, SourceModel, package_versions, sidecar_path
from catdog.runtime.sources import CamError

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("CATDOG_SHARED", HERE.parents[1] / "shared"))  # as tests/ find it
DATA = SHARED / "data" / "cats_and_dogs_filtered"  # the photos of --smoke and live_view.py
# What a run can have to measure, file name -> (format, precision): the Keras reference, then runtime.kinds'.
ARTIFACTS = {MODEL: ("keras", "fp32"), **{kind.filename: (kind.format, kind.precision) for kind in KINDS}}


class BenchError(ValueError):
    """A problem with the benchmark's inputs, said in one line."""


def parse_threads(text: str | None, cpus: int | None = None) -> list[int]:
    """'1,2,4' -> [1, 2, 4]; default '1,2,<usable CPUs>'; deduplicated, order kept."""
    threads = []
    for part in comma_separated(text or f"1,2,{cpus or default_threads()}"):
        if not part.isdigit() or int(part) < 1:
            raise BenchError(f"--threads: {part!r} is not a thread count >= 1 (e.g. --threads 1,2,4)")
        threads += [int(part)] if int(part) not in threads else []
    if not threads:
        raise BenchError("--threads: no thread count given")
    return threads


def label(artifact: str) -> str:
    """'tflite int8', or 'keras fp32' for the reference."""
    return " ".join(ARTIFACTS[artifact])


# --- runs ------------------------------------------------------------------------------------------------------
@dataclass
class Run:
    """A run to measure: its export folder and, where there is one, its run folder (model.keras, split.json)."""

    name: str
    export: Path
    folder: RunFolder | None = None

    def path(self, artifact: str) -> Path | None:
        """Where an artifact of ARTIFACTS is, if it is there (an exported one with its sidecar)."""
        if artifact == MODEL:
            return self.folder.model if self.folder and self.folder.model.is_file() else None
        path = self.export / artifact
        return path if path.is_file() and sidecar_path(path).is_file() else None

    def artifacts(self, lean_only: bool = False) -> list[str]:
        return [name for name in ARTIFACTS if self.path(name) and not (lean_only and name == MODEL)]

    def sidecar(self) -> Sidecar:
        """The sidecar of its first exported artifact: labels, input shape, decision rule, source model."""
        return Sidecar.read(self.path(self.artifacts(lean_only=True)[0]))

    def parity(self) -> dict | None:
        return read_json(self.export / PARITY) if (self.export / PARITY).is_file() else None

    def stamps(self) -> dict[str, tuple[int, int]]:
        """Size and modification time of every artifact and sidecar: to notice a re-export mid-benchmark."""
        files = [self.path(name) for name in self.artifacts()]
        files += [sidecar_path(f) for f in files if f.suffix != ".keras"]
        return {str(f): (f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()}

    def describe(self) -> dict:
        """What the report says about the run: where, which model, input size, calibration, checkpoint choice."""
        config, sidecar = self.folder.config() if self.folder else {}, self.sidecar()
        source = sidecar.source or SourceModel()
        calibration = {name: Sidecar.read(self.path(name)).calibration for name in self.artifacts(True)}
        reliability = self.folder.path / "reliability.png" if self.folder else None
        return {
            "name": self.name,
            "export": str(self.export),
            "folder": str(self.folder.path) if self.folder else None,
            "model": config.get("model") or source.architecture,
            "alpha": config.get("alpha", source.alpha),
            "input": sidecar.input.shape,
            "labels": sidecar.labels,
            "calibration": {name: value for name, value in calibration.items() if value},
            # Runs made before the selection split chose their checkpoint on the validation split.
            "chosen_on": config.get("chosen_on", "validation") if config else None,
            "temperature": config.get("temperature", source.temperature),
            "reliability": str(reliability) if reliability and reliability.is_file() else None,
        }


def find_run(path: str | Path) -> Run:
    """A run folder (with export/) or an export folder itself (e.g. copied to a Pi without its run folder)."""
    path = Path(path).resolve()
    run, parent = RunFolder(path), RunFolder(path.parent)
    if is_export(run.export):
        return Run(path.name, run.export, run)
    if is_export(path):
        inside = parent.model.is_file() or (parent.path / SPLIT).is_file()
        return Run(parent.path.name if path.name == EXPORT else path.name, path, parent if inside else None)
    if run.model.is_file():
        raise BenchError(f"run {path} has no exported artifacts: run `catdog-export {path} --int8 --fp16` first")
    raise BenchError(f"not a run folder with export/ nor an export folder (model_*.tflite/.onnx + .json): {path}")


def newest_run(runs_dir: Path) -> Run | None:
    """The run a command uses when not told which (catdog.runtime.folders.default_export), or None."""
    chosen, _ = default_export(runs_dir)
    return find_run(chosen.parent) if chosen else None


def find_runs(paths: list[str | Path]) -> list[Run]:
    """The runs at these paths, with unique names (they are test ids and report keys)."""
    runs, seen = [], {}
    for path in paths:
        run = find_run(path)
        seen[run.name] = seen.get(run.name, 0) + 1
        run.name += f"-{seen[run.name]}" if seen[run.name] > 1 else ""
        runs.append(run)
    return runs


# --- validation images and the float reference -------------------------------------------------------------
@dataclass
class ValidationSet:
    labels: list[str]
    paths: list[str]
    truth: list[int]
    source: str


def validation_set(run: Run, labels: list[str], data: str | Path | None = None) -> ValidationSet:
    """The labelled images to score on: --data (any layout catdog-train reads; its validation/ folder if it has
    one), else the run's split.json, else the export's parity.json. All must exist."""
    split, parity = run.folder and run.folder.split(), run.parity()
    need = f"one folder per label ({', '.join(labels)})"
    if data:
        try:
            _, items, skipped = labelled_items(data, list(labels))
        except DataError as error:
            raise BenchError(f"--data {data}: {error}") from None
        absent = [name for index, name in enumerate(labels) if index not in {label for _, label in items}]
        if absent:
            raise BenchError(f"--data {data}: no images of {', '.join(absent)} (every label needs some)")
        unused = sum(map(len, skipped.values()))
        source = f"--data {data}" + (f" ({unused} files not used: {'; '.join(skipped_lines(skipped))})" * bool(unused))
    elif split:
        if split.get("labels") and list(split["labels"]) != list(labels):
            raise BenchError(f"{run.folder.path}/{SPLIT} labels {split['labels']} differ from the artifacts' {labels}")
        items, source = validation_items(split), f"{run.folder.path / SPLIT} (validation)"
    elif parity:
        items, source = list(zip(map(str, parity["images"]), parity["true"])), f"{run.export / PARITY} (images)"
    else:
        where = f"no {SPLIT} beside {run.export} and no {PARITY} in it"
        raise BenchError(f"no validation images for {run.name}: {where}; give --data DIR with {need}")
    paths, truth = [path for path, _ in items], [int(label) for _, label in items]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise BenchError(
            f"{len(missing)} of {len(paths)} validation images listed in {source} are missing (first: {missing[0]}); "
            f"give --data DIR with {need}"
        )
    if not paths:
        raise BenchError(f"no validation images in {source}")
    return ValidationSet(list(labels), paths, truth, source)


def exported_predictions(parity: dict | None, artifact: str, paths: list[str]) -> np.ndarray | None:
    """The classes catdog-export predicted (parity.json) for these images, matched by label folder and file
    name (so a copy of the images elsewhere, e.g. on a Pi, still matches); None unless all are covered."""
    exported = ((parity or {}).get("results") or {}).get(artifact) or {}
    if not exported.get("predicted") or not parity.get("images"):
        return None
    known = {Path(path).parts[-2:]: label for path, label in zip(parity["images"], exported["predicted"])}
    tails = [Path(path).parts[-2:] for path in paths]
    return np.asarray([known[tail] for tail in tails]) if all(tail in known for tail in tails) else None


def sample_indices(count: int, sample: int) -> list[int]:
    """`sample` indices spread evenly over `count` (so every class of a class-sorted split is in)."""
    if count <= sample:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, sample)})


def load_keras(path: Path, threads: int | None):
    """The Keras model, with TensorFlow's intra-op pool set to `threads` if TensorFlow is not running yet.
    Returns (model, the intra-op thread count in effect: None = TensorFlow's default)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # TensorFlow already initialized in this process
        tf.config.threading.set_intra_op_parallelism_threads(threads or 0)
    model = keras.models.load_model(path, compile=False)
    return model, tf.config.threading.get_intra_op_parallelism_threads() or None


# --- the 1-core proxy ------------------------------------------------------------------------------------------
def thread_cpus() -> dict[str, set[int]]:
    """Thread id -> allowed CPUs of every thread of this process (Linux)."""
    allowed = {}
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            allowed[tid] = os.sched_getaffinity(int(tid))
    return allowed


def idle_times() -> dict[int, int]:
    """CPU -> idle + iowait ticks so far (/proc/stat); {} where that cannot be read."""
    with contextlib.suppress(OSError):
        lines = [line.split() for line in Path("/proc/stat").read_text().splitlines()]
        return {int(n[3:]): int(v[3]) + int(v[4]) for n, *v in lines if n.startswith("cpu") and n[3:].isdigit()}
    return {}


@contextlib.contextmanager
def one_cpu():
    """Confine this thread, and every thread it starts meanwhile (interpreter pools), to one CPU: the one idle
    longest over a short look (on a shared machine the proxy should not sit on the busiest core). Yields
    (cpu, check): check() says whether all threads started since are on that CPU alone."""
    allowed, before = os.sched_getaffinity(0), idle_times()
    time.sleep(0.3)
    after = idle_times()
    cpu = max(sorted(allowed), key=lambda cpu: (after.get(cpu, 0) - before.get(cpu, 0), cpu))
    earlier = set(thread_cpus())
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu, lambda: all(cpus == {cpu} for tid, cpus in thread_cpus().items() if tid not in earlier)
    finally:
        os.sched_setaffinity(0, allowed)


# --- the machine -----------------------------------------------------------------------------------------------

PACKAGES = ("numpy", "opencv-python", "opencv-python-headless", "ai-edge-litert", "onnxruntime")
PACKAGES += ("tensorflow", "keras", "pytest", "catdog")


def machine_info() -> dict:
    """CPU, cores, OS, Python, library versions and load average: the report's machine line."""
    os_name = platform.platform()
    with contextlib.suppress(OSError):
        os_name = f"{platform.freedesktop_os_release()['PRETTY_NAME']} ({os_name})"
    fields = cpuinfo()
    return {
        "cpu": cpu_model(fields),
        "avx512_vnni": "avx512_vnni" in fields.get("flags", "").split(),  # int8 speed doubles with it
        "speed_flags": machine_identity()["flags"],
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": default_threads(),
        "os": os_name,
        "python": platform.python_version(),
        "versions": package_versions(PACKAGES),
        "load_average": load_average(),
    }


def machine_line(machine: dict) -> str:
    """The machine as every results file names it: CPU, architecture, the flags that decide int8 speed (and, on
    x86, which of AVX-512 and VNNI it lacks), cores, OS."""
    flags = machine["speed_flags"]
    missing = [name for name, flag in (("AVX-512", "avx512f"), ("VNNI", "avx512_vnni")) if flag not in flags]
    x86 = machine.get("machine") == "x86_64"
    speed = f", flags {' '.join(flags) or 'none'}" + (f" (no {', no '.join(missing)})" if x86 and missing else "")
    return (
        f"{machine.get('cpu')} ({machine.get('machine')}){speed}, {machine.get('usable_cores')} usable of "
        f"{machine.get('cores')} cores, {machine.get('os')}"
    )


def one_line_errors(main):
    """A benchmark script's main() whose failures a user can cause (a path that cannot be read or written; a data
    set, a model or a video that cannot be used; a BenchError) end in one line on stderr and exit 2, as catdog's
    commands do."""

    @functools.wraps(main)
    def guarded(argv=None) -> int:
        try:
            return main(argv)
        except (*LOAD_ERRORS, DataError, CamError, OSError, BenchError) as error:
            print(f"{Path(sys.argv[0]).name}: error: {error}", file=sys.stderr)
            return 2

    return guarded


def unexported(runs: list[Path], prog: str) -> str | None:
    """One line naming the run folders without split.json or export/parity.json (catdog-export RUN --int8 writes
    it), or None when every one has both."""
    missing = [str(run) for run in runs if not ((run / SPLIT).is_file() and (run / EXPORT / PARITY).is_file())]
    return (
        f"{prog}: no split.json or export/parity.json in {', '.join(missing)}: run catdog-export RUN --int8"
        if missing
        else None
    )


def write_results(out: Path, name: str, markdown: str, record: dict) -> None:
    """OUT/NAME.md (also printed) and OUT/NAME.json (the record), each written whole."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / f"{name}.md") as temp:
        temp.write_text(markdown)
    write_json(out / f"{name}.json", record)
    print(markdown, end="")


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (None where the system has none)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


# --- catdog-cam on a video file ----------------------------------------------------------------------------------
def make_video(paths: list[str], out: Path, frames: int, size=(640, 480), fps: float = 10.0) -> Path:
    """A video of `frames` frames made of the given photos (cycled), squashed to `size`; mp4v, else MJPG."""
    import cv2

    for fourcc, suffix in (("mp4v", ".mp4"), ("MJPG", ".avi")):
        path = out.with_suffix(suffix)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if not writer.isOpened():
            continue
        for index in range(frames):
            writer.write(cv2.resize(read_image(paths[index % len(paths)]), size, interpolation=cv2.INTER_AREA))
        writer.release()
        capture = cv2.VideoCapture(str(path))
        readable = capture.isOpened() and capture.read()[0]
        capture.release()
        if readable:
            return path
    raise BenchError("OpenCV can neither write nor read back an mp4v or MJPG video here")


def command_of(script: str, module: str) -> list[str]:
    """How to start one of catdog's commands: its console script beside this Python, else its module."""
    path = Path(sys.executable).with_name(script)
    return [str(path)] if path.is_file() else [sys.executable, "-m", module]


def cam_command() -> list[str]:
    """How to start catdog-cam."""
    return command_of("catdog-cam", "catdog.runtime.cam")


def cam_json_lines(artifact: Path, video: Path, *options: str) -> list[dict]:
    """catdog-cam --no-display's JSON lines on a video; BenchError with its stderr if it exits non-zero."""
    args = [*cam_command(), "--model", str(artifact), "--source", str(video), "--no-display", *options]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchError(f"catdog-cam on {artifact} and {video} exited {result.returncode}: {result.stderr.strip()}")
    return [json.loads(line) for line in result.stdout.splitlines()]


def run_cam(artifact: Path, video: Path, frames: int, threads: int, timeout: float = 600) -> dict:
    """The end-to-end loop on a video file: catdog-cam's summary (the record $CATDOG_CAM_SUMMARY receives, as
    report columns), how many JSON lines it printed, and the wall time of the whole process."""
    args = [*cam_command(), "--no-display", "--source", str(video), "--max-frames", str(frames)]
    args += ["--model", str(artifact), "--threads", str(threads)]
    with tempfile.TemporaryDirectory(prefix="catdog-bench-cam-") as temp:
        summary = Path(temp) / "summary.json"
        started = time.perf_counter()
        env = {**os.environ, SUMMARY_FILE: str(summary)}
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
        wall = time.perf_counter() - started
        if result.returncode != 0 or not summary.is_file():
            tail = "\n".join(result.stderr.strip().splitlines()[-8:])
            raise BenchError(f"catdog-cam on {artifact.name} exited {result.returncode} without its summary:\n{tail}")
        record = read_json(summary)
    stats, lines = record["inference"], sum(1 for line in result.stdout.splitlines() if line.startswith("{"))
    row = {key: record[key] for key in ("frames", "dropped", "loop_fps")}
    row.update(p50_ms=stats["median_ms"], p90_ms=stats["p90_ms"], mean_ms=stats["mean_ms"], json_lines=lines)
    return {**row, "process_seconds": wall, "command": " ".join(args)}
