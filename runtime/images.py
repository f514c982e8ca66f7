"""Reading images and preparing pixels: the one place that says how a picture becomes model input.

Training, export, benchmarks and the board all call `prepare()`, so the pixels a model sees on
the board are the pixels it was trained and calibrated on.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

# How pixels are prepared, as written into every artifact's metadata.
PREPARATION = {
    "color": "RGB",
    "resize": "squash",  # whole frame resized to the input size, aspect ratio not kept
    "interpolation": "area",  # cv2.INTER_AREA
    "range": [0, 255],  # raw pixels: scaling to the network's range happens inside the model
    "layout": "NHWC",
}


class ImageError(ValueError):
    """An image file that cannot be read or decoded."""


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as a BGR uint8 array (OpenCV's order); raise ImageError if unreadable."""
    if not Path(path).is_file():
        raise ImageError(f"no such image file: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)  # imdecode, unlike imread, copes with any path
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None or image.size == 0:
        raise ImageError(f"not a readable image: {path}")
    return image


def prepare(bgr: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Turn a BGR frame into the model's input: RGB uint8 of shape (height, width, 3)."""
    height, width = (size, size) if isinstance(size, int) else size
    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    resized = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)


def load_prepared(path: str | Path, size: int | tuple[int, int]) -> np.ndarray:
    """Read an image file and prepare it for a model of the given input size."""
    return prepare(read_image(path), size)


def list_images(folder: str | Path) -> list[Path]:
    """All image files under a folder (recursively), sorted by path."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
