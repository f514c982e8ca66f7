"""Shared fixtures: real photos from ../shared, one tiny trained model and its exports per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import DATA, TINY, make_class_folders, run_cli

CAMERA_PHOTOS = 6


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
    run_cli(
        "catdog-export",
        tiny_run,
        "--int8",
        "--fp16",
        "--calibration-size",
        "32",
        "--max-drop",
        "100",
        "--min-agreement",
        "0",
        "--out",
        out,
        check=True,
    )
    return out


@pytest.fixture(scope="session")
def camera_photos(tmp_path_factory, shared_data) -> Path:
    """Three cats and three dogs from the validation split, named in the order the stand-in camera serves them."""
    folder = tmp_path_factory.mktemp("camera_photos")
    sources = [p for kind in ("cats", "dogs") for p in sorted((shared_data / "validation" / kind).glob("*.jpg"))[:3]]
    for i, source in enumerate(sources):
        (folder / f"{i:02d}.jpg").symlink_to(source)
    return folder
