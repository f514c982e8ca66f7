"""catdog-cam on a video with no camera: [negatives, cat photos, negatives, dog photos], one second per photo,
made of a run's validation photos (it never trained or chose on them). Counts the labels of catdog-cam's JSON
lines per segment, per int8 artifact, without and with --smooth. Writes OUT/segments.md, segments.json and the
video itself (segments.mp4), on which `catdog-cam --collect` can be tried too (docs/camera.md).

    python benchmarks/segments.py runs/default [--per-segment N (default 20)] [--smooth ALPHA (default 0.3)]
        [--out DIR (default runs/benchmark)]
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

from baselines import INT8
from bench_core import cam_command, machine_info, machine_line, make_video

from catdog.runtime.datasets import BACKGROUND
from catdog.runtime.files import atomic_path, read_json, write_json

SEGMENTS = ("negatives", "cats", "negatives", "dogs")
CLASS_OF = {"negatives": BACKGROUND, "cats": "cats", "dogs": "dogs"}  # the label each segment should get
NAME_OF = {label: name for name, label in CLASS_OF.items()}


def segment_photos(run: Path, per_segment: int, seed: int = 0) -> list[list[str]]:
    """`per_segment` validation photos of the run for each of SEGMENTS, drawn at random (seeded), none twice."""
    split = read_json(run / "split.json")
    if BACKGROUND not in split["labels"]:
        raise SystemExit(f"segments.py: {run} has no background class {BACKGROUND!r}")
    rng = random.Random(seed)
    pool = {
        label: [path for path, y in split["validation"] if split["labels"][y] == label] for label in CLASS_OF.values()
    }
    for label, paths in pool.items():
        if len(paths) < SEGMENTS.count(NAME_OF[label]) * per_segment:
            raise SystemExit(f"segments.py: {run}'s validation split has only {len(paths)} {label!r} photos")
        rng.shuffle(paths)
    return [[pool[CLASS_OF[name]].pop() for _ in range(per_segment)] for name in SEGMENTS]


def labels_per_segment(artifact: Path, video: Path, per_segment: int, smooth: float | None) -> list[dict]:
    """catdog-cam's labels on the video, counted per segment (one frame per photo, in order)."""
    args = [*cam_command(), "--model", str(artifact), "--source", str(video), "--no-display"]
    args += ["--smooth", str(smooth)] if smooth else []
    result = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"segments.py: catdog-cam on {artifact.name} exited {result.returncode}: {result.stderr}")
    labels = [json.loads(line)["label"] for line in result.stdout.splitlines()]
    if len(labels) != len(SEGMENTS) * per_segment:
        raise SystemExit(f"segments.py: catdog-cam gave {len(labels)} frames, not {len(SEGMENTS) * per_segment}")
    return [Counter(labels[i * per_segment : (i + 1) * per_segment]) for i in range(len(SEGMENTS))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder with export/ (a model with a background class)")
    parser.add_argument("--per-segment", type=int, default=20, help="photos (frames) per segment (default 20)")
    parser.add_argument("--smooth", type=float, default=0.3, help="catdog-cam --smooth of the second pass")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"), help="default runs/benchmark (untracked)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    photos = [path for segment in segment_photos(args.run, args.per_segment) for path in segment]
    video = make_video(photos, args.out / "segments", len(photos), fps=1)
    rows = []
    for artifact in INT8:
        for smooth in (None, args.smooth):
            counts = labels_per_segment(args.run / "export" / artifact, video, args.per_segment, smooth)
            rows.append({"artifact": artifact, "smooth": smooth, "counts": [dict(c) for c in counts]})
            print(f"{artifact}, smooth {smooth}: done", file=sys.stderr)
    names = [f"{i + 1}. {name}" for i, name in enumerate(SEGMENTS)]
    lines = [
        "# catdog-cam on a video of negatives, cats, negatives, dogs",
        "",
        f"`python benchmarks/segments.py {shlex.join(map(str, argv or sys.argv[1:]))}` on "
        f"{machine_line(machine_info())}: {args.per_segment} frames per segment, labels of the JSON lines.",
        "",
        "| artifact | --smooth | " + " | ".join(names) + " | frames right |",
        "|---|---|" + "---|" * len(names) + "---:|",
    ]
    for row in rows:
        cells = [
            ", ".join(f"{label} {n}" for label, n in sorted(c.items(), key=lambda kv: -kv[1])) for c in row["counts"]
        ]
        right = sum(c.get(CLASS_OF[name], 0) for c, name in zip(row["counts"], SEGMENTS))
        total = len(SEGMENTS) * args.per_segment
        lines.append(f"| {row['artifact']} | {row['smooth'] or 'off'} | {' | '.join(cells)} | {right} of {total} |")
    lines += [
        "",
        f"The video, remade by the command: `{video}`, one photo per second. Each artifact decides `none` at its "
        "sidecar's rule; --smooth averages the probabilities over frames, so it lags a change of scene by a frame "
        "or two.",
    ]
    with atomic_path(args.out / "segments.md") as temp:
        temp.write_text("\n".join(lines) + "\n")
    write_json(args.out / "segments.json", {"machine": machine_line(machine_info()), "video": str(video), "rows": rows})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
