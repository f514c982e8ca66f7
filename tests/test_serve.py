"""catdog-cam --serve: the live view read by an HTTP client and by a real browser (Debian's headless chromium).
The source is the stand-in Raspberry Pi camera (tests/standin), which serves real photos without end."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from support import (
    CHROMEDRIVER,
    CHROMIUM,
    chromium_driver,
    get,
    latest,
    open_stream,
    read_part,
    run_cli,
    standin_camera_env,
)

from catdog.runtime.serve import SECRET_ENV

SIZE = (320, 240)


def request(host: str, port: int, path: str, headers=None, method="GET", body=None, source=None):
    """One request from client address `source` (default: the system's choice): (status, headers, body); of a
    stream, its first JPEG decoded in place of the body."""
    connection = http.client.HTTPConnection(host, port, timeout=10, source_address=source and (source, 0))
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        multipart = response.getheader("Content-Type", "").startswith("multipart/")
        return response.status, response.headers, read_part(response) if multipart else response.read()
    finally:
        connection.close()


def newest(host: str, port: int, headers: dict) -> dict:
    """/latest.json, with `headers`, once a frame has been classified."""
    for _ in range(100):
        status, _, body = request(host, port, "/latest.json", headers)
        if status == 200:
            return json.loads(body)
        assert status == 503, (status, body)
        time.sleep(0.1)
    raise AssertionError("no prediction in 10 s")


@contextlib.contextmanager
def serving(model, photos, tmp_path, *args, serve: str = "127.0.0.1:0", stop=signal.SIGTERM, env_changes=None):
    """catdog-cam on the stand-in camera with --serve on a free port: yields (host, port, process), its stderr
    up to the live view's lines in process.banner; stops it with `stop` (SIGTERM, as `kill` and systemd do, or
    SIGINT, Ctrl-C) and checks that it ended with its summary and closed the camera. Its stdout is in
    tmp_path/stdout.jsonl, the rest of its stderr in process.rest; `env_changes`: variables set (None: removed)."""
    env = {**os.environ, **standin_camera_env(photos, tmp_path / "camera.log"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env = {name: value for name, value in {SECRET_ENV: None, **env, **(env_changes or {})}.items() if value}
    command = [
        str(Path(sys.executable).parent / "catdog-cam"),
        "--model",
        str(model),
        "--source",
        "picam",
        "--capture-size",
        "x".join(map(str, SIZE)),
        "--serve",
        serve,
        *map(str, args),
    ]
    with (tmp_path / "stdout.jsonl").open("w") as stdout:
        process = subprocess.Popen(
            command,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            # Ctrl-C reaches it even where this test runs as a background job, which inherits SIGINT ignored
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        lines = []
        while not (match := re.search(r"live view at http://\[?([^\]/]+?)\]?:(\d+)/", lines[-1] if lines else "")):
            line = process.stderr.readline()
            assert line, f"catdog-cam ended before serving:\n{''.join(lines)}"
            lines.append(line)
        if lines[-1].rstrip().endswith("login required)"):  # the generated secret's line follows
            lines.append(process.stderr.readline())
        process.banner = lines
        yield match.group(1), int(match.group(2)), process
    finally:
        process.send_signal(stop)
        process.rest = rest = process.communicate(timeout=30)[1]
    assert process.returncode == 0, rest
    assert "Traceback" not in rest and " frames, " in rest.strip().splitlines()[-1]
    assert (tmp_path / "camera.log").read_text().splitlines()[-2:] == ["stop", "close"]


def test_latest_json_and_the_mjpeg_stream(tiny_export, camera_photos, tmp_path):
    with serving(tiny_export / "model_int8.tflite", camera_photos, tmp_path, "--no-display") as (host, port, process):
        assert host == "127.0.0.1" and process.banner[-1].rstrip() == f"catdog-cam: live view at http://{host}:{port}/"
        first = latest(host, port)
        assert set(first) == {
            "frame",
            "timestamp",
            "source",
            "label",
            "text",
            "probability",
            "probabilities",
            "inference_ms",
            "age_ms",
            "fps",
        }
        assert (
            first["source"] == "picam" and first["label"] in first["probabilities"] and first["text"] == first["label"]
        )
        assert first["age_ms"] >= first["inference_ms"] > 0
        connection, response = open_stream(host, port)
        assert response.status == 200
        parts = [read_part(response) for _ in range(5)]
        connection.close()
        assert all(part.shape == (SIZE[1], SIZE[0], 3) for part in parts)
        assert len({part.tobytes() for part in parts}) > 1  # a moving picture, not one frame again
        assert latest(host, port)["frame"] > first["frame"]
        status, page = get(host, port, "/")
        assert status == 200 and b'src="/stream.mjpg"' in page
        assert get(host, port, "/nothing")[0] == 404
        assert get(host, port, "/healthz")[0] == 200
        assert get(host, port, "/login")[0] == 303  # loopback without a secret: open, nothing to log in to


def test_the_page_shows_the_live_label_in_a_real_browser(tiny_export, camera_photos, tmp_path):
    if os.environ.get("CATDOG_NO_BROWSER") == "1":
        pytest.skip("CATDOG_NO_BROWSER=1: the browser test was turned off")
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        "the browser test needs Debian's chromium and chromium-driver (apt install chromium chromium-driver); "
        "set CATDOG_NO_BROWSER=1 to skip it"
    )
    from selenium.webdriver.support.ui import WebDriverWait

    secret_file = tmp_path / "secret"
    secret_file.write_text("correct horse battery staple\n")
    model, args = tiny_export / "model_int8.tflite", ["--no-display", "--serve-secret-file", secret_file]
    with serving(model, camera_photos, tmp_path, *args) as (host, port, _):  # loopback with a secret: the login
        labels = set(newest(host, port, {"Authorization": "Bearer correct horse battery staple"})["probabilities"])
        driver = chromium_driver(tmp_path / "chromium")
        try:
            driver.get(f"http://{host}:{port}/")
            wait = WebDriverWait(driver, 30)
            wait.until(lambda d: d.find_elements("name", "secret")).pop().send_keys("correct horse battery staple\n")
            wait.until(lambda d: d.find_element("id", "label").text in labels)
            wait.until(lambda d: d.execute_script("return document.querySelector('img').naturalWidth") == SIZE[0])
            shown = driver.find_element("id", "label").text
            probability = driver.find_element("id", "probability").text
            screenshot = tmp_path / "live_view.png"
            driver.save_screenshot(str(screenshot))
        finally:
            driver.quit()
    assert shown in labels and re.fullmatch(r"\d+\.\d %", probability)
    assert cv2.imread(str(screenshot)).std() > 10  # a real picture, not a blank page


def test_realtime_reads_a_file_like_a_camera(tiny_export, camera_photos, tmp_path):
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 20, SIZE)
    for path in sorted(camera_photos.glob("*.jpg")):
        writer.write(cv2.resize(cv2.imread(str(path)), SIZE, interpolation=cv2.INTER_AREA))
    writer.release()
    result = run_cli(
        "catdog-cam", "--model", tiny_export, "--source", video, "--realtime", "--json", "--no-display", check=True
    )
    frames = [json.loads(line)["frame"] for line in result.stdout.splitlines()]
    assert frames == sorted(set(frames)) and frames[-1] == 5  # newest-frame rule; the last frame always arrives
