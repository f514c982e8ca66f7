"""Helpers for the tests: where the real photos are, running the console scripts, small data sets."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CATDOG_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data" / "cats_and_dogs_filtered"
WEIGHTS = SHARED / "weights"
NEGATIVES = SHARED / "data" / "negatives"  # photos with no cat or dog (the background class)
OTHER_PETS = SHARED / "data" / "other_source_pets"
STANDIN = ROOT / "tests" / "standin"  # a stand-in picamera2 module (no Raspberry Pi camera here)
# The tiny recipe: a MobileNetV2 (alpha 0.35, 96 px, one epoch per phase) that trains in a minute.
TINY = [
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


def run_cli(*args, check: bool = False, inside: tuple = (), **kwargs) -> subprocess.CompletedProcess:
    """Run one of the project's console scripts as a user would, capturing its output (an `env` value of None
    removes that variable; `inside`: a command that runs it, such as `unshare ...`)."""
    env = {**os.environ, "CATDOG_WEIGHTS_DIR": str(WEIGHTS), "TF_CPP_MIN_LOG_LEVEL": "3", **kwargs.pop("env", {})}
    env = {name: value for name, value in env.items() if value is not None}
    script = Path(sys.executable).parent / args[0]
    command = [*map(str, inside), str(script), *map(str, args[1:])]
    result = subprocess.run(command, capture_output=True, text=True, env=env, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def make_class_folders(target: Path, per_class: int, split: str = "train") -> Path:
    """A small data set as class folders (cats/, dogs/) of real photos, linked from ../shared."""
    for name in ("cats", "dogs"):
        folder = target / name
        folder.mkdir(parents=True)
        for source in sorted((DATA / split / name).iterdir())[:per_class]:
            (folder / source.name).symlink_to(source)
    return target


BUILT = pytest.StashKey[dict]()
OUTPUTS = pytest.StashKey[dict]()  # the combined output of the tiny run's catdog-train and catdog-export
AS_A_USER = {"TF_CPP_MIN_LOG_LEVEL": None}  # TensorFlow's log level left to the tool, as a user runs it


def once(config, name: str, make):
    """What make() returns, made once per pytest session: tests/ and the benchmark's --smoke share it."""
    built = config.stash.setdefault(BUILT, {})
    if name not in built:
        built[name] = make()
    return built[name]


def tiny_data(config, mktemp) -> Path:
    """train/ and validation/ class folders with 40 + 24 real photos per class."""

    def make():
        root = mktemp("tiny_data")
        make_class_folders(root / "train", 40, "train")
        make_class_folders(root / "validation", 24, "validation")
        return root

    return once(config, "tiny_data", make)


def tiny_run(config, mktemp) -> Path:
    """The run folder of the tiny recipe (TINY) trained on tiny_data."""

    def make():
        runs = mktemp("runs")
        data = tiny_data(config, mktemp)
        result = run_cli("catdog-train", "--data", data, *TINY, "--runs-dir", runs, "--name", "tiny", env=AS_A_USER)
        config.stash.setdefault(OUTPUTS, {})["catdog-train"] = result.stdout + result.stderr
        assert result.returncode == 0, result.stdout + result.stderr
        return runs / "tiny"

    return once(config, "tiny_run", make)


def tiny_negatives(config, mktemp) -> Path:
    """64 real photos with no cat or dog (every sixth of ../shared/data/negatives), in a flat folder."""

    def make():
        folder = mktemp("tiny_negatives")
        for source in sorted(NEGATIVES.iterdir())[5::6][:64]:
            (folder / source.name).symlink_to(source)
        return folder

    return once(config, "tiny_negatives", make)


def tiny_background_run(config, mktemp) -> Path:
    """A tiny three-class run: tiny_data plus tiny_negatives as the background class 'none' (three head epochs
    and no weight averaging, so that three classes are learnt in about a minute)."""

    def make():
        runs = mktemp("runs")
        data, negatives = tiny_data(config, mktemp), tiny_negatives(config, mktemp)
        recipe = [*TINY, "--epochs", "3", "--no-ema", "--runs-dir", runs, "--name", "tiny-background"]
        run_cli("catdog-train", "--data", data, "--negatives", negatives, *recipe, check=True)
        return runs / "tiny-background"

    return once(config, "tiny_background_run", make)


def tiny_background_export(config, mktemp) -> Path:
    """The int8 and fp32 artifacts of the tiny three-class run (parity limits relaxed as for tiny_export)."""

    def make():
        out = mktemp("export-background")
        limits = ["--max-drop", "100", "--min-agreement", "0", "--calibration-size", "32"]
        run_cli("catdog-export", tiny_background_run(config, mktemp), "--int8", *limits, "--out", out, check=True)
        return out

    return once(config, "tiny_background_export", make)


def tiny_export(config, mktemp) -> Path:
    """Every artifact of the tiny run with sidecars and parity.json, in a folder of its own. The tiny model is
    barely trained, so the parity limits are relaxed (parity is tested separately)."""

    def make():
        out = mktemp("export")
        options = ["--int8", "--fp16", "--max-drop", "100", "--min-agreement", "0", "--calibration-size", "32"]
        result = run_cli("catdog-export", tiny_run(config, mktemp), *options, "--out", out, env=AS_A_USER)
        config.stash.setdefault(OUTPUTS, {})["catdog-export"] = result.stdout + result.stderr
        assert result.returncode == 0, result.stdout + result.stderr
        return out

    return once(config, "tiny_export", make)


def standin_camera_env(photos: Path, log: Path, fps: float = 30, **extra) -> dict:
    """The environment that makes a command import the stand-in picamera2, serving `photos`, logging to `log`."""
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(STANDIN), os.environ.get("PYTHONPATH")])),
        "PICAMERA2_STANDIN_PHOTOS": str(photos),
        "PICAMERA2_STANDIN_LOG": str(log),
        "PICAMERA2_STANDIN_FPS": str(fps),
        **{key: str(value) for key, value in extra.items()},
    }


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def chromium_driver(profile: Path):
    """Debian's chromium, headless, driven by selenium; page loads never wait (an MJPEG page never finishes)."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.page_load_strategy = "none"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=800,700",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(str(CHROMEDRIVER)))


def expected_camera_frame(photos: Path, index: int, size, pixel_format: str):
    """The BGR pixels the camera's frame `index` should give: the photo at the capture size, through YUV 4:2:0
    for YUV420 (chroma subsampling is lossy, the byte order of the others is not)."""
    served = sorted(photos.glob("*.jpg"))
    photo = cv2.imread(str(served[index % len(served)]))
    frame = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    if pixel_format == "YUV420":
        frame = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)
    return frame


# --- reading catdog-cam's live view (--serve) as a client ---


def get(host: str, port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def latest(host: str, port: int) -> dict:
    """/latest.json once a frame has been classified."""
    for _ in range(100):
        status, body = get(host, port, "/latest.json")
        if status == 200:
            return json.loads(body)
        assert status == 503 and b"no frame classified yet" in body
        time.sleep(0.1)
    raise AssertionError("no prediction in 10 s")


def open_stream(host: str, port: int):
    """An MJPEG stream: (connection, response) with the response's status read."""
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", "/stream.mjpg")
    return connection, connection.getresponse()


def read_part(response) -> np.ndarray:
    """The next JPEG of a multipart MJPEG response, decoded."""
    boundary = "--" + response.getheader("Content-Type").split("boundary=")[1]
    while (line := response.fp.readline().decode().strip()) != boundary:
        assert line == "", line
    headers = {}
    while line := response.fp.readline().decode().strip():
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    assert headers["content-type"] == "image/jpeg"
    jpeg = response.fp.read(int(headers["content-length"]))
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image
