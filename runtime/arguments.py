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


positive_int = bounded(int, 1)
positive_float = bounded(float, 0, exclusive="low")
non_negative_float = bounded(float, 0)
percent = bounded(float, 0, 100)
probability = bounded(float, 0, 1, exclusive="low high")
clip_margin = bounded(float, 0, 0.5, exclusive="high")
smoothing = bounded(float, 0, 1, exclusive="low")


def comma_separated(text: str) -> list[str]:
    """The items of a comma-separated list, stripped, blank ones left out."""
    return [item.strip() for item in text.split(",") if item.strip()]


def names(text: str) -> list[str]:
    """A comma-separated list of names, at least one ('cats,dogs')."""
    found = comma_separated(text)
    if not found:
        raise argparse.ArgumentTypeError(f"expected comma-separated names such as cats,dogs, not {text!r}")
    return found


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


def given(parser: argparse.ArgumentParser, args: argparse.Namespace, dest: str) -> bool:
    """Whether the option `dest` has a value other than its default."""
    return getattr(args, dest) != parser.get_default(dest)


def flag(dest: str) -> str:
    """The option an argparse dest comes from: 'collect_every' -> '--collect-every'."""
    return "--" + dest.replace("_", "-")


def refuse_orphans(parser: argparse.ArgumentParser, args: argparse.Namespace, needs: dict[str, str]) -> None:
    """parser.error, in one line, for an option given without the option it works with (`needs`: its dest -> the
    dest it needs), which would otherwise be ignored without a word."""
    for dest, needed in needs.items():
        if given(parser, args, dest) and not getattr(args, needed):
            typed = "--no-" + flag(dest)[2:] if getattr(args, dest) is False else flag(dest)  # a BooleanOptionalAction
            parser.error(f"{typed} needs {flag(needed)}")
