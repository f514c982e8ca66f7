"""Helpers for the tests: where the real photos are, running the console scripts, small data sets."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CATDOG_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data" / "cats_and_dogs_filtered"
WEIGHTS = SHARED / "weights"
STANDIN = ROOT / "tests" / "standin"  # a stand-in picamera2 module (no Raspberry Pi camera here)
TINY = ["--model", "mobilenetv2", "--alpha", "0.35", "--size", "96", "--epochs", "1", "--fine-tune-epochs", "1",
        "--batch-size", "16", "--quiet"]


def run_cli(*args, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
    """Run one of the project's console scripts as a user would, capturing its output."""
    env = {**os.environ, "CATDOG_WEIGHTS_DIR": str(WEIGHTS), "TF_CPP_MIN_LOG_LEVEL": "3", **kwargs.pop("env", {})}
    script = Path(sys.executable).parent / args[0]
    result = subprocess.run([str(script), *map(str, args[1:])], capture_output=True, text=True, env=env, **kwargs)
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




def standin_camera_env(photos: Path, log: Path, fps: float = 30, **extra) -> dict:
    """The environment that makes a command import the stand-in picamera2, serving `photos`, logging to `log`."""
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(STANDIN), os.environ.get("PYTHONPATH")])),
            "PICAMERA2_STANDIN_PHOTOS": str(photos), "PICAMERA2_STANDIN_LOG": str(log),
            "PICAMERA2_STANDIN_FPS": str(fps), **{key: str(value) for key, value in extra.items()}}


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def chromium_driver(profile: Path):
    """Debian's chromium, headless, driven by selenium; page loads never wait (an MJPEG page never finishes)."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.page_load_strategy = "none"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=800,700"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(str(CHROMEDRIVER)))
