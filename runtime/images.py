"""Reading images and preparing pixels: the one place that says how a picture becomes model input.

Training, export, benchmarks and the board all call `prepare()`, so the pixels a model sees on
the board are the pixels it was trained and calibrated on.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from catdog.runtime.files import atomic_path

# One rule for a folder's files and a file named alone: these are read (a GIF's first frame, as OpenCV decodes
# it; an OpenCV without a GIF decoder makes it "unreadable" both ways), every other file is "not an image".
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
# Smallest width and height of a picture worth classifying: below it, it is an icon or a tracking pixel,
# not a photo, and whatever a model says about it means nothing.
MIN_IMAGE_SIDE = 32

# Why a file is not used (ImageError.reason), as reported by every command that reads images.
NOT_AN_IMAGE = "not an image"
MISSING = "not found"
DANGLING_LINK = "dangling link"
UNREADABLE = "unreadable"
TOO_SMALL = f"smaller than {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels"
EXAMPLES = 3  # names shown per reason

# How pixels are prepared, as written into every artifact's metadata.
PREPARATION = {
    "color": "RGB",
    "resize": "squash",  # whole frame resized to the input size, aspect ratio not kept
    "interpolation": "area",  # cv2.INTER_AREA
    "range": [0, 255],  # raw pixels: scaling to the network's range happens inside the model
    "layout": "NHWC",
}


class ImageError(ValueError):
    """An image file that cannot be used; `reason` is one of the reasons above."""

    def __init__(self, message: str, reason: str = UNREADABLE):
        super().__init__(message)
        self.reason = reason


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as a BGR uint8 array (OpenCV's order); raise ImageError if it is missing, cannot
    be decoded, or is smaller than MIN_IMAGE_SIDE either way."""
    path = Path(path)
    if not path.is_file():
        if path.is_symlink():
            raise ImageError(f"dangling link: {path}", DANGLING_LINK)
        raise ImageError(f"no such image file: {path}", MISSING)
    data = np.fromfile(str(path), dtype=np.uint8)  # imdecode, unlike imread, copes with any path
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None or image.size == 0:
        raise ImageError(f"not a readable image: {path}")
    height, width = image.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE:
        raise ImageError(
            f"too small to be a photo: {path} is {width}x{height} pixels (at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE})",
            TOO_SMALL,
        )
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


def scan_images(folder: str | Path) -> tuple[list[Path], dict[str, list[Path]]]:
    """Every file under a folder (recursively, sorted): the image files to use, and the others by reason
    (not an image by its extension, dangling link). Reading an image can still fail: read_image says why."""
    images, skipped = [], {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_dir():
            continue
        if not path.exists():
            skipped.setdefault(DANGLING_LINK, []).append(path)
        elif path.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped.setdefault(NOT_AN_IMAGE, []).append(path)
        else:
            images.append(path)
    return images, skipped


def skipped_lines(skipped: dict[str, list]) -> list[str]:
    """One line per reason: how many files, and the first few of them."""
    lines = []
    for reason, paths in skipped.items():
        names = ", ".join(map(str, paths[:EXAMPLES])) + (", ..." if len(paths) > EXAMPLES else "")
        lines.append(f"skipped {len(paths)} file{'s' if len(paths) > 1 else ''} ({reason}): {names}")
    return lines


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """A BGR frame as JPEG bytes; ValueError if OpenCV cannot encode it."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode a frame as JPEG")
    return encoded.tobytes()


def write_timestamped(folder: Path, jpeg: bytes, tag: str = "") -> Path:
    """Write JPEG bytes into `folder` atomically, named by the wall-clock time (and `-tag`):
    `20261207-005108-123456-cats.jpg`; its path. OSError if it cannot be written (nothing half-written is left)."""
    path = Path(folder) / f"{datetime.now():%Y%m%d-%H%M%S-%f}{'-' + tag if tag else ''}.jpg"
    with atomic_path(path) as temp:
        temp.write_bytes(jpeg)
    return path
