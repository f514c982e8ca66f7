"""catdog-cam with no camera: a video of [negatives, cat photos, negatives, dog photos], one second per photo, made
of a run's validation photos; counts the labels of catdog-cam's JSON lines per segment, per int8 artifact,
without and with --smooth. Writes OUT/segments.md, segments.json and the video (segments.mp4, for --collect too).

    python benchmarks/segments.py runs/default [--per-segment N (20)] [--smooth ALPHA (0.3)] [--out DIR]
"""

from __future__ import annotations

import argparse
import random
import shlex
import sys
from collections import Counter
from pathlib import Path

from baselines import INT8
from bench_core import (
    cam_json_lines,
    machine_info,
    machine_line,
    make_video,
    one_line_errors,
    unexported,
    write_results,
)

from catdog.runtime.datasets import BACKGROUND
from catdog.runtime.files import read_json

SEGMENTS = (BACKGROUND, "cats", BACKGROUND, "dogs")  # the label each segment should get


def segment_photos(run: Path, per_segment: int) -> list[str]:
    """`per_segment` validation photos of the run for each of SEGMENTS in turn, drawn at random (seeded)."""
    split = read_json(run / "split.json")
    pool = {label: [path for path, y in split["validation"] if split["labels"][y] == label] for label in SEGMENTS}
    for label, paths in pool.items():
        if len(paths) < SEGMENTS.count(label) * per_segment:
            raise SystemExit(f"segments.py: {run} has only {len(paths)} {label!r} validation photos")
        random.Random(0).shuffle(paths)
    return [pool[label].pop() for label in SEGMENTS for _ in range(per_segment)]


def labels_per_segment(artifact: Path, video: Path, per_segment: int, smooth: float | None) -> list[dict]:
    """catdog-cam's labels on the video (one frame per photo), counted per segment."""
    lines = cam_json_lines(artifact, video, *(["--smooth", str(smooth)] if smooth else []))
    labels = [line["label"] for line in lines]
    return [dict(Counter(labels[i : i + per_segment])) for i in range(0, len(labels), per_segment)]


@one_line_errors
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder with export/ (a model with a background class)")
    parser.add_argument("--per-segment", type=int, default=20, help="photos (frames) per segment (default 20)")
    parser.add_argument("--smooth", type=float, default=0.3, help="catdog-cam --smooth of the second pass")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"), help="default runs/benchmark (untracked)")
    args = parser.parse_args(argv)
    if args.per_segment < 1:
        parser.error(f"--per-segment must be at least 1, not {args.per_segment}")
    if problem := unexported([args.run], "segments.py"):
        print(problem, file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    photos = segment_photos(args.run, args.per_segment)
    video = make_video(photos, args.out / "segments", len(photos), fps=1)
    rows = [
        {"artifact": artifact, "smooth": smooth, "counts": labels_per_segment(path, video, args.per_segment, smooth)}
        for artifact in INT8
        for path in [args.run / "export" / artifact]
        for smooth in (None, args.smooth)
    ]
    machine = machine_line(machine_info())
    lines = [
        "# catdog-cam on a video of negatives, cats, negatives, dogs",
        "",
        f"`python benchmarks/segments.py {shlex.join(map(str, argv or sys.argv[1:]))}` on {machine}: "
        f"{args.per_segment} frames per segment, labels of the JSON lines.",
        "",
        "| artifact | --smooth | " + " | ".join(f"{i + 1}. {label}" for i, label in enumerate(SEGMENTS)) + " | right |",
        "|---|---|" + "---|" * len(SEGMENTS) + "---:|",
    ]
    for row in rows:
        cells = [", ".join(f"{k} {n}" for k, n in Counter(c).most_common()) for c in row["counts"]]
        right = sum(c.get(label, 0) for c, label in zip(row["counts"], SEGMENTS))
        lines.append(
            f"| {row['artifact']} | {row['smooth'] or 'off'} | {' | '.join(cells)} | {right} of {len(photos)} |"
        )
    lines += [
        "",
        f"The video, remade by the command: `{video}`. Each artifact decides `{BACKGROUND}` at its sidecar's rule; "
        "--smooth averages the probabilities over frames, so it lags a change of scene by a frame or two.",
    ]
    write_results(
        args.out, "segments", "\n".join(lines) + "\n", {"machine": machine, "video": str(video), "rows": rows}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
