"""Atomic writing: a file or a folder either appears complete under its final name or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import zipfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden, marked partial, and keeping the suffix (Keras insists on ".keras").
    temp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield temp
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()


@contextlib.contextmanager
def atomic_folder(path: str | Path):
    """Yield a new empty hidden folder beside `path` to fill. If the block succeeds, it replaces `path` whole:
    the old folder is renamed aside, the new one renamed in, then the old one deleted, so a reader sees the
    complete old folder or the complete new one, never a mix. If the block fails, `path` is left as it was.
    Leftovers of a run that was killed (hidden siblings named after a dead process) are removed first."""
    path = Path(os.path.abspath(path))  # "." has no name to put a sibling beside
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    temp, aside = (path.with_name(f".{path.name}.{kind}-{os.getpid()}") for kind in ("partial", "old"))
    temp.mkdir()
    try:
        yield temp
        if path.exists():
            os.rename(path, aside)
        try:
            os.rename(temp, path)
        except OSError:
            if aside.exists():
                os.rename(aside, path)
            raise
    finally:
        for folder in (temp, aside):
            shutil.rmtree(folder, ignore_errors=True)


def remove_leftovers(path: Path) -> None:
    """Delete what a killed `atomic_folder(path)` left: its new folder, and the old one it had renamed aside.
    Killed between its two renames (both still there, nothing at `path`), the old folder is put back first."""
    for leftover, kind, pid in sorted(leftovers(path), key=lambda found: found[1] != "old"):  # old ones first
        if kind == "old" and not path.exists() and path.with_name(f".{path.name}.partial-{pid}").exists():
            os.rename(leftover, path)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def leftovers(path: Path) -> list[tuple[Path, str, int]]:
    """The hidden siblings that `atomic_folder(path)` calls of processes no longer running (or of this one):
    (folder, "partial" or "old", process id)."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(partial|old)-(\d+)")
    found = []
    for sibling in path.parent.iterdir() if path.parent.is_dir() else ():
        match = pattern.fullmatch(sibling.name)
        if match and (int(match.group(2)) == os.getpid() or not process_alive(int(match.group(2)))):
            found.append((sibling, match.group(1), int(match.group(2))))
    return found


def process_alive(pid: int) -> bool:
    """Whether a process with this id is running (a process of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_json(path: str | Path, data) -> None:
    """Write JSON atomically, pretty-printed."""
    with atomic_path(path) as temp:
        temp.write_text(json.dumps(data, indent=2) + "\n")


def read_json(path: str | Path):
    """The content of a JSON file; ValueError naming the file if it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None


def require_zip(path: str | Path, kind: str) -> None:
    """ValueError unless `path` is a complete zip archive, as a .keras model is (Keras itself says
    "File not found" for a truncated one)."""
    if not zipfile.is_zipfile(path):
        raise ValueError(f"not a complete {kind} (not a zip archive: truncated, or another kind of file)")
