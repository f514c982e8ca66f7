"""The pet monitor for a long time (issue #20): catdog-cam with --mqtt, --snapshots --keep 50 and --serve on the
tests' stand-in picamera2 (tests/standin, a video's frames in a loop at --fps), against a real mosquitto and a paho
subscriber. Every 10 s: resident memory (VmRSS), snapshot files and /healthz. At the end (SIGTERM): memory after
warm-up against the end, the most snapshot files, and the events printed against those received over MQTT.

    python benchmarks/monitor_long_run.py MODEL VIDEO --minutes 30
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WARM_UP_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def healthz(port: int) -> int:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    except OSError:
        return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("video", help="its frames are what the camera serves, in a loop")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--fps", type=float, default=4)
    args = parser.parse_args(argv)
    import paho.mqtt.client as paho

    work = Path(tempfile.mkdtemp(prefix="catdog-long-run-"))
    photos, snapshots = work / "photos", work / "snapshots"
    photos.mkdir()
    capture, count = cv2.VideoCapture(args.video), 0
    while (frame := capture.read())[0]:
        cv2.imwrite(str(photos / f"{count:04d}.jpg"), frame[1], [cv2.IMWRITE_JPEG_QUALITY, 98])
        count += 1
    broker_port, serve_port = free_port(), free_port()
    (work / "mosquitto.conf").write_text(
        f"listener {broker_port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        + ("user root\n" if os.getuid() == 0 else "")
    )
    broker = subprocess.Popen(["/usr/sbin/mosquitto", "-c", work / "mosquitto.conf"], stderr=subprocess.DEVNULL)
    time.sleep(1)
    received: list[tuple[str, bytes]] = []
    subscriber = paho.Client(paho.CallbackAPIVersion.VERSION2)
    subscriber.on_connect = lambda client, *_: client.subscribe("#", qos=1)
    subscriber.on_message = lambda client, userdata, m: received.append((m.topic, m.payload))
    subscriber.connect("127.0.0.1", broker_port)
    subscriber.loop_start()
    time.sleep(1)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "tests" / "standin"),
        "PICAMERA2_STANDIN_PHOTOS": str(photos),
        "PICAMERA2_STANDIN_FPS": str(args.fps),
    }
    command = [
        Path(sys.executable).parent / "catdog-cam", "--model", args.model, "--source", "picam", "--no-display",
        "--threads", "1", "--events-only", "--smooth", "0.6", "--enter-frames", "3", "--leave-seconds", "1.5",
        "--snapshots", snapshots, "--keep", "50", "--snapshot-every", "1",
        "--mqtt", f"mqtt://127.0.0.1:{broker_port}", "--mqtt-topic", "catdog/long", "--mqtt-name", "catdog long",
        "--serve", f"127.0.0.1:{serve_port}",
    ]  # fmt: skip
    out, err = (work / "stdout.jsonl").open("w"), (work / "stderr.txt").open("w")
    cam = subprocess.Popen(command, stdout=out, stderr=err, env=env)
    started, samples = time.monotonic(), []
    while time.monotonic() - started < args.minutes * 60 and cam.poll() is None:
        time.sleep(10)
        files = len(list(snapshots.glob("*.jpg"))) if snapshots.exists() else 0
        samples.append((round(time.monotonic() - started), rss_mb(cam.pid), files, healthz(serve_port)))
    cam.send_signal(signal.SIGTERM)
    cam.wait(60)
    time.sleep(2)
    subscriber.disconnect()
    subscriber.loop_stop()
    broker.terminate()
    events = [json.loads(line) for line in (work / "stdout.jsonl").read_text().splitlines()]
    published = [json.loads(p) for t, p in received if t == "catdog/long/event"]
    seconds, rss, files, health = zip(*samples)
    warm = next(mb for second, mb in zip(seconds, rss) if second >= WARM_UP_S)
    result = {
        "command": " ".join(map(str, command)),
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "minutes": round((time.monotonic() - started) / 60, 1),
        "exit_status": cam.returncode,
        "frames_served_fps": args.fps,
        "rss_mb_start": rss[0],
        "rss_mb_after_warm_up": warm,
        "rss_mb_end": rss[-1],
        "rss_growth_after_warm_up_mb": round(rss[-1] - warm, 2),
        "max_snapshot_files": max(files),
        "healthz_not_200": sum(status != 200 for status in health),
        "events_on_stdout": len(events),
        "events_received_over_mqtt": len(published),
        "events_lost": len([event for event in events if event not in published]),
        "summary": (work / "stderr.txt").read_text().strip().splitlines()[-1],
        "samples": samples,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "monitor_long_run.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
