"""The benchmark's results and its report: report.md (tables, machine, command), report.json and
latency_vs_accuracy.png, written atomically into the report folder at the end of the session."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bench_core import ARTIFACTS, load_average, machine_info, machine_line

from catdog.runtime.files import atomic_path, read_json, write_json

ALL_CORES, PROXY = "all cores", "1-core proxy"
SECTIONS = ("latency", "quality", "cam", "emulated")
ORDER = {name: index for index, name in enumerate(ARTIFACTS)}


@dataclass
class Results:
    """Everything measured in one session; what the report is made of."""

    command: str
    settings: dict
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    machine: dict = field(default_factory=machine_info)
    runs: dict = field(default_factory=dict)  # name -> description (model, export folder, validation set)
    latency: list = field(default_factory=list)  # one row per run x artifact x profile x threads
    quality: dict = field(default_factory=dict)  # "run/artifact" -> accuracy, log loss, delta, agreement, parity
    cam: list = field(default_factory=list)
    emulated: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # skips and remarks, one line each

    def note(self, line: str) -> None:
        if line not in self.notes:
            self.notes.append(line)

    def has_data(self) -> bool:
        return any(getattr(self, section) for section in SECTIONS)


def _key(row: dict):
    return (
        row.get("run", ""),
        ORDER.get(row.get("artifact"), 99),
        row.get("profile") == PROXY,
        row.get("threads") or 0,
    )


def table_rows(results: dict) -> list[dict]:
    """Latency rows joined with their artifact's accuracy; artifacts scored but not timed get a row too."""
    rows, timed = [], set()
    for row in results["latency"]:
        quality = results["quality"].get(f"{row['run']}/{row['artifact']}", {})
        rows.append({**quality, **row})
        timed.add(f"{row['run']}/{row['artifact']}")
    for key, quality in results["quality"].items():
        if key not in timed:
            rows.append({**quality, "profile": "", "threads": None})
    return sorted(rows, key=_key)


def _f(value, spec: str, empty: str = "") -> str:
    return empty if value is None else format(value, spec)


def latency_table(results: dict) -> str:
    lines = [
        "| run | artifact | engine | profile | threads | size MB | median ms | p90 ms | FPS | accuracy | log loss "
        "| Δ vs float (pts) | agreement | parity |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in table_rows(results):
        accuracy = _f(row.get("accuracy"), ".2%")
        lines.append(
            f"| {row.get('run', '')} | {row.get('label') or row.get('artifact')} | {row.get('engine', '')} "
            f"| {row.get('profile', '')} | {row.get('threads') or ''} | {_f(row.get('size_mb'), '.2f')} "
            f"| {_f(row.get('median_ms'), '.2f')} | {_f(row.get('p90_ms'), '.2f')} | {_f(row.get('fps'), '.1f')} "
            f"| {accuracy} | {_f(row.get('log_loss'), '.4f')} | {_f(row.get('delta_points'), '+.2f')} "
            f"| {_f(row.get('agreement'), '.2f')}{'%' if row.get('agreement') is not None else ''} "
            f"| {row.get('parity', '')} |"
        )
    return "\n".join(lines)


def background_table(results: dict) -> str:
    """Pet accuracy and false-pet rate of every artifact of a model with a background class."""
    lines = ["| run | artifact | pet accuracy | false pets (background called a pet) |", "|---|---|---:|---:|"]
    for key, row in results["quality"].items():
        if row.get("false_pet_rate") is not None:
            run, artifact = key.split("/", 1)
            lines.append(f"| {run} | {artifact} | {row['pet_accuracy']:.2%} | {row['false_pet_rate']:.2%} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def cam_table(results: dict) -> str:
    lines = [
        "| run | artifact | threads | frames | dropped | loop FPS | inference p50 ms | inference p90 ms "
        "| inference mean ms | inference-only FPS | loop / inference-only |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in sorted(results["cam"], key=_key):
        alone = 1000 / row["mean_ms"] if row["mean_ms"] else 0
        lines.append(
            f"| {row['run']} | {row['label']} | {row['threads']} | {row['frames']} | {row['dropped']} "
            f"| {row['loop_fps']:.1f} | {row['p50_ms']:.2f} | {row['p90_ms']:.2f} | {row['mean_ms']:.2f} "
            f"| {alone:.1f} | {row['loop_fps'] / alone if alone else 0:.0%} |"
        )
    return "\n".join(lines)


def emulated_table(results: dict) -> str:
    lines = [
        "| run | suite | python | machine | artifact | images | agreement with x86 | max prob diff "
        "| guest-prepared: pixels identical (max diff) | guest-prepared: agreement | seconds |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in sorted(results["emulated"], key=lambda r: (r["run"], r["suite"], ORDER.get(r["artifact"], 99))):
        mismatch = f" (differs at {row['mismatches']})" if row["mismatches"] else ""
        lines.append(
            f"| {row['run']} | {row['suite']} | {row['python']} | {row['machine']} | {row['artifact']} "
            f"| {row['images']} | {row['agreement']:.2f}%{mismatch} | {row['max_probability_difference']:.2g} "
            f"| {row['guest_prepared_identical']}/{row['images']} "
            f"({row.get('guest_prepared_max_abs_difference', '?')}) "
            f"| {_f(row.get('guest_prepared_label_agreement'), '.2f', '?')}% | {row['seconds']:.1f} |"
        )
    return "\n".join(lines)


def section(title: str, table: str, text: str) -> list[str]:
    """A section of report.md: its heading, its table and how to read it."""
    return ["", f"## {title}", "", table, "", text]


def markdown(results: dict) -> str:
    machine, settings = results["machine"], results["settings"]
    versions = ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items())
    out = [
        "# catdog benchmark",
        "",
        f"- date: {results['started']} (UTC)",
        f"- command: `{results['command']}`",
        f"- machine: {machine_line(machine)}",
        f"- Python {machine.get('python')}; {versions}",
        f"- load average at start: {machine.get('load_average')}, at end: {machine.get('load_average_end')}",
    ]
    busy = (machine.get("load_average") or [0])[0]
    if busy > 0.5 * (machine.get("usable_cores") or 1):
        out.append(
            f"- **the machine was busy** (1-minute load average {busy:g} on {machine.get('usable_cores')} "
            "cores before the benchmark started): latencies are inflated and noisy, more so with more "
            "threads; accuracy and parity are unaffected"
        )
    for name, run in results["runs"].items():
        validation = run.get("validation") or {}
        out.append(
            f"- run `{name}`: {run.get('model')} alpha {run.get('alpha')}, input {run.get('input')}, "
            f"export `{run.get('export')}`; validation: {validation.get('images', '?')} images from "
            f"{validation.get('source', '?')}; float reference: {run.get('float_reference')}"
        )
        if run.get("chosen_on"):
            if run["chosen_on"] == "validation":
                how = " (so its validation figures are optimistic)"
            else:
                how = ", the validation split only measured"
            temperature = (
                f"temperature {run['temperature']:.3f} folded into the model" if run.get("temperature") else ""
            )
            out.append(f"  - early stopping and checkpoint chosen on the {run['chosen_on']} split{how}; ")
            out[-1] += temperature or "no temperature"
        if run.get("reliability"):
            out.append(
                f"  - reliability diagram on the validation split: ![reliability of {name}](reliability_{name}.png)"
            )
        for artifact, calibration in (run.get("calibration") or {}).items():
            settings_line = ", ".join(f"{k} {v}" for k, v in calibration.items() if k not in ("images", "source"))
            out.append(
                f"  - {artifact}: calibrated on {calibration.get('images')} images "
                f"({calibration.get('source')}){'; ' + settings_line if settings_line else ''}"
            )
    for carried, line in results.get("carried", {}).items():
        out.append(f"- {carried} rows carried over from an earlier session: {line}")
    if results["latency"] or results["quality"]:
        out += section(
            "Latency and accuracy",
            latency_table(results),
            f"Latency: one prepared image through `Classifier.probabilities` (quantize, invoke, dequantize; "
            f"the Keras row: the model in a `tf.function`), as many timed rounds as fit the budget after warm-up; "
            f"median and p90 per inference, FPS = 1000 / median. *{ALL_CORES}*: the process may use every "
            f"core; *{PROXY}*: the interpreter and its threads confined to one CPU (os.sched_setaffinity), "
            f"a stand-in for a slow Pi-class core count of one. Accuracy and log loss: every validation image "
            f"through the same runtime; Δ and agreement are against the float reference named in report.json "
            f"(Keras where TensorFlow is installed). Parity limits, asserted for every artifact: at most "
            f"{settings.get('max_drop')} points lost, at least {settings.get('min_agreement')}% agreement.",
        )
    if background_table(results):
        out += section(
            "No cat, no dog",
            background_table(results),
            "At each model's decision rule (its sidecar's min_probability: a pet label under it is reported as the "
            "background): pet accuracy over the validation photos of a cat or dog (called the background is "
            "wrong), false pets over its background photos (called a cat or dog).",
        )
    if results["cam"]:
        out += section(
            "End to end: catdog-cam on a video file",
            cam_table(results),
            "`catdog-cam --no-display --source VIDEO --max-frames N --model ARTIFACT --threads T` on a 640x480 "
            "video made of validation photos: loop FPS covers decode, prepare, inference and the JSON line "
            "per frame; the inference times are the interpreter's alone (from its summary line).",
        )
    if results["emulated"]:
        out += section(
            "Emulated Raspberry Pi (aarch64 under qemu-user, cortex-a72)",
            emulated_table(results),
            "The int8 artifacts through catdog.runtime's Classifier inside Debian arm64 roots "
            "(benchmarks/pi), on validation images prepared on the host, compared label by label with x86 "
            "(asserted). The guest-prepared columns: the same image files read and prepared by the aarch64 "
            "OpenCV wheel itself (pixels may differ by a rounding step from x86), and the labels on those "
            "(informational, not asserted). Emulation is 50-100x slower than native: seconds are not Pi "
            "timings.",
        )
    if results["notes"]:
        out += ["", "## Notes and skipped cases", ""] + [f"- {line}" for line in results["notes"]]
    return "\n".join(out) + "\n"


def point_text(row: dict, several_runs: bool) -> str:
    """A point's label: 'tflite int8 t1', with ' 1-core' on the proxy and 'RUN: ' before it for several runs."""
    text = f"{row.get('label', row['artifact'])} t{row['threads']}" + (" 1-core" if row.get("profile") == PROXY else "")
    return f"{row['run']}: {text}" if several_runs else text


def plot(results: dict, path: Path) -> bool:
    """Median latency against accuracy, one labelled point per artifact x threads (x profile); False if empty."""
    points = [row for row in table_rows(results) if row.get("median_ms") and row.get("accuracy") is not None]
    if not points:
        return False
    try:
        from catdog.train.plots import label_points, log_x_axis, pyplot, save_figure

        plt = pyplot()
    except ImportError:  # the lean install on a board: tables only
        results["notes"].append("no latency_vs_accuracy.png: matplotlib is not installed here")
        return False
    markers = {"keras": "o", "tflite": "s", "onnx": "^"}
    colors = {"fp32": "tab:blue", "fp16": "tab:green", "int8": "tab:red"}
    figure, axes = plt.subplots(figsize=(10, 6.5))
    for row in points:
        color, hollow = colors.get(row.get("precision"), "tab:gray"), row.get("profile") == PROXY
        style = {"marker": markers.get(row.get("format"), "o"), "s": 60, "edgecolors": color, "linewidths": 1.5}
        axes.scatter(row["median_ms"], row["accuracy"] * 100, facecolors="none" if hollow else color, **style)
    latencies = [row["median_ms"] for row in points]
    if max(latencies) / min(latencies) > 8:
        log_x_axis(axes)
    accuracies = [row["accuracy"] * 100 for row in points]
    margin = max((max(accuracies) - min(accuracies)) * 0.15, 0.5)
    axes.set_ylim(min(accuracies) - margin, max(accuracies) + margin)
    several_runs = len({row["run"] for row in points}) > 1
    ordered = sorted(points, key=lambda row: (row["median_ms"], row["accuracy"]))
    texts = [point_text(row, several_runs) for row in ordered]
    label_points(axes, [(row["median_ms"], row["accuracy"] * 100) for row in ordered], texts)
    axes.set_xlabel("median latency per image (ms, lower is better)")
    axes.set_ylabel("validation accuracy (%)")
    machine = results["machine"]
    axes.set_title(
        f"catdog: latency vs accuracy on {machine.get('cpu')} ({machine.get('usable_cores')} cores)\n"
        "filled: all cores, hollow: 1-core proxy; square TFLite, triangle ONNX, circle Keras; "
        "red int8, green fp16, blue fp32",
        fontsize=9,
    )
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    save_figure(figure, path, dpi=110)
    return True


def merge_earlier(results: dict, earlier: dict | None) -> dict:
    """Sections this session did not measure are kept from the earlier report of the same runs (e.g. the
    emulated check run on its own after the benchmark), with a line saying where they came from."""
    exports = {name: run.get("export") for name, run in results["runs"].items()}
    if not earlier or {name: run.get("export") for name, run in earlier.get("runs", {}).items()} != exports:
        return results
    merged = {**results, "carried": {}}
    for section in SECTIONS:
        if not results[section] and earlier.get(section):
            merged[section] = earlier[section]
            merged["carried"][section] = f"`{earlier.get('command')}` at {earlier.get('started')}"
    return merged


def write_report(results: Results, folder: Path) -> list[Path]:
    """report.md, report.json and latency_vs_accuracy.png in folder; the paths written."""
    data = asdict(results)
    data["machine"]["load_average_end"] = load_average()
    earlier = None
    with contextlib.suppress(OSError, ValueError):  # none yet, or unreadable: nothing to keep
        earlier = read_json(folder / "report.json")
    data = merge_earlier(data, earlier)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "report.json", folder / "report.md"]
    if plot(data, folder / "latency_vs_accuracy.png"):
        written.append(folder / "latency_vs_accuracy.png")
    for name, run in data["runs"].items():  # each run's reliability diagram, beside the report that shows it
        if run.get("reliability") and Path(run["reliability"]).is_file():
            with atomic_path(folder / f"reliability_{name}.png") as temp:
                shutil.copyfile(run["reliability"], temp)
            written.append(folder / f"reliability_{name}.png")
    write_json(folder / "report.json", data)
    with atomic_path(folder / "report.md") as temp:
        temp.write_text(markdown(data))
    return written
