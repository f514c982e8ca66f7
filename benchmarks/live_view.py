"""What the live view costs: catdog-cam on a 640x480 video without --serve, with --serve while headless chromium
shows the page (on this machine, so it competes with the loop for the CPU), and with --serve while an HTTP client
reads every MJPEG part (the server's own cost), alternating runs; loop FPS and frame age over the frames after the
viewer got the stream (the same frames in every kind of run). Needs Debian's chromium, chromium-driver, selenium.

    python benchmarks/live_view.py MODEL [--threads 1] [--frames 4000] [--repeats 5]  # OUT/live_view.md, .json, .png
    python benchmarks/live_view.py MODEL --stress [--slow 200] [--vanishing 50]  # OUT/live_view_stress.json

--stress: SLOW clients trickling requests and VANISHING clients that send one and reset, at once on 127.0.0.1; the
loop's FPS before, during and after, catdog-cam's stderr lines, its thread count before, at the peak and after.
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
from urllib.parse import urlsplit

import bench_core as core
import cv2
import numpy as np

VIEWERS = {
    "none": "no --serve",
    "browser": "--serve, headless chromium on the page (same machine)",
    "http": "--serve, an HTTP client reading every MJPEG part",
}
CHROMIUM = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run")


class CamRun:
    """catdog-cam running on a video with --json; each stdout line kept with the moment it arrived. With serve,
    `url` and `address` are the live view's."""

    def __init__(self, model: Path, video: Path, threads: int, serve: bool, realtime: bool = False):
        command = [sys.executable, "-m", "catdog.runtime.cam", "--model", str(model), "--source", str(video)]
        command += ["--threads", str(threads), "--json", "--no-display"]
        command += (["--serve", "127.0.0.1:0"] if serve else []) + (["--realtime"] if realtime else [])
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[tuple[float, dict]] = []
        self.url = None
        while serve and not self.url:
            line = self.process.stderr.readline()
            if not line:
                raise RuntimeError("catdog-cam ended before serving")
            if match := re.search(r"live view at (\S+)", line):
                self.url = match.group(1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append((time.perf_counter(), json.loads(line)))

    @property
    def address(self) -> tuple[str, int]:
        return urlsplit(self.url).hostname, urlsplit(self.url).port

    def next_frame(self) -> int:
        """The number of the frame after the last one printed."""
        return self.lines[-1][1]["frame"] + 1

    def wait(self) -> None:
        self.process.wait(timeout=600)
        self.reader.join()


@contextlib.contextmanager
def browser(url: str):
    """Debian's headless chromium (through selenium) on the page, once its picture shows a frame of the stream;
    page loads never wait (an MJPEG page never finishes)."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location, options.page_load_strategy = "/usr/bin/chromium", "none"
    with tempfile.TemporaryDirectory() as profile:
        for flag in (*CHROMIUM, f"--user-data-dir={profile}", "--window-size=800,700"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
        try:
            driver.get(url)
            while not driver.execute_script("return document.querySelector('img').naturalWidth"):
                time.sleep(0.02)
            yield driver
        finally:
            driver.quit()


def read_part(response) -> np.ndarray:
    """The next JPEG of a multipart MJPEG response, decoded."""
    while not response.fp.readline().startswith(b"--"):
        pass
    headers = list(iter(response.fp.readline, b"\r\n"))
    length = next(int(line.split(b":")[1]) for line in headers if line.lower().startswith(b"content-length"))
    return cv2.imdecode(np.frombuffer(response.fp.read(length), np.uint8), cv2.IMREAD_COLOR)


def read_parts(response) -> None:
    """Every part, until the run ends and the server closes the stream."""
    with contextlib.suppress(Exception):
        while True:
            read_part(response)


def measure(lines: list[tuple[float, dict]], first_frame: int) -> dict:
    """Loop FPS and frame age over the frames from `first_frame` on."""
    kept = [(arrived, line) for arrived, line in lines if line["frame"] >= first_frame]
    ages = [line["age_ms"] for _, line in kept]
    p50, p90 = np.percentile(ages, [50, 90])
    fps = (len(kept) - 1) / (kept[-1][0] - kept[0][0])
    return {"frames": len(kept), "loop_fps": fps, "age_p50_ms": float(p50), "age_p90_ms": float(p90)}


def served_run(model: Path, video: Path, threads: int) -> tuple[dict, int]:
    """A run with a browser on the page from the moment it shows the stream; its figures and that frame."""
    run = CamRun(model, video, threads, serve=True)
    with browser(run.url):
        first_frame = run.next_frame()
        run.wait()
    return measure(run.lines, first_frame), first_frame


def client_run(model: Path, video: Path, threads: int) -> dict:
    """A run with an HTTP client reading every MJPEG part from its first one on; its figures."""
    run = CamRun(model, video, threads, serve=True)
    connection = http.client.HTTPConnection(*run.address, timeout=10)
    connection.request("GET", "/stream.mjpg")
    response = connection.getresponse()
    read_part(response)
    first_frame = run.next_frame()
    threading.Thread(target=read_parts, args=(response,), daemon=True).start()
    run.wait()
    connection.close()
    return measure(run.lines, first_frame)


def screenshot(model: Path, video: Path, threads: int, path: Path) -> None:
    """The page as a browser shows it, from a run paced at the video's frame rate (--realtime), so that the
    page's label and the picture show the same moment of the video, as they would with a camera."""
    run = CamRun(model, video, threads, serve=True, realtime=True)
    try:
        with browser(run.url) as driver:
            time.sleep(2.0)
            driver.save_screenshot(str(path))
    finally:
        run.process.terminate()
        run.wait()


def slow_client(address: tuple[str, int], end: float) -> None:
    """Until `end`: trickle a request, a header byte every 0.5 s, until the server closes (503 or the request's
    deadline), then connect again."""
    while time.perf_counter() < end:
        with contextlib.suppress(OSError), socket.create_connection(address, timeout=1) as client:
            client.sendall(b"GET /latest.json HTTP/1.1\r\nX-Slow: ")
            while time.perf_counter() < end and not select.select([client], [], [], 0.5)[0]:
                client.sendall(b"x")
        time.sleep(0.5)


def vanishing_client(address: tuple[str, int], end: float, path: str) -> None:
    """Until `end`, every 0.1 s: send a whole request for `path` and reset the connection (SO_LINGER 0)."""
    while time.perf_counter() < end:
        with contextlib.suppress(OSError), socket.create_connection(address, timeout=1) as client:
            client.sendall(f"GET {path} HTTP/1.1\r\n\r\n".encode())
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(0.1)


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def loop_fps(lines: list[tuple[float, dict]], start: float, stop: float) -> float:
    """Loop FPS over the lines that arrived between start and stop."""
    times = [arrived for arrived, _ in lines if start <= arrived < stop]
    return (len(times) - 1) / (times[-1] - times[0])


def stress(model: Path, video: Path, threads: int, slow: int, vanishing: int, seconds: float = 12.0) -> dict:
    """catdog-cam --serve under `slow` slow clients and `vanishing` vanishing clients at once for `seconds`; the
    loop FPS 3 s before, during and 3 s after, stderr lines, thread counts."""
    run = CamRun(model, video, threads, serve=True)
    pid, paths = run.process.pid, ("/stream.mjpg", "/", "/latest.json")
    time.sleep(3.0)
    start, before = time.perf_counter(), thread_count(pid)
    clients = [threading.Thread(target=slow_client, args=(run.address, start + seconds)) for _ in range(slow)]
    for index in range(vanishing):
        clients.append(threading.Thread(target=vanishing_client, args=(run.address, start + seconds, paths[index % 3])))
    for client in clients:
        client.start()
    peak = before
    while any(client.is_alive() for client in clients):
        peak = max(peak, thread_count(pid))
        time.sleep(0.2)
    stop = time.perf_counter()
    while thread_count(pid) > before and time.perf_counter() < stop + 15:  # threads end as their connections close
        time.sleep(0.1)
    settled = time.perf_counter()
    time.sleep(3.0)
    after, end = thread_count(pid), time.perf_counter()
    if run.process.poll() is not None:
        raise RuntimeError("the video ended before the stress did: make it longer (--frames)")
    run.process.terminate()
    stderr = run.process.stderr.read().splitlines()
    run.wait()
    fps = {"before": (start - 3.0, start), "during": (start, stop), "after": (end - 3.0, end)}
    result = {"slow_clients": slow, "vanishing_clients": vanishing, "seconds": round(stop - start, 1)}
    result["loop_fps"] = {name: loop_fps(run.lines, *span) for name, span in fps.items()}
    result["threads"] = {"before": before, "peak": peak, "after": after}
    result.update(threads_settled_s=round(settled - stop, 1), stderr_lines_after_start=len(stderr))
    return {**result, "stderr_after_start": stderr, "exit_status": run.process.returncode}


def viewer_rows(args, video: Path) -> list[dict]:
    """Per repeat: a run with the browser, one without --serve (measured from the same frame), one with the HTTP
    client."""
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
    return rows


def summarize(rows: list[dict]) -> dict:
    """Per viewer: the medians of its runs ("summary"), the loop FPS lost per repeat against the run without --serve
    beside it ("costs": the machine's speed drifts between repeats) and their median ("cost")."""
    runs = {viewer: [row for row in rows if row["viewer"] == viewer] for viewer in VIEWERS}
    keys = ("loop_fps", "age_p50_ms", "age_p90_ms")
    summary = {
        viewer: {key: float(np.median([row[key] for row in runs[viewer]])) for key in keys} for viewer in VIEWERS
    }
    costs = {
        viewer: [1 - served["loop_fps"] / plain["loop_fps"] for served, plain in zip(runs[viewer], runs["none"])]
        for viewer in VIEWERS
    }
    return {"summary": summary, "costs": costs, "cost": {viewer: float(np.median(costs[viewer])) for viewer in VIEWERS}}


def markdown(args, machine: dict, figures: dict) -> str:
    """live_view.md: the command, the machine, the table of medians, the loss per repeat and the screenshot."""
    cost, rows = figures["cost"], []
    for viewer, label in VIEWERS.items():
        row, lost = figures["summary"][viewer], "" if viewer == "none" else f"{cost[viewer]:.1%}"
        rows.append(f"| {label} | {row['loop_fps']:.1f} | {lost} | {row['age_p50_ms']:.1f} | {row['age_p90_ms']:.1f} |")
    browser_costs = ", ".join(f"{value:.1%}" for value in figures["costs"]["browser"])
    return f"""# Live view cost ({args.model.name}, {args.threads} thread(s), 640x480 video of {args.frames} frames)

Machine: {core.machine_line(machine)}; load average at the start {machine["load_average"]}.

Command: `python benchmarks/live_view.py {args.model} --threads {args.threads} --frames {args.frames} \
--repeats {args.repeats}`

| run | loop FPS | loop FPS lost to serving | frame age p50 ms | frame age p90 ms |
|---|---:|---:|---:|---:|
{chr(10).join(rows)}

Loop FPS lost to serving: {cost["browser"]:.1%} with the browser on this machine, {cost["http"]:.1%} with the HTTP \
client (the server's own cost): medians over {args.repeats} repeats of the loss against the run without --serve \
beside it (browser: {browser_costs}). The table gives medians; each run is measured over the frames after the \
viewer got the stream.

![the page](live_view.png) (a further run, paced at the video's 30 FPS with `--realtime` as a camera would be, so \
that the page's label and the picture show the same moment)
"""


@core.one_line_errors
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
    photos = sorted(str(p) for p in (core.DATA / "validation").rglob("*.jpg"))[::10]
    with tempfile.TemporaryDirectory() as folder:
        video = core.make_video(photos, Path(folder) / "clip", args.frames, fps=30)
        if args.stress:
            result = {"machine": core.machine_line(machine)}
            result.update(stress(args.model, video, args.threads, args.slow, args.vanishing))
            (args.out / "live_view_stress.json").write_text(json.dumps(result, indent=2) + "\n")
            print(json.dumps(result, indent=2))
            return 0
        rows = viewer_rows(args, video)
        screenshot(args.model, video, args.threads, args.out / "live_view.png")
    figures = summarize(rows)
    core.write_results(
        args.out, "live_view", markdown(args, machine, figures), {"machine": machine, "rows": rows, **figures}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
