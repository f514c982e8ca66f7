"""What the benchmark measures and where its inputs come from: runs and export folders, validation images,
accuracy against the float model, latency helpers, the 1-core proxy, catdog-cam and the emulated arm64 roots.

Only lean imports at module level (numpy, OpenCV, catdog.runtime), so the same suite runs on a Raspberry Pi
without TensorFlow; Keras is imported when asked for.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdog.runtime import metrics
from catdog.runtime.classifier import Classifier
from catdog.runtime.datasets import DataError, labelled_items
from catdog.runtime.folders import RunFolder, is_export, newest_export
from catdog.runtime.images import list_images, load_prepared, skipped_lines
from catdog.runtime.kinds import KINDS
from catdog.runtime.metadata import package_versions, read_metadata, sidecar_path
from catdog.runtime.metrics import classification_metrics

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PI_DIR = HERE / "pi"
KERAS = "model.keras"
# Emulated Debian arm64 roots (benchmarks/pi): suite -> the Python version it ships.
SUITES = {"bookworm": "3.11", "trixie": "3.13"}
PROXY_THREADS = (1, 4)  # the 1-core proxy: a Pi-class core count of one, with 1 and with 4 threads
CAM_SUMMARY = re.compile(
    r"(?P<frames>\d+) frames, (?P<dropped>\d+) dropped, loop (?P<loop_fps>[\d.]+) FPS, "
    r"inference p50 (?P<p50_ms>[\d.]+) ms p90 (?P<p90_ms>[\d.]+) ms "
    r"mean (?P<mean_ms>[\d.]+) ms"
)


class BenchError(ValueError):
    """A problem with the benchmark's inputs, said in one line."""


def tensorflow_available() -> bool:
    """Whether TensorFlow can be imported here (not on the board's lean install)."""
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


def artifact_kinds() -> list[tuple[str, str, str]]:
    """(file name, format, precision) of every artifact the benchmark knows: the Keras reference, then KINDS."""
    return [(KERAS, "keras", "fp32")] + [(f.filename, f.format, f.precision) for f in KINDS]


def parse_threads(text: str | None, cpus: int | None = None) -> list[int]:
    """'1,2,4' -> [1, 2, 4]; default '1,2,<cpu count>', deduplicated, order kept."""
    cpus = cpus or usable_cpus()
    text = text or f"1,2,{cpus}"
    threads = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise BenchError(f"--threads: {part!r} is not a thread count >= 1 (e.g. --threads 1,2,4)")
        if int(part) not in threads:
            threads.append(int(part))
    if not threads:
        raise BenchError("--threads: no thread count given")
    return threads


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# --- runs and export folders -------------------------------------------------------------------------------


@dataclass
class Artifact:
    name: str  # file name: model_int8.tflite, or model.keras
    format: str
    precision: str
    path: Path

    @property
    def label(self) -> str:
        return f"{self.format} {self.precision}"

    @property
    def lean(self) -> bool:
        return self.format != "keras"


@dataclass
class Run:
    """A run to benchmark: its export folder and, where there is one, the run folder (model.keras, split.json)."""

    name: str
    export: Path
    folder: Path | None = None

    def artifacts(self, keras: bool = True) -> list[Artifact]:
        """The artifacts present: model.keras (if keras and the run folder has it), then every artifact kind
        (catdog.runtime.kinds) exported with its sidecar."""
        found = []
        for name, fmt, precision in artifact_kinds():
            if name == KERAS:
                path = self.folder / KERAS if self.folder else None
                if keras and path and path.is_file():
                    found.append(Artifact(name, fmt, precision, path))
            elif (self.export / name).is_file() and sidecar_path(self.export / name).is_file():
                found.append(Artifact(name, fmt, precision, self.export / name))
        return found

    def artifact(self, name: str) -> Artifact | None:
        return next((a for a in self.artifacts() if a.name == name), None)

    def config(self) -> dict:
        path = self.folder / "config.json" if self.folder else None
        return json.loads(path.read_text()) if path and path.is_file() else {}

    def parity(self) -> dict | None:
        path = self.export / "parity.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def stamps(self) -> dict[str, tuple[int, int]]:
        """Size and modification time of every artifact and sidecar: to notice a re-export mid-benchmark."""
        files = [a.path for a in self.artifacts()] + [sidecar_path(a.path) for a in self.artifacts(keras=False)]
        return {str(f): (f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()}

    def describe(self) -> dict:
        """What the report says about the run: where, which model, input size."""
        config, lean = self.config(), self.artifacts(keras=False)
        metadata = read_metadata(lean[0].path) if lean else {}
        source = metadata.get("source", {})
        calibration = {a.name: read_metadata(a.path).get("calibration") for a in lean if a.precision == "int8"}
        return {
            "name": self.name,
            "export": str(self.export),
            "folder": str(self.folder) if self.folder else None,
            "model": config.get("model") or source.get("architecture"),
            "alpha": config.get("alpha", source.get("alpha")),
            "input": (metadata.get("input") or {}).get("shape"),
            "labels": metadata.get("labels"),
            "calibration": {name: value for name, value in calibration.items() if value},
            # Runs made before the selection split chose their checkpoint on the validation split.
            "chosen_on": config.get("chosen_on", "validation") if config else None,
            "temperature": config.get("temperature", source.get("temperature")),
            "reliability": str(self.folder / "reliability.png")
            if self.folder and (self.folder / "reliability.png").is_file()
            else None,
        }


def find_run(path: str | Path) -> Run:
    """A run folder (with export/) or an export folder itself (e.g. copied to a Pi without its run folder)."""
    path = Path(path).resolve()
    if (path / "export").is_dir() and is_export(path / "export"):
        return Run(path.name, path / "export", path)
    if path.is_dir() and is_export(path):
        parent = path.parent
        folder = parent if (parent / KERAS).is_file() or (parent / "split.json").is_file() else None
        return Run(parent.name if path.name == "export" else path.name, path, folder)
    if (path / KERAS).is_file():
        raise BenchError(f"run {path} has no exported artifacts: run `catdog-export {path} --int8 --fp16` first")
    raise BenchError(f"not a run folder with export/ nor an export folder (model_*.tflite/.onnx + .json): {path}")


def newest_run(runs_dir: Path) -> Run | None:
    """The run of the newest complete export under runs_dir (catdog.runtime.folders' rule), or None."""
    newest = newest_export(runs_dir)
    return find_run(newest.parent) if newest else None


def unique_names(runs: list[Run]) -> list[Run]:
    """Make run names unique (they are test ids and report keys)."""
    seen: dict[str, int] = {}
    for run in runs:
        count = seen.get(run.name, 0)
        seen[run.name] = count + 1
        if count:
            run.name = f"{run.name}-{count + 1}"
    return runs


# --- validation images -------------------------------------------------------------------------------------


@dataclass
class ValidationSet:
    labels: list[str]
    paths: list[str]
    truth: list[int]
    source: str


def validation_set(run: Run, labels: list[str], data: str | Path | None = None) -> ValidationSet:
    """The labelled images to score on: --data (any layout catdog-train reads; its validation/ folder if it has
    one), else the run's split.json, else the export's parity.json. All must exist."""
    if data:
        try:
            _, items, skipped = labelled_items(data, list(labels))
        except DataError as error:
            raise BenchError(f"--data {data}: {error}") from None
        paths, truth = [path for path, _ in items], [label for _, label in items]
        absent = [label for index, label in enumerate(labels) if index not in truth]
        if absent:
            raise BenchError(f"--data {data}: no images of {', '.join(absent)} (every label needs some)")
        unused = sum(map(len, skipped.values()))
        source = f"--data {data}" + (
            f" ({unused} files not used: {'; '.join(skipped_lines(skipped))})" if unused else ""
        )
    elif run.folder and RunFolder(run.folder).split():
        split = RunFolder(run.folder).split()
        if split.get("labels") and list(split["labels"]) != list(labels):
            raise BenchError(f"{run.folder}/split.json labels {split['labels']} differ from the artifacts' {labels}")
        paths, truth = [p for p, _ in split["validation"]], [int(y) for _, y in split["validation"]]
        source = f"{run.folder / 'split.json'} (validation)"
    elif run.parity():
        parity = run.parity()
        paths, truth = list(parity["images"]), [int(y) for y in parity["true"]]
        source = f"{run.export / 'parity.json'} (images)"
    else:
        raise BenchError(
            f"no validation images for {run.name}: no split.json beside {run.export} and no "
            f"parity.json in it; give --data DIR with one folder per label ({', '.join(labels)})"
        )
    if not paths:
        raise BenchError(f"no validation images in {source}")
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise BenchError(
            f"{len(missing)} of {len(paths)} validation images listed in {source} are missing "
            f"(first: {missing[0]}); give --data DIR with one folder per label ({', '.join(labels)})"
        )
    return ValidationSet(list(labels), paths, truth, source)


def exported_predictions(parity: dict | None, artifact: str, paths: list[str]) -> np.ndarray | None:
    """The classes catdog-export predicted (parity.json) for these images, matched by label folder and file
    name (so a copy of the images elsewhere, e.g. on a Pi, still matches); None unless all are covered."""
    exported = ((parity or {}).get("results") or {}).get(artifact) or {}
    if not exported.get("predicted") or not parity.get("images"):
        return None
    tail = lambda path: "/".join(Path(path).parts[-2:])  # noqa: E731
    known = {tail(path): label for path, label in zip(parity["images"], exported["predicted"])}
    if not all(tail(path) in known for path in paths):
        return None
    return np.asarray([known[tail(path)] for path in paths])


def load_images(paths: list[str], size: int | tuple[int, int]) -> np.ndarray:
    """Prepared RGB uint8 images, exactly as the runtime prepares them."""
    return np.stack([load_prepared(path, size) for path in paths])


def sample_indices(count: int, sample: int) -> list[int]:
    """`sample` indices spread evenly over `count` (so every class of a class-sorted split is in)."""
    if count <= sample:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, sample)})


# --- accuracy ------------------------------------------------------------------------------------------------


def lean_probabilities(path: Path, images: np.ndarray, threads: int | None) -> np.ndarray:
    """Probabilities of every image through the runtime's Classifier (batch 1, as on the board)."""
    classifier = Classifier(path, threads)
    return np.stack([classifier.probabilities(image) for image in images])


def load_keras(path: Path, threads: int | None):
    """The Keras model, with TensorFlow's intra-op pool set to `threads` if TensorFlow is not running yet.
    Returns (model, the intra-op thread count in effect: None = TensorFlow's default)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already initialized in this process
            pass
    import keras

    model = keras.models.load_model(path, compile=False)
    return model, tf.config.threading.get_intra_op_parallelism_threads() or None


def keras_probabilities(model, images: np.ndarray, chunk: int = 256) -> np.ndarray:
    return np.concatenate(
        [
            model.predict(images[i : i + chunk].astype(np.float32), batch_size=32, verbose=0)
            for i in range(0, len(images), chunk)
        ]
    )


def keras_target(model, image: np.ndarray):
    """A call of one inference of the Keras model (traced once with tf.function), for latency."""
    import tensorflow as tf

    function = tf.function(lambda x: model(x, training=False))
    batch = tf.constant(image[np.newaxis].astype(np.float32))
    return lambda: function(batch).numpy()


@dataclass
class Reference:
    """The float model's results the artifacts are held against."""

    name: str
    accuracy: float
    predicted: np.ndarray  # class per validation image
    note: str = ""


def score(labels, truth, probabilities: np.ndarray, reference: Reference | None) -> dict:
    """Accuracy, log loss, and against the reference: delta in points and label agreement in percent."""
    metrics = classification_metrics(labels, truth, probabilities)
    row = {
        "images": metrics["images"],
        "accuracy": metrics["accuracy"],
        "log_loss": metrics["log_loss"],
        "confusion_matrix": metrics["confusion_matrix"],
    }
    if reference is not None:
        predicted = np.asarray(probabilities).argmax(1)
        row.update(
            reference=reference.name,
            float_accuracy=reference.accuracy,
            delta_points=(metrics["accuracy"] - reference.accuracy) * 100,
            agreement=float((predicted == reference.predicted).mean() * 100),
        )
    return row


def parity_problem(run: str, artifact: str, row: dict, max_drop: float, min_agreement: float) -> str | None:
    """Why an int8 row fails parity (which artifact, the numbers), or None if it passes."""
    problems = []
    if -row["delta_points"] > max_drop:
        problems.append(f"lost {-row['delta_points']:.2f} accuracy points (limit --max-drop {max_drop:g})")
    if row["agreement"] < min_agreement:
        problems.append(f"label agreement {row['agreement']:.2f}% (limit --min-agreement {min_agreement:g}%)")
    if not problems:
        return None
    return (
        f"{run}/{artifact}: accuracy {row['accuracy']:.2%} vs float {row['float_accuracy']:.2%} "
        f"({row['reference']}) on {row['images']} images: " + "; ".join(problems)
    )


# --- latency -------------------------------------------------------------------------------------------------


def plan_rounds(target, budget_s: float, min_rounds: int, max_rounds: int, probes: int = 3) -> int:
    """How many timed rounds fit the time budget, from a few untimed calls (which also warm up)."""
    times = []
    for _ in range(probes):
        started = time.perf_counter()
        target()
        times.append(time.perf_counter() - started)
    return int(min(max_rounds, max(min_rounds, budget_s / max(float(np.median(times)), 1e-6))))


def latency_stats(seconds: list[float]) -> dict:
    """The runtime's summary of timings (catdog.runtime.metrics) for per-round times in seconds, with the
    number of rounds and FPS (1000 / median)."""
    stats = metrics.latency_stats(np.asarray(seconds, dtype=np.float64) * 1000)
    median = stats["median_ms"]
    return {"rounds": stats.pop("count"), **stats, "fps": 1000 / median if median else 0.0}


def thread_cpus() -> dict[str, str]:
    """Thread id -> allowed CPU list of every thread of this process (Linux)."""
    allowed = {}
    for status in glob.glob("/proc/self/task/*/status"):
        with contextlib.suppress(OSError):
            for line in Path(status).read_text().splitlines():
                if line.startswith("Cpus_allowed_list"):
                    allowed[status.split("/")[4]] = line.split()[1]
    return allowed


def idlest_cpu(allowed: set[int], seconds: float = 0.3) -> int:
    """The allowed CPU with the most idle time over a short look at /proc/stat (on a shared machine the
    proxy should not sit on the busiest core); the highest-numbered one where that cannot be read."""

    def idle() -> dict[int, int]:
        times = {}
        with contextlib.suppress(OSError):
            for line in Path("/proc/stat").read_text().splitlines():
                name, *values = line.split()
                if name.startswith("cpu") and name[3:].isdigit():
                    times[int(name[3:])] = int(values[3]) + int(values[4])  # idle + iowait
        return times

    before = idle()
    time.sleep(seconds)
    after = idle()
    candidates = [cpu for cpu in sorted(allowed) if cpu in before and cpu in after]
    if not candidates:
        return max(allowed)
    return max(candidates, key=lambda cpu: (after[cpu] - before[cpu], cpu))


@contextlib.contextmanager
def one_cpu():
    """Confine this thread, and every thread it starts meanwhile (interpreter pools), to one CPU (the idlest).
    Yields (cpu, check): check() says whether all threads started since are on that CPU alone."""
    if not hasattr(os, "sched_setaffinity"):
        raise BenchError("os.sched_setaffinity is not available on this system")
    allowed = os.sched_getaffinity(0)
    cpu = idlest_cpu(allowed)
    before = set(thread_cpus())
    os.sched_setaffinity(0, {cpu})

    def check() -> bool:
        return all(cpus == str(cpu) for tid, cpus in thread_cpus().items() if tid not in before)

    try:
        yield cpu, check
    finally:
        os.sched_setaffinity(0, allowed)


# --- machine -------------------------------------------------------------------------------------------------

PACKAGES = (
    "numpy",
    "opencv-python",
    "opencv-python-headless",
    "ai-edge-litert",
    "onnxruntime",
    "tensorflow",
    "keras",
    "pytest",
    "pytest-benchmark",
    "catdog",
)


def cpu_model() -> str:
    """The CPU model as /proc/cpuinfo says (a Pi says its board model), else platform's word."""
    import platform

    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    fields = {}
    for line in info.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    for key in ("model name", "Model", "Hardware", "cpu model"):
        if fields.get(key):
            return fields[key]
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    import platform

    versions = package_versions(PACKAGES)
    os_name = platform.platform()
    with contextlib.suppress(OSError):
        release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
        os_name = f"{release.get('PRETTY_NAME', '').strip(chr(34))} ({platform.platform()})"
    return {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cpus(),
        "os": os_name,
        "python": platform.python_version(),
        "versions": versions,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


# --- console scripts: build, smoke, catdog-cam -------------------------------------------------------------------


def console_script(name: str) -> list[str] | None:
    """How to run one of the project's console scripts: beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return [str(beside)]
    found = shutil.which(name)
    return [found] if found else None


def run_script(name: str, *args, env: dict | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run a console script; BenchError with the end of its output if it fails."""
    command = console_script(name)
    if command is None:
        raise BenchError(f"{name} not found beside {sys.executable} nor on PATH (pip install -e '.[train]')")
    result = subprocess.run(
        [*command, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BenchError(f"{name} {' '.join(map(str, args))} failed ({result.returncode}):\n{tail}")
    return result


def shared_dir() -> Path:
    return Path(os.environ.get("CATDOG_SHARED", ROOT.parent / "shared"))


def data_root() -> Path | None:
    """The cats_and_dogs_filtered photos: $CATDOG_DATA, else ../shared/data/cats_and_dogs_filtered."""
    for candidate in (os.environ.get("CATDOG_DATA"), shared_dir() / "data" / "cats_and_dogs_filtered"):
        if candidate and (Path(candidate) / "train").is_dir() and (Path(candidate) / "validation").is_dir():
            return Path(candidate)
    return None


def script_env() -> dict:
    """CATDOG_WEIGHTS_DIR from ../shared/weights when not set (this workplace has no internet)."""
    weights = shared_dir() / "weights"
    return {} if os.environ.get("CATDOG_WEIGHTS_DIR") or not weights.is_dir() else {"CATDOG_WEIGHTS_DIR": str(weights)}


SMOKE_TRAIN = [
    "--model",
    "mobilenetv2",
    "--alpha",
    "0.35",
    "--size",
    "96",
    "--epochs",
    "1",
    "--fine-tune-epochs",
    "1",
    "--batch-size",
    "16",
    "--quiet",
]


def build_smoke_run(root: Path, train_per_class: int = 40, validation_per_class: int = 24) -> Run:
    """A tiny MobileNetV2 (alpha 0.35, 96 px, one epoch per phase) trained on a few real photos and exported
    to every format, as tests/conftest.py does."""
    source = data_root()
    if source is None:
        raise BenchError(
            "--smoke needs the cats_and_dogs_filtered photos: set CATDOG_DATA to the folder with "
            "train/ and validation/ (or CATDOG_SHARED to a folder with data/cats_and_dogs_filtered)"
        )
    data = root / "data"
    for split, count in (("train", train_per_class), ("validation", validation_per_class)):
        for label in sorted(p.name for p in (source / split).iterdir() if p.is_dir()):
            folder = data / split / label
            folder.mkdir(parents=True)
            for image in list_images(source / split / label)[:count]:
                (folder / image.name).symlink_to(image)
    run_script(
        "catdog-train", "--data", data, *SMOKE_TRAIN, "--runs-dir", root / "runs", "--name", "smoke", env=script_env()
    )
    run_script(
        "catdog-export",
        root / "runs" / "smoke",
        "--int8",
        "--fp16",
        "--calibration-size",
        "32",
        "--max-drop",
        "100",
        "--min-agreement",
        "0",
        env=script_env(),
    )
    return find_run(root / "runs" / "smoke")


def build_default_run(runs_dir: Path, name: str = "default") -> Run:
    """Train (unless runs_dir/name/model.keras exists) and export the default model with the console scripts."""
    folder = runs_dir / name
    if not (folder / KERAS).is_file():
        run_script("catdog-train", "--runs-dir", runs_dir, "--name", name, env=script_env())
    run_script("catdog-export", folder, "--int8", "--fp16", env=script_env())
    return find_run(folder)


def make_video(paths: list[str], out: Path, frames: int, size=(640, 480), fps: float = 10.0) -> Path:
    """A video of `frames` frames made of the given photos (cycled), squashed to `size`; mp4v, else MJPG."""
    import cv2

    from catdog.runtime.images import read_image

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


def cam_command() -> list[str] | None:
    """catdog-cam, as a console script or as `python -m catdog.runtime.cam`; None if it does not exist yet."""
    import importlib.util

    if importlib.util.find_spec("catdog.runtime.cam") is None:
        return None
    return console_script("catdog-cam") or [sys.executable, "-m", "catdog.runtime.cam"]


def run_cam(command: list[str], artifact: Path, video: Path, frames: int, threads: int, timeout: float = 600) -> dict:
    """The end-to-end loop on a video file; the numbers of its summary line (stderr) plus our wall time."""
    args = [
        *command,
        "--no-display",
        "--source",
        str(video),
        "--max-frames",
        str(frames),
        "--model",
        str(artifact),
        "--threads",
        str(threads),
    ]
    started = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - started
    match = None
    for line in reversed(result.stderr.strip().splitlines()):
        match = CAM_SUMMARY.search(line)
        if match:
            break
    if result.returncode != 0 or match is None:
        tail = "\n".join(result.stderr.strip().splitlines()[-8:])
        raise BenchError(f"catdog-cam on {artifact.name} exited {result.returncode} without its summary line:\n{tail}")
    summary = {k: (int(v) if k in ("frames", "dropped") else float(v)) for k, v in match.groupdict().items()}
    lines = sum(1 for line in result.stdout.splitlines() if line.startswith("{"))
    return {**summary, "json_lines": lines, "process_seconds": wall, "command": " ".join(args)}


# --- emulated arm64 (benchmarks/pi) ----------------------------------------------------------------------------


def setup_suite(suite: str) -> float:
    """Build (or find cached) the emulated arm64 root of a suite; seconds it took."""
    started = time.perf_counter()
    result = subprocess.run([str(PI_DIR / "setup_arm64_root.sh"), suite], capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-10:])
        raise BenchError(f"benchmarks/pi/setup_arm64_root.sh {suite} failed ({result.returncode}):\n{tail}")
    return time.perf_counter() - started


def run_emulated(suite: str, request: Path, timeout: float = 1800) -> dict:
    """Run arm64_classify.py on a request file inside the emulated root; its JSON result."""
    out = request.with_name(f"{request.stem}.{suite}.json")
    command = [
        str(PI_DIR / "arm64_python.sh"),
        suite,
        str(HERE / "arm64_classify.py"),
        str(request),
        "--json",
        str(out),
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0 or not out.is_file():
        tail = "\n".join(result.stderr.strip().splitlines()[-10:])
        raise BenchError(f"emulated {suite} run failed ({result.returncode}): {' '.join(command)}\n{tail}")
    answer = json.loads(out.read_text())
    answer["wall_seconds"] = time.perf_counter() - started
    return answer
