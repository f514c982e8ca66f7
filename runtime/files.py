"""Atomic file writing: a file either appears complete under its final name or not at all."""
from __future__ import annotations

import contextlib
import json
import os
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


def write_json(path: str | Path, data) -> None:
    """Write JSON atomically, pretty-printed."""
    with atomic_path(path) as temp:
        temp.write_text(json.dumps(data, indent=2) + "\n")
