"""The argparse types of every command, in one place: each takes the text of one option and returns its value,
or raises argparse.ArgumentTypeError, which argparse prints as its one line (`argument --x: must be ...`)."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path


def bounded(kind: type, low: float, high: float | None = None, exclusive: str = ""):
    """An int or float within [low, high] (`exclusive` may name the 'low' and 'high' ends to leave out)."""
    what = "an integer" if kind is int else "a number"
    if high is None:
        rule = f"{what} {'>' if 'low' in exclusive else '>='} {low}"
    else:
        rule = f"{what} in {'(' if 'low' in exclusive else '['}{low}, {high}{')' if 'high' in exclusive else ']'}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {rule}, not {text!r}") from None
        inside = (
            math.isfinite(value)
            and (value > low if "low" in exclusive else value >= low)
            and (high is None or (value < high if "high" in exclusive else value <= high))
        )
        if not inside:
            raise argparse.ArgumentTypeError(f"must be {rule}, not {text}")
        return value

    return parse


def positive_int(text: str) -> int:
    """An integer >= 1 (a word is refused by argparse as an 'invalid positive_int value')."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def number_in(rule: str, inside):
    """A float for which `inside(value)` holds, refused as 'must be a number {rule}' otherwise."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number {rule}, not {text!r}") from None
        if not inside(value):
            raise argparse.ArgumentTypeError(f"must be a number {rule}, not {text}")
        return value

    return parse


probability = number_in("in (0, 1)", lambda value: 0 < value < 1)
probability.__doc__ = "A number in (0, 1)."
clip_margin = number_in("in [0, 0.5)", lambda value: 0 <= value < 0.5)
clip_margin.__doc__ = "A number in [0, 0.5)."
positive_float = number_in("above 0", lambda value: 0 < value < math.inf)
positive_float.__doc__ = "A finite number above 0."


def non_negative_float(text: str) -> float:
    """A number >= 0."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def percent(text: str) -> float:
    """A percentage, 0 to 100."""
    value = float(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be a percentage from 0 to 100, not {text}")
    return value


def smoothing(text: str) -> float:
    """A smoothing weight in (0, 1]."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], not {value}")
    return value


def frame_size(text: str) -> tuple[int, int]:
    """'WxH' as (width, height), each at least 16."""
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit()) or min(int(width), int(height)) < 16:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, not {text!r}")
    return int(width), int(height)


def folder_name(text: str) -> str:
    """A plain, visible folder name (a run folder goes directly under its parent)."""
    if not text or text.startswith(".") or "/" in text or os.sep in text:
        raise argparse.ArgumentTypeError(f"must be a plain folder name (no '/', not starting with '.'), not {text!r}")
    return text


def writable_file(text: str) -> Path:
    """A file path whose nearest existing folder above it is a folder, not a file."""
    path = Path(text)
    existing = next(parent for parent in path.parents if parent.exists())
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {path}: {existing} is a file, not a folder")
    return path
