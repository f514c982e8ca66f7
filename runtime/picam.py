"""The Raspberry Pi camera (Camera Module 2/3, HQ, Pi 5 ports) through picamera2, as BGR frames for catdog-cam.

On Raspberry Pi OS Bookworm and Trixie these cameras are driven by libcamera, which OpenCV's VideoCapture
cannot read; picamera2 can. It comes from Raspberry Pi OS's apt (`python3-picamera2`): the PyPI package
lacks the libcamera bindings, so a venv needs `--system-site-packages`. It is imported only here, only
when `--source picam` asks for it, so nothing else needs it.

Memory order of picamera2's pixel formats (its `request.py`, `_get_pil_mode`): "RGB888" is B, G, R per
pixel (already OpenCV's order), "BGR888" is R, G, B, "XBGR8888" is R, G, B, X and "XRGB8888" is B, G, R, X;
"YUV420" is planar I420, an array of height * 3/2 rows.
"""

from __future__ import annotations

import importlib.util
import re
import sys

import cv2
import numpy as np

# picamera2 format -> cv2.cvtColor code to BGR (None: already BGR). "RGB888" is the default: no conversion.
TO_BGR = {
    "RGB888": None,
    "BGR888": cv2.COLOR_RGB2BGR,
    "XBGR8888": cv2.COLOR_RGBA2BGR,
    "XRGB8888": cv2.COLOR_BGRA2BGR,
    "YUV420": cv2.COLOR_YUV2BGR_I420,
}
DEFAULT_FORMAT = "RGB888"
INSTALL_HINT = (
    "picamera2 is not installed: on Raspberry Pi OS run `sudo apt install python3-picamera2` and make "
    "the venv with `python3 -m venv --system-site-packages` (the PyPI package alone lacks the libcamera "
    "bindings)"
)
SPEC = re.compile(r"picam(?::(\d+))?")


class PicameraError(RuntimeError):
    """No picamera2, no such camera, or a camera that cannot be started."""


def camera_number(spec: str) -> int | None:
    """0 for 'picam', N for 'picam:N'; None if `spec` does not name a Pi camera."""
    match = SPEC.fullmatch(spec)
    return None if match is None else int(match.group(1) or 0)


def picamera2_available() -> bool:
    """Whether picamera2 can be imported here, without importing it."""
    return importlib.util.find_spec("picamera2") is not None


def to_bgr(array: np.ndarray, pixel_format: str, width: int) -> np.ndarray:
    """A frame from picamera2's capture_array in `pixel_format` as a BGR uint8 image (OpenCV's order).
    `width` is the stream's: picamera2 leaves a YUV420 frame's row padding in, cut off after conversion."""
    code = TO_BGR[pixel_format]
    return array if code is None else cv2.cvtColor(array, code)[:, :width]


def open_picamera(number: int, size: tuple[int, int], pixel_format: str = DEFAULT_FORMAT):
    """Open and start camera `number` with its main stream at `size` (width, height) in `pixel_format`."""
    try:
        from picamera2 import Picamera2
    except ImportError:
        raise PicameraError(INSTALL_HINT) from None
    cameras = Picamera2.global_camera_info()
    if not cameras:
        raise PicameraError(
            "no Raspberry Pi camera found (libcamera sees none; check the ribbon cable and "
            "`rpicam-hello --list-cameras`)"
        )
    if number >= len(cameras):
        seen = ", ".join(f"picam:{i} {camera.get('Model', '?')}" for i, camera in enumerate(cameras))
        raise PicameraError(f"no camera picam:{number}; libcamera sees {len(cameras)}: {seen}")
    try:
        camera = Picamera2(number)
    except Exception as error:  # picamera2 raises RuntimeError or libcamera's own errors, e.g. camera busy
        raise PicameraError(f"cannot open camera picam:{number}: {error}") from None
    try:
        camera.configure(camera.create_preview_configuration(main={"size": size, "format": pixel_format}))
        camera.start()
    except Exception as error:
        camera.close()
        raise PicameraError(
            f"cannot start camera picam:{number} at {size[0]}x{size[1]} {pixel_format}: {error}"
        ) from None
    return camera


def picamera_images(camera, name: str, pixel_format: str, width: int):
    """BGR images from a started camera, each newly captured, until it fails or the generator is closed;
    then the camera is stopped and closed."""
    try:
        while True:
            try:
                array = camera.capture_array("main")
            except Exception as error:  # e.g. the camera was unplugged
                print(f"catdog-cam: {name} stopped: {error}", file=sys.stderr)
                return
            yield to_bgr(array, pixel_format, width)
    finally:
        camera.stop()
        camera.close()
