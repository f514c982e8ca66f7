"""The one way a plot is written: atomically (a reader never sees half a PNG), then the figure is closed."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | Path, dpi: int = 100) -> None:
    """Write `figure` as a PNG at `path` through a temporary file renamed into place, and close it."""
    from catdog.runtime.files import atomic_path

    with atomic_path(Path(path)) as temp:
        figure.savefig(temp, dpi=dpi, format="png")
    pyplot().close(figure)
