"""Shared fixtures: real photos from ../shared, one tiny trained model and its exports per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import support
from support import DATA

CAMERA_PHOTOS = 6


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory, monkeypatch) -> Path:
    """A fastest-artifact cache of each test's own (CATDOG_CACHE_DIR, inherited by the commands it runs), never
    the user's ~/.cache/catdog."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("CATDOG_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"real photos are needed in {DATA} (set CATDOG_SHARED)")
    return DATA


@pytest.fixture(scope="session")
def tiny_data(request, tmp_path_factory, shared_data) -> Path:
    """train/ and validation/ class folders with 40 + 24 real photos per class."""
    return support.tiny_data(request.config, tmp_path_factory.mktemp)


@pytest.fixture(scope="session")
def tiny_run(request, tmp_path_factory, tiny_data) -> Path:
    """A run folder of a tiny MobileNetV2 (support.TINY) trained on real photos, once per session (the
    benchmark's --smoke measures the same one)."""
    return support.tiny_run(request.config, tmp_path_factory.mktemp)


@pytest.fixture(scope="session")
def tiny_export(request, tmp_path_factory, tiny_run) -> Path:
    """Every artifact of the tiny run (TFLite fp32/fp16/int8, ONNX fp32/int8) with sidecars and parity table."""
    return support.tiny_export(request.config, tmp_path_factory.mktemp)


@pytest.fixture(scope="session")
def tiny_background_run(request, tmp_path_factory, tiny_data) -> Path:
    """A tiny three-class run (cats, dogs, and 'none' from real photos with neither), once per session."""
    return support.tiny_background_run(request.config, tmp_path_factory.mktemp)


@pytest.fixture(scope="session")
def tiny_background_export(request, tmp_path_factory, tiny_background_run) -> Path:
    """The tiny three-class run's int8 and fp32 artifacts."""
    return support.tiny_background_export(request.config, tmp_path_factory.mktemp)


@pytest.fixture(scope="session")
def camera_photos(tmp_path_factory, shared_data) -> Path:
    """Three cats and three dogs from the validation split, named in the order the stand-in camera serves them."""
    folder = tmp_path_factory.mktemp("camera_photos")
    sources = [p for kind in ("cats", "dogs") for p in sorted((shared_data / "validation" / kind).glob("*.jpg"))[:3]]
    for i, source in enumerate(sources):
        (folder / f"{i:02d}.jpg").symlink_to(source)
    return folder
