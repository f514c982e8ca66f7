"""A stand-in for picamera2 (no camera here): serves real photos through picamera2's API and memory layouts.

Only what catdog uses: Picamera2.global_camera_info(), Picamera2(n), create_preview_configuration(),
configure(), start(), capture_array("main"), stop(), close(). Frames are laid out as picamera2 lays them
out (its request.py): a buffer of `stride` bytes per row (rows padded to 64 bytes), reshaped and sliced
as picamera2's _make_array_shared does, then copied contiguous as its make_array does. "RGB888" is B, G, R
in memory, "BGR888" R, G, B, "XBGR8888" R, G, B, X, "XRGB8888" B, G, R, X, "YUV420" planar I420.

Set by the tests through the environment:
  PICAMERA2_STANDIN_PHOTOS   folder of photos served in sorted order, cycling (each resized to the stream size)
  PICAMERA2_STANDIN_CAMERAS  how many cameras are attached (default 1)
  PICAMERA2_STANDIN_FPS      the sensor's frame rate: capture_array waits for the next frame (default 30)
  PICAMERA2_STANDIN_FAIL_AFTER  capture_array raises after this many frames, as when a camera is unplugged
  PICAMERA2_STANDIN_LOG      a file the calls are appended to, one per line
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

FROM_BGR = {
    "RGB888": None,
    "BGR888": cv2.COLOR_BGR2RGB,
    "XBGR8888": cv2.COLOR_BGR2RGBA,
    "XRGB8888": cv2.COLOR_BGR2BGRA,
    "YUV420": cv2.COLOR_BGR2YUV_I420,
}
BYTES_PER_PIXEL = {"RGB888": 3, "BGR888": 3, "XBGR8888": 4, "XRGB8888": 4, "YUV420": 1}


def _log(line: str) -> None:
    if os.environ.get("PICAMERA2_STANDIN_LOG"):
        with open(os.environ["PICAMERA2_STANDIN_LOG"], "a") as handle:
            handle.write(line + "\n")


def camera_layout(bgr: np.ndarray, pixel_format: str) -> np.ndarray:
    """A BGR image in `pixel_format`'s memory order, as picamera2's capture_array returns it."""
    code = FROM_BGR[pixel_format]
    array = bgr if code is None else cv2.cvtColor(bgr, code)
    if pixel_format.startswith("X"):
        array[..., 3] = 255  # the X byte
    height, width = bgr.shape[:2]
    row = width * BYTES_PER_PIXEL[pixel_format]
    stride = -(-row // 64) * 64  # the camera's rows are padded to 64 bytes
    if pixel_format == "YUV420":  # Y: height rows of stride bytes; then U and V: height/2 rows of stride/2
        planes = [(array[:height], height, stride, width)]
        chroma = array[height:].reshape(2, height // 2, width // 2)
        planes += [(plane, height // 2, stride // 2, width // 2) for plane in chroma]
        flat = np.concatenate([_padded(plane.reshape(rows, used), rows, pitch) for plane, rows, pitch, used in planes])
        shaped = flat.reshape(height * 3 // 2, stride)  # as picamera2 shapes it: padding left in
    else:
        flat = _padded(array.reshape(height, row), height, stride)
        shaped = flat.reshape(height, stride)[:, :row].reshape(height, width, BYTES_PER_PIXEL[pixel_format])
    return np.ascontiguousarray(shaped)


def _padded(rows_of_bytes: np.ndarray, rows: int, pitch: int) -> np.ndarray:
    """Rows of bytes, each padded with zeros to `pitch` bytes, flattened."""
    buffer = np.zeros((rows, pitch), np.uint8)
    buffer[:, : rows_of_bytes.shape[1]] = rows_of_bytes
    return buffer.reshape(-1)


class Picamera2:
    """One stand-in camera serving the photos in PICAMERA2_STANDIN_PHOTOS."""

    @staticmethod
    def global_camera_info() -> list[dict]:
        count = int(os.environ.get("PICAMERA2_STANDIN_CAMERAS", "1"))
        return [
            {"Model": "imx708", "Location": 2, "Rotation": 180, "Id": f"/base/soc/i2c0mux/i2c@{i}/imx708@1a", "Num": i}
            for i in range(count)
        ]

    def __init__(self, camera_num: int = 0):
        if camera_num >= len(self.global_camera_info()):
            raise IndexError("list index out of range")  # what picamera2 raises for a camera that is not there
        _log(f"open {camera_num}")
        self.photos = sorted(Path(os.environ["PICAMERA2_STANDIN_PHOTOS"]).glob("*.jpg"))
        self.fps = float(os.environ.get("PICAMERA2_STANDIN_FPS", "30"))
        self.fail_after = int(os.environ.get("PICAMERA2_STANDIN_FAIL_AFTER", "-1"))
        self.config = self.started = None
        self.captured = 0

    def create_preview_configuration(self, main=None, **kwargs) -> dict:
        return {"main": {"size": (640, 480), "format": "XBGR8888", **(main or {})}, **kwargs}

    def configure(self, config: dict) -> None:
        if config["main"]["format"] not in FROM_BGR:
            raise RuntimeError(f"Format {config['main']['format']} not supported")
        self.config = config
        _log(f"configure {config['main']['size'][0]}x{config['main']['size'][1]} {config['main']['format']}")

    def start(self) -> None:
        self.started = time.monotonic()
        _log("start")

    def capture_array(self, name: str = "main") -> np.ndarray:
        if self.started is None:
            raise RuntimeError("Camera is not running")
        if self.captured == self.fail_after:
            raise RuntimeError("Camera frontend has timed out!")
        time.sleep(max(0.0, self.started + (self.captured + 1) / self.fps - time.monotonic()))  # the next frame
        stream = self.config[name]
        photo = cv2.imread(str(self.photos[self.captured % len(self.photos)]))
        self.captured += 1
        return camera_layout(cv2.resize(photo, stream["size"], interpolation=cv2.INTER_AREA), stream["format"])

    def stop(self) -> None:
        self.started = None
        _log("stop")

    def close(self) -> None:
        _log("close")
