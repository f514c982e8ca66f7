"""What the live view costs: catdog-cam on a 640x480 video, without --serve, with --serve while headless
chromium shows the page, and with --serve while a plain HTTP client reads every MJPEG part, alternating runs;
loop FPS and frame age over the frames after the viewer got the stream (the same frames in every kind of run).
The browser runs on the same machine, so its decoding and drawing compete with the loop for the CPU, as they
would not on a laptop watching a Pi; the HTTP client costs next to nothing, so its row is the server's own
cost. Needs Debian's chromium and chromium-driver, and selenium.

    python benchmarks/live_view.py runs/default/export/model_int8.tflite [--threads 1] [--frames 4000] [--repeats 5]

Writes benchmarks/results/live_view.md and .json, and live_view.png: the page as the browser showed it.

    python benchmarks/live_view.py MODEL --stress [--slow 200] [--vanishing 50]

instead puts the server under SLOW clients trickling requests and VANISHING clients that send one and reset, all
at once on 127.0.0.1, for bounded loops; it prints the loop's FPS before, during and after, catdog-cam's stderr
line count and its thread count before, at the peak and after (every thread the server started has ended when
the last equals the first), and writes live_view_stress.json.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import select
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import bench_core as core
import cv2
import numpy as np

DATA = Path(os.environ.get("CATDOG_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
DATA = DATA / "cats_and_dogs_filtered"

VIEWERS = {
    "none": "no --serve",
    "browser": "--serve, headless chromium on the page (same machine)",
    "http": "--serve, an HTTP client reading every MJPEG part",
}


class CamRun:
    """catdog-cam running on a video with --json; each stdout line kept with the moment it arrived."""

    def __init__(self, model: Path, video: Path, threads: int, serve: bool, realtime: bool = False):
        command = [
            *(sys.executable, "-m", "catdog.runtime.cam"),
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


def chromium_driver(profile: Path):
    """Debian's headless chromium through selenium; page loads never wait (an MJPEG page never finishes)."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location, options.page_load_strategy = "/usr/bin/chromium", "none"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=800,700")
    return webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))


def open_stream(host: str, port: int):
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", "/stream.mjpg")
    return connection, connection.getresponse()


def read_part(response) -> np.ndarray:
    """The next JPEG of a multipart MJPEG response, decoded."""
    while not response.fp.readline().startswith(b"--"):
        pass
    headers = list(iter(response.fp.readline, b"\r\n"))
    length = next(int(line.split(b":")[1]) for line in headers if line.lower().startswith(b"content-length"))
    return cv2.imdecode(np.frombuffer(response.fp.read(length), np.uint8), cv2.IMREAD_COLOR)


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


def stress(model: Path, video: Path, threads: int, slow: int, vanishing: int, seconds: float = 12.0) -> dict:
    """catdog-cam --serve under `slow` clients that trickle a request (a header byte every 0.5 s, connecting again
    once dropped) and `vanishing` clients that send a whole request and reset (SO_LINGER 0), every 0.1 s, all at
    once for `seconds`; the loop FPS 3 s before, during and 3 s after, stderr lines, thread counts."""
    run = CamRun(model, video, threads, serve=True)
    host, port = re.match(r"http://([^:/]+):(\d+)/", run.url).groups()
    tasks = Path(f"/proc/{run.process.pid}/task")
    time.sleep(3.0)
    marks, before = [time.perf_counter()], len(list(tasks.iterdir()))
    end = marks[0] + seconds

    def slow_client():
        while time.perf_counter() < end:
            with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1) as client:
                client.sendall(b"GET /latest.json HTTP/1.1\r\nX-Slow: ")
                while time.perf_counter() < end and not select.select([client], [], [], 0.5)[0]:
                    client.sendall(b"x")  # the server closing (503 or the request's deadline) ends it
            time.sleep(0.5)

    def vanishing_client(index: int):
        while time.perf_counter() < end:
            with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1) as client:
                client.sendall(f"GET {('/stream.mjpg', '/', '/latest.json')[index % 3]} HTTP/1.1\r\n\r\n".encode())
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            time.sleep(0.1)

    clients = [threading.Thread(target=slow_client) for _ in range(slow)]
    clients += [threading.Thread(target=vanishing_client, args=(i,)) for i in range(vanishing)]
    for client in clients:
        client.start()
    peak = before
    while any(client.is_alive() for client in clients):
        peak = max(peak, len(list(tasks.iterdir())))
        time.sleep(0.2)
    marks.append(time.perf_counter())
    for _ in range(150):  # the server's threads end as their connections close (at most its request deadline)
        if len(list(tasks.iterdir())) <= before:
            break
        time.sleep(0.1)
    settled = time.perf_counter()
    time.sleep(3.0)
    after = len(list(tasks.iterdir()))
    marks.append(time.perf_counter())
    if run.process.poll() is not None:
        raise RuntimeError("the video ended before the stress did: make it longer (--frames)")
    run.process.terminate()
    stderr = run.process.stderr.read().splitlines()
    run.wait()

    def fps(start: float, stop: float) -> float:
        times = [arrived for arrived, _ in run.lines if start <= arrived < stop]
        return (len(times) - 1) / (times[-1] - times[0])

    return {
        "slow_clients": slow,
        "vanishing_clients": vanishing,
        "seconds": round(marks[1] - marks[0], 1),
        "loop_fps": {
            "before": fps(marks[0] - 3.0, marks[0]),
            "during": fps(marks[0], marks[1]),
            "after": fps(marks[2] - 3.0, marks[2]),
        },
        "threads": {"before": before, "peak": peak, "after": after},
        "threads_settled_s": round(settled - marks[1], 1),
        "stderr_lines_after_start": len(stderr),
        "stderr_after_start": stderr,
        "exit_status": run.process.returncode,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--frames", type=int, default=4000, help="video length (default 4000)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"), help="default runs/benchmark (untracked)")
    parser.add_argument("--stress", action="store_true", help="slow and vanishing clients instead (above)")
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--vanishing", type=int, default=50)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    machine = core.machine_info()  # before the runs: the load average says whether something else was running
    photos = sorted(str(p) for p in (DATA / "validation").rglob("*.jpg"))[::10]
    with tempfile.TemporaryDirectory() as folder:
        video = core.make_video(photos, Path(folder) / "clip", args.frames, fps=30)
        if args.stress:
            result = {
                "machine": core.machine_line(machine),
                **stress(args.model, video, args.threads, args.slow, args.vanishing),
            }
            (args.out / "live_view_stress.json").write_text(json.dumps(result, indent=2) + "\n")
            print(json.dumps(result, indent=2))
            return 0
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
