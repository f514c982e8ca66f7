"""`catdog-cam --collect DIR`: save frames of the real camera into DIR/unsorted/, to be sorted by hand into class
folders (cats/, dogs/, none/: an empty hallway is the best background photo there is) and trained on with
`catdog-train --add DIR`. Frames are saved raw (as captured, no overlay), as JPEG, one every `every` seconds of
the source's time, each written atomically and named by the wall-clock time it was saved at. With `labels`, only
frames given one of them: on a scene with no pet, `cats,dogs` saves nothing but the false alarms, the photos
the background class needs most."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdog.runtime.images import encode_jpeg, write_timestamped

UNSORTED = "unsorted"
JPEG_QUALITY = 95


class CollectError(Exception):
    """A collect folder or frame that cannot be written (mid-run: the run ends with its summary, exit 1)."""


class CollectionFull(CollectError):
    """The size limit is reached (mid-run: the run ends with its summary, exit 0)."""


def collect_labels(chosen: list[str] | None, labels: list[str]) -> frozenset[str]:
    """--collect-labels, each checked against the model's labels (CollectError naming the others)."""
    unknown = [name for name in chosen or () if name not in labels]
    if unknown:
        raise CollectError(f"--collect-labels: {', '.join(unknown)}: not a label of this model ({', '.join(labels)})")
    return frozenset(chosen or ())


@dataclass
class Collector:
    """Saves a frame every `every` seconds into folder/unsorted/ until `max_bytes` have been written; with
    `labels`, only frames given one of them."""

    folder: Path
    every: float
    max_bytes: int
    labels: frozenset[str] = frozenset()
    saved: int = 0
    written: int = 0
    last: float | None = None

    def __post_init__(self):
        self.folder = Path(self.folder) / UNSORTED
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise CollectError(f"cannot write into {self.folder}: {error.strerror}") from None

    def describe(self) -> str:
        """The start line: where, how often, up to how much."""
        only = f" labelled {' or '.join(sorted(self.labels))}" if self.labels else ""
        return f"collecting a frame every {self.every:g} s{only} into {self.folder} (up to {self.max_bytes / 1e6:g} MB)"

    def offer(self, image: np.ndarray, timestamp: float, label: str) -> Path | None:
        """Save the frame, given `label`, if it is one of `labels` and `every` seconds have passed since the last
        one saved; return its path, or None. CollectionFull at the size limit, CollectError if it cannot be written
        (nothing half-written is left)."""
        if self.labels and label not in self.labels:
            return None
        if self.last is not None and timestamp - self.last < self.every:
            return None
        try:
            jpeg = encode_jpeg(image, JPEG_QUALITY)
        except ValueError as error:
            raise CollectError(str(error)) from None
        if self.written + len(jpeg) > self.max_bytes:
            reached = f"collection full: {self.max_bytes / 1e6:g} MB (--collect-max-mb)"
            if not self.written:
                reached = f"{reached}: one frame alone takes {len(jpeg) / 1e6:.2g} MB"
            raise CollectionFull(reached)
        try:
            path = write_timestamped(self.folder, jpeg)
        except OSError as error:
            raise CollectError(f"cannot write into {self.folder}: {error.strerror}") from None
        self.saved, self.written, self.last = self.saved + 1, self.written + len(jpeg), timestamp
        return path
