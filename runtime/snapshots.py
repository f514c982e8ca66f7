"""`catdog-cam --snapshots DIR`: the frame of each "arrived" event (and, with --snapshot-every, one every so
many seconds while a pet stays) saved as JPEG, written atomically, named by the wall-clock time and the label
(`20261207-005108-123456-cats.jpg`), annotated (the overlay: label, probability) unless --snapshot-raw. At most
`keep` files are kept: the oldest of ours go first. A folder that cannot be written or a full disk is said once
on stderr; the loop goes on, and each later try starts again (a freed disk works again)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from catdog.runtime.images import encode_jpeg, write_timestamped

JPEG_QUALITY = 90
NAME = re.compile(r"\d{8}-\d{6}-\d{6}-.+\.jpg")  # only files named like ours are ever deleted


class Snapshots:
    """Saves JPEGs into `folder`, keeping at most `keep` of them."""

    def __init__(self, folder: Path, keep: int, every: float | None = None, annotated: bool = True):
        self.folder, self.keep, self.every, self.annotated = Path(folder), keep, every, annotated
        self.saved = 0
        self.failed: str | None = None  # the last failure said, so that it is said once

    def describe(self) -> str:
        """The start line."""
        kind = "annotated" if self.annotated else "raw"
        every = f" and every {self.every:g} s while a pet stays" if self.every else ""
        return f"snapshots ({kind} JPEG) on arrival{every} into {self.folder}, keeping the newest {self.keep}"

    def save(self, image: np.ndarray, label: str) -> tuple[Path | None, bytes | None]:
        """Write the frame; return its path and JPEG bytes, or (None, bytes or None) if it could not be written
        (said once on stderr until a save works again)."""
        try:
            jpeg = encode_jpeg(image, JPEG_QUALITY)
        except ValueError as error:
            self.say(str(error))
            return None, None
        try:
            path = write_timestamped(self.folder, jpeg, safe(label))
            self.prune()
        except OSError as error:
            self.say(f"cannot write into {self.folder}: {error.strerror or error}")
            return None, jpeg
        self.saved, self.failed = self.saved + 1, None
        return path, jpeg

    def prune(self) -> None:
        """Delete our oldest files beyond `keep` (names sort by time)."""
        ours = sorted(p for p in self.folder.iterdir() if NAME.fullmatch(p.name))
        for old in ours[: max(0, len(ours) - self.keep)]:
            old.unlink(missing_ok=True)

    def say(self, message: str) -> None:
        if message != self.failed:
            print(f"catdog-cam: snapshots: {message} (the loop goes on; said once)", file=sys.stderr, flush=True)
            self.failed = message


def safe(label: str) -> str:
    """A label as part of a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label) or "label"
