"""The one way a plot is written: atomically (a reader never sees half a PNG), then the figure is closed; and
the axis and label helpers the benchmark plots share."""

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


def log_x_axis(axes) -> None:
    """A logarithmic x axis whose ticks read as plain numbers (20, 50, 100), not powers of ten."""
    import matplotlib.ticker

    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))


def _overlaps(box, other) -> bool:
    """Whether two (left, bottom, right, top) boxes overlap."""
    return box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]


def label_points(axes, points: list[tuple[float, float]], texts: list[str], fontsize: float = 7) -> None:
    """Each point's text beside it, moved up or down where it would cover a label placed before (a moved label
    gets a thin line to its point). Call it once the axes' limits are set."""
    figure = axes.figure
    figure.canvas.draw()
    scale = figure.dpi / 100
    placed = []  # label boxes in pixels
    for point, text in zip(points, texts):
        x, y = axes.transData.transform(point)
        width, height = 0.75 * fontsize * len(text) * scale, 1.45 * fontsize * scale
        for dy in (4, -12, 14, -22, 24, -32, 34, -42, 44, -52):
            box = (x + 5, y + dy, x + 5 + width, y + dy + height)
            if not any(_overlaps(box, other) for other in placed):
                break
        placed.append(box)
        arrow = {"arrowstyle": "-", "lw": 0.4, "color": "gray"} if abs(dy) >= 10 else None
        offset = (5 * 72 / figure.dpi, dy * 72 / figure.dpi)
        axes.annotate(text, point, textcoords="offset points", xytext=offset, fontsize=fontsize, arrowprops=arrow)
