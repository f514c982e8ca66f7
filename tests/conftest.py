"""Shared fixtures: real photos from ../shared, one tiny trained model and its exports per session."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CATDOG_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data" / "cats_and_dogs_filtered"
WEIGHTS = SHARED / "weights"
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


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"real photos are needed in {DATA} (set CATDOG_SHARED)")
    return DATA


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, shared_data) -> Path:
    """train/ and validation/ class folders with 40 + 24 real photos per class."""
    root = tmp_path_factory.mktemp("tiny_data")
    make_class_folders(root / "train", 40, "train")
    make_class_folders(root / "validation", 24, "validation")
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_data) -> Path:
    """A run folder of a tiny MobileNetV2 (alpha 0.35, 96 px, one epoch per phase) trained on real photos."""
    runs = tmp_path_factory.mktemp("runs")
    run_cli("catdog-train", "--data", tiny_data, *TINY, "--runs-dir", runs, "--name", "tiny", check=True)
    return runs / "tiny"


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory, tiny_run) -> Path:
    """Every artifact of the tiny run (TFLite fp32/fp16/int8, ONNX fp32/int8) with sidecars and parity table.
    The tiny model is barely trained, so the int8 drop limit is relaxed here; parity is tested separately."""
    out = tmp_path_factory.mktemp("export")
    run_cli("catdog-export", tiny_run, "--int8", "--fp16", "--calibration-size", "32", "--max-drop", "100",
            "--out", out, check=True)
    return out
