"""What the live view costs: catdog-cam on a 640x480 video, without --serve, with --serve while headless
chromium shows the page, and with --serve while a plain HTTP client reads every MJPEG part, alternating runs;
loop FPS and frame age over the frames after the viewer got the stream (the same frames in every kind of run).
The browser runs on the same machine, so its decoding and drawing compete with the loop for the CPU, as they
would not on a laptop watching a Pi; the HTTP client costs next to nothing, so its row is the server's own
cost. Needs Debian's chromium and chromium-driver, and selenium.

    python benchmarks/live_view.py runs/default/export/model_int8.tflite [--threads 1] [--frames 4000] [--repeats 5]

Writes benchmarks/results/live_view.md and .json, and live_view.png: the page as the browser showed it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import bench_core as core  # noqa: E402
from support import DATA, chromium_driver, open_stream, read_part  # noqa: E402

VIEWERS = {
    "none": "no --serve",
    "browser": "--serve, headless chromium on the page (same machine)",
    "http": "--serve, an HTTP client reading every MJPEG part",
}


class CamRun:
    """catdog-cam running on a video with --json; each stdout line kept with the moment it arrived."""

    def __init__(self, model: Path, video: Path, threads: int, serve: bool, realtime: bool = False):
        command = [
            *core.cam_command(),
            "--model",
            str(model),
            "--source",
            str(video),
            "--threads",
            str(threads),
            "--json",
            "--no-display",
            *(["--serve", "127.0.0.1:0"] if serve else []),
            *(["--realtime"] if realtime else []),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[tuple[float, dict]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.url = None
        if serve:
            while not self.url:
                line = self.process.stderr.readline()
                if not line:
                    raise RuntimeError("catdog-cam ended before serving")
                if match := re.search(r"live view at (\S+)", line):
                    self.url = match.group(1)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append((time.perf_counter(), json.loads(line)))

    def wait(self) -> None:
        self.process.wait(timeout=600)
        self.reader.join()


def measure(lines: list[tuple[float, dict]], first_frame: int) -> dict:
    """Loop FPS and frame age over the frames from `first_frame` on."""
    kept = [(arrived, line) for arrived, line in lines if line["frame"] >= first_frame]
    ages = [line["age_ms"] for _, line in kept]
    return {
        "frames": len(kept),
        "loop_fps": (len(kept) - 1) / (kept[-1][0] - kept[0][0]),
        "age_p50_ms": float(np.percentile(ages, 50)),
        "age_p90_ms": float(np.percentile(ages, 90)),
    }


def served_run(model: Path, video: Path, threads: int) -> tuple[dict, int]:
    """A run with a browser on the page from the moment it shows the stream; its figures and that frame."""
    run = CamRun(model, video, threads, serve=True)
    with tempfile.TemporaryDirectory() as profile:
        driver = chromium_driver(Path(profile))
        try:
            driver.get(run.url)
            wait_for_stream(driver)
            first_frame = run.lines[-1][1]["frame"] + 1
            run.wait()
        finally:
            driver.quit()
    return measure(run.lines, first_frame), first_frame


def screenshot(model: Path, video: Path, threads: int, path: Path) -> None:
    """The page as a browser shows it, from a run paced at the video's frame rate (--realtime), so that the
    page's label and the picture show the same moment of the video, as they would with a camera."""
    run = CamRun(model, video, threads, serve=True, realtime=True)
    with tempfile.TemporaryDirectory() as profile:
        driver = chromium_driver(Path(profile))
        try:
            driver.get(run.url)
            wait_for_stream(driver)
            time.sleep(2.0)
            driver.save_screenshot(str(path))
        finally:
            driver.quit()
            run.process.terminate()
            run.wait()


def wait_for_stream(driver) -> None:
    """Until the page's picture shows a frame of the stream."""
    while not driver.execute_script("return document.querySelector('img').naturalWidth"):
        time.sleep(0.02)


def client_run(model: Path, video: Path, threads: int) -> dict:
    """A run with an HTTP client reading every MJPEG part from its first one on; its figures."""
    run = CamRun(model, video, threads, serve=True)
    host, port = re.match(r"http://([^:/]+):(\d+)/", run.url).groups()
    connection, response = open_stream(host, int(port))
    read_part(response)
    first_frame = run.lines[-1][1]["frame"] + 1

    def read_all():
        try:
            while True:
                read_part(response)
        except Exception:  # the run ended and the server closed the stream
            pass

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    run.wait()
    connection.close()
    return measure(run.lines, first_frame)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--frames", type=int, default=4000, help="video length (default 4000)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"), help="default runs/benchmark (untracked)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    machine = core.machine_info()  # before the runs: the load average says whether something else was running
    photos = sorted(str(p) for p in (DATA / "validation").rglob("*.jpg"))[::10]
    with tempfile.TemporaryDirectory() as folder:
        video = core.make_video(photos, Path(folder) / "clip", args.frames, fps=30)
        rows = []
        for repeat in range(args.repeats):
            served, first_frame = served_run(args.model, video, args.threads)
            plain = CamRun(args.model, video, args.threads, serve=False)
            plain.wait()
            rows += [
                {"repeat": repeat, "viewer": "none", **measure(plain.lines, first_frame)},
                {"repeat": repeat, "viewer": "browser", **served},
                {"repeat": repeat, "viewer": "http", **client_run(args.model, video, args.threads)},
            ]
            print(*rows[-3:], sep="\n", file=sys.stderr)
        screenshot(args.model, video, args.threads, args.out / "live_view.png")
    by_viewer = {viewer: [row for row in rows if row["viewer"] == viewer] for viewer in VIEWERS}
    summary = {
        viewer: {
            key: float(np.median([row[key] for row in by_viewer[viewer]]))
            for key in ("loop_fps", "age_p50_ms", "age_p90_ms")
        }
        for viewer in VIEWERS
    }
    costs = {  # per repeat, against the run beside it: the machine's speed drifts between repeats
        viewer: [
            1 - served["loop_fps"] / plain["loop_fps"] for served, plain in zip(by_viewer[viewer], by_viewer["none"])
        ]
        for viewer in VIEWERS
    }
    cost = {viewer: float(np.median(values)) for viewer, values in costs.items()}
    lines = [
        f"# Live view cost ({args.model.name}, {args.threads} thread(s), 640x480 video of {args.frames} frames)",
        "",
        f"Machine: {core.machine_line(machine)}; load average at the start {machine['load_average']}.",
        "",
        "Command: `python benchmarks/live_view.py "
        f"{args.model} --threads {args.threads} --frames {args.frames} --repeats {args.repeats}`",
        "",
        "| run | loop FPS | loop FPS lost to serving | frame age p50 ms | frame age p90 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for viewer, label in VIEWERS.items():
        row = summary[viewer]
        lost = "" if viewer == "none" else f"{cost[viewer]:.1%}"
        lines.append(
            f"| {label} | {row['loop_fps']:.1f} | {lost} | {row['age_p50_ms']:.1f} | {row['age_p90_ms']:.1f} |"
        )
    lines += [
        "",
        f"Loop FPS lost to serving: {cost['browser']:.1%} with the browser on this machine, "
        f"{cost['http']:.1%} with the HTTP client (the server's own cost): medians over {args.repeats} repeats of "
        "the loss against the run without --serve beside it (browser: "
        + ", ".join(f"{value:.1%}" for value in costs["browser"])
        + "). The table gives medians; each run is measured over the frames after the viewer got the stream.",
        "",
        "![the page](live_view.png) (a further run, paced at the video's 30 FPS with `--realtime` as a camera "
        "would be, so that the page's label and the picture show the same moment)",
    ]
    (args.out / "live_view.md").write_text("\n".join(lines) + "\n")
    (args.out / "live_view.json").write_text(
        json.dumps({"machine": machine, "rows": rows, "summary": summary, "costs": costs, "cost": cost}, indent=2)
        + "\n"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
