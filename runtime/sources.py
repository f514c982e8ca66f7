"""Where catdog-cam's frames come from, and the thread that captures them.

Sources: a camera index (USB webcams, through OpenCV), `picam` or `picam:N` (the Raspberry Pi camera, through
picamera2: see picam.py), a stream URL, a video file or a folder of images.
Capture runs in its own thread (FrameReader). A live source (camera, stream) keeps only the
newest frame, so the loop always works on the present; frames it had no time for are dropped and counted.
A video file or a folder of images is handed over whole and in order, so its results are reproducible.
A live source that stops is reopened up to RETRIES times in a row; then the run ends with its summary.
The capture thread also prepares each frame (resize, BGR to RGB), so on a board with two or more cores
decoding and preparing the next frame overlap with inference on this one.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from catdog.runtime import picam
from catdog.runtime.images import ImageError, read_image, scan_images, skipped_lines

RETRIES = 5  # reopen attempts in a row for a live source that stopped
RETRY_WAIT_S = 1.0


class CamError(RuntimeError):
    """A source, window or recording that cannot be used."""


@dataclass
class Frame:
    """One captured frame: its number in the source, when it was taken (source time, and this process's
    perf_counter when it was read), where from, the BGR pixels and, once prepared, the model input."""

    index: int
    timestamp: float
    name: str
    image: np.ndarray
    input: np.ndarray | None = None
    captured: float = field(default_factory=time.perf_counter)


def video_frames(capture, name: str, reopen=None, retries: int = RETRIES, wait: float = RETRY_WAIT_S):
    """Frames of an opened cv2.VideoCapture. With `reopen` (a live source) a stream that stops is reopened
    up to `retries` times in a row; without, the first failed read is the end (of a file)."""
    started = time.monotonic()
    index = failures = 0
    try:
        while True:
            ok, image = capture.read()
            if ok:
                failures = 0
                timestamp = time.monotonic() - started if reopen else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
                yield Frame(index, timestamp, name, image)
                index += 1
                continue
            if reopen is None:
                return
            if failures == retries:
                print(f"catdog-cam: {name} did not come back after {retries} reopens; stopping", file=sys.stderr)
                return
            failures += 1
            print(f"catdog-cam: {name} stopped; reopening ({failures}/{retries})", file=sys.stderr)
            capture.release()
            time.sleep(wait)
            capture = reopen()
    finally:
        capture.release()


def folder_frames(images: list[Path], skipped: dict[str, list[Path]]):
    """Every readable image, in order; unreadable ones are reported on stderr and added to `skipped`."""
    started = time.monotonic()
    for index, path in enumerate(images):
        try:
            image = read_image(path)
        except ImageError as error:
            print(f"catdog-cam: skipped: {error}", file=sys.stderr)
            skipped.setdefault(error.reason, []).append(path)
            continue
        yield Frame(index, time.monotonic() - started, str(path), image)


def numbered(images, name: str):
    """Frames of a live source's images: numbered, with seconds since capture started. Closing it closes them."""
    started = time.monotonic()
    try:
        for index, image in enumerate(images):
            yield Frame(index, time.monotonic() - started, name, image)
    finally:
        images.close()


@dataclass
class Source:
    """An opened --source: its frames (a generator), whether it is live, its frame rate (0 if unknown), and the
    files of a folder that were not used, by reason (filled as the frames are read)."""

    frames: Iterator[Frame]
    live: bool
    fps: float = 0.0
    skipped: dict[str, list[Path]] = field(default_factory=dict)


def open_source(
    spec: str, capture_size: tuple[int, int] = (640, 480), capture_format: str = picam.DEFAULT_FORMAT
) -> Source:
    """Open --source: a camera index, picam[:N], a stream URL, a video file or a folder of images. CamError if
    it cannot be opened. capture_size and capture_format apply to the Raspberry Pi camera."""
    if (number := picam.camera_number(spec)) is not None:
        try:
            camera = picam.open_picamera(number, capture_size, capture_format)
        except picam.PicameraError as error:
            raise CamError(str(error)) from None
        return Source(numbered(picam.picamera_images(camera, spec, capture_format, capture_size[0]), spec), True)
    path = Path(spec)
    if path.is_dir():
        images, skipped = scan_images(path)  # every other file is reported, by reason
        for line in skipped_lines(skipped):
            print(f"catdog-cam: {line}", file=sys.stderr)
        if not images:
            raise CamError(f"no images in folder {spec}")
        return Source(folder_frames(images, skipped), False, skipped=skipped)
    if spec.isdigit():
        target, what, live = int(spec), f"camera {spec}", True
    elif "://" in spec:
        target, what, live = spec, f"stream {spec}", True
    elif path.is_file():
        target, what, live = spec, f"video file {spec}", False
    else:
        raise CamError(f"no such camera index, stream URL, file or folder: {spec}")
    capture = cv2.VideoCapture(target)
    if not capture.isOpened():
        hint = (
            "; for a Raspberry Pi camera module use --source picam"
            if (isinstance(target, int) and picam.picamera2_available())
            else ""
        )
        raise CamError(f"cannot open {what}{hint}")
    if live:
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # where the driver allows: no queue of stale frames
    reopen = (lambda: cv2.VideoCapture(target)) if live else None
    return Source(video_frames(capture, spec, reopen), live, capture.get(cv2.CAP_PROP_FPS))


def paced(frames, fps: float):
    """Frames of a file or folder handed on at `fps`, as a camera would deliver them (--realtime)."""
    started = time.monotonic()
    try:
        for frame in frames:
            time.sleep(max(0.0, started + frame.index / fps - time.monotonic()))
            frame.captured = time.perf_counter()
            yield frame
    finally:
        frames.close()


class FrameReader:
    """Runs a frame generator in its own thread and hands its frames to the loop (iterate over the reader).
    With `prepare` (image -> model input), each frame's `input` is made on that thread too.

    live=True: only the newest frame waits; an older one not yet taken is dropped and counted (`dropped`).
    live=False: every frame is handed over, in order; the reader waits for the loop instead of dropping."""

    _END = object()

    def __init__(self, frames, live: bool, prepare=None):
        self.live, self.prepare = live, prepare
        self.dropped = 0
        self._queue = queue.Queue(maxsize=1 if live else 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(frames,), name="catdog-capture", daemon=True)
        self._thread.start()

    def _run(self, frames) -> None:
        try:
            for frame in frames:
                if self._stop.is_set():
                    break
                if self.prepare:
                    frame.input = self.prepare(frame.image)
                if self.live:
                    self._replace(frame)
                else:
                    self._put(frame)
        finally:
            frames.close()
            self._put(self._END)

    def _replace(self, frame: Frame) -> None:
        """Put the frame in place of one still waiting (only this thread puts, so there is room after)."""
        try:
            self._queue.get_nowait()
            self.dropped += 1
        except queue.Empty:
            pass
        self._queue.put_nowait(frame)

    def _put(self, item) -> None:
        """Wait until the loop has room for the item, or until the reader is closed."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                pass

    def __iter__(self):
        while (item := self._queue.get()) is not self._END:
            yield item

    def close(self) -> None:
        """Stop reading (the source is released) and wait a moment for the thread."""
        self._stop.set()
        self._thread.join(timeout=2)
