"""Does the camera stay quiet with no pet in view? catdog-cam --no-display --events on videos of scenes with no cat
or dog, per run and int8 artifact, without and with --smooth: the frames given each label, the highest probability
of a pet label, and the "arrived" events (the false alarms a pet monitor would send). --opencv-data DIR adds
OpenCV's sample data (samples/data; Debian's opencv-doc has it under usr/share/doc/opencv-doc/examples/data,
Apache-2.0 / BSD-3-Clause): vtest.avi, people walking through a hall, and OPENCV_PHOTOS, its photographs without a
pet, made into a video of one frame each. Writes OUT/NAME.md and NAME.json (NAME: --name, default quiet).

    python benchmarks/quiet.py runs/default [RUN ...] [--video PATH ...] [--opencv-data DIR]
        [--smooth ALPHA (0.3)] [--artifacts FILE ...] [--out DIR (default runs/benchmark)] [--name NAME]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from collections import Counter
from pathlib import Path

from baselines import INT8
from bench_core import (
    BenchError,
    cam_json_lines,
    machine_info,
    machine_line,
    make_video,
    one_line_errors,
    write_results,
)

from catdog.runtime.events import pet_labels
from catdog.runtime.folders import EXPORT
from catdog.runtime.metadata import Sidecar

# The photographs of OpenCV's samples/data with no cat or dog in them. Left out: drawings, renders, charts, text,
# near-duplicates (aloeR, basketball2, ela_modified, leuvenB, rubberwhale2) and chicky_512.png, which is a dog.
OPENCV_PHOTOS = (
    "aero1.jpg aero3.jpg aloeL.jpg apple.jpg baboon.jpg basketball1.png board.jpg box.png box_in_scene.png "
    "building.jpg butterfly.jpg ela_original.jpg fruits.jpg graf1.png home.jpg leuvenA.jpg licenseplate_motion.jpg "
    "messi5.jpg orange.jpg rubberwhale1.png smarties.png squirrel_cls.jpg stuff.jpg"
).split()
OPENCV_VIDEO = "vtest.avi"


def watch(artifact: Path, video: Path, smooth: float | None) -> tuple[list[dict], list[dict]]:
    """catdog-cam's frame lines and event lines on the video."""
    lines = cam_json_lines(artifact, video, "--events", *(["--smooth", str(smooth)] if smooth else []))
    return [line for line in lines if "event" not in line], [line for line in lines if "event" in line]


def quiet_row(artifact: Path, pets: list[str], video: Path, photos: list[str] | None, smooth: float | None) -> dict:
    """What catdog-cam said on one video: labels counted, the highest probability of a label in `pets`, the
    "arrived" events, and, for a video of photos, the photos it called a pet."""
    frames, events = watch(artifact, video, smooth)
    called = [f for f in frames if f["label"] in pets]
    return {
        "frames": len(frames),
        "labels": dict(Counter(f["label"] for f in frames).most_common()),
        "pet_frames": len(called),
        "highest_pet_probability": max(max(f["probabilities"][p] for p in pets) for f in frames),
        "arrived": sum(e["event"] == "arrived" for e in events),
        "photos_called_pets": [f"{photos[f['frame']]} ({f['label']} {f['probability']:.2f})" for f in called]
        if photos
        else None,
    }


def sources(videos: list[Path], opencv_data: Path | None, temp: Path) -> list[tuple[str, Path, list[str] | None]]:
    """(name, video, the photo of each frame or None) for every video to watch."""
    for video in videos:
        if not video.is_file():
            raise BenchError(f"no video at {video}")
    found = [(video.name, video, None) for video in videos]
    if opencv_data:
        missing = [name for name in (OPENCV_VIDEO, *OPENCV_PHOTOS) if not (opencv_data / name).is_file()]
        if missing:
            raise BenchError(f"{opencv_data} is not OpenCV's samples/data: no {', '.join(missing)}")
        photos = make_video(
            [str(opencv_data / name) for name in OPENCV_PHOTOS], temp / "photos", len(OPENCV_PHOTOS), fps=1
        )
        found.append((f"OpenCV {OPENCV_VIDEO}", opencv_data / OPENCV_VIDEO, None))
        found.append((f"OpenCV photos ({len(OPENCV_PHOTOS)})", photos, list(OPENCV_PHOTOS)))
    return found


@one_line_errors
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (or export folders) with int8 artifacts")
    parser.add_argument("--video", action="append", default=[], type=Path, help="a video with no cat or dog in it")
    parser.add_argument("--opencv-data", type=Path, metavar="DIR", help="OpenCV's samples/data: vtest.avi and photos")
    parser.add_argument("--smooth", type=float, default=0.3, help="catdog-cam --smooth of the second pass (0.3)")
    parser.add_argument("--artifacts", nargs="+", default=list(INT8), metavar="FILE", help="default: the int8 ones")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"), help="default runs/benchmark (untracked)")
    parser.add_argument("--name", default="quiet", help="the results' file name (default quiet)")
    args = parser.parse_args(argv)
    if not (args.video or args.opencv_data):
        parser.error("give --video PATH or --opencv-data DIR")
    exports = {run: run if (run / args.artifacts[0]).is_file() else run / EXPORT for run in args.runs}
    missing = [str(export / a) for export in exports.values() for a in args.artifacts if not (export / a).is_file()]
    if missing:
        raise BenchError(f"no artifact {', '.join(missing)}: run catdog-export RUN --int8")
    sidecars = {(run, a): Sidecar.read(export / a) for run, export in exports.items() for a in args.artifacts}
    pets = {key: pet_labels(sidecar.labels, sidecar.background_label) for key, sidecar in sidecars.items()}
    rows = []
    with tempfile.TemporaryDirectory(prefix="catdog-quiet-") as temp:
        for name, video, photos in sources(args.video, args.opencv_data, Path(temp)):
            for run, export in exports.items():
                for artifact in args.artifacts:
                    for smooth in (None, args.smooth):
                        found = quiet_row(export / artifact, pets[run, artifact], video, photos, smooth)
                        rows.append(
                            {"source": name, "model": run.name, "artifact": artifact, "smooth": smooth, **found}
                        )
            print(f"{name}: done", file=sys.stderr)
    machine = machine_line(machine_info())
    lines = [
        "# Quiet with no pet in view",
        "",
        f"`python benchmarks/quiet.py {shlex.join(map(str, argv or sys.argv[1:]))}` on {machine}: "
        "`catdog-cam --no-display --events` on videos without a cat or dog.",
        "",
        '| video | model | artifact | --smooth | frames | labels | highest pet probability | "arrived" events |',
        "|---|---|---|---|---:|---|---:|---:|",
    ]
    for row in rows:
        labels = ", ".join(f"{label} {count}" for label, count in row["labels"].items())
        lines.append(
            f"| {row['source']} | {row['model']} | {row['artifact']} | {row['smooth'] or 'off'} | {row['frames']} "
            f"| {labels} | {row['highest_pet_probability']:.2f} | {row['arrived']} |"
        )
    called = {(r["source"], r["model"], r["artifact"]): r["photos_called_pets"] for r in rows if r["smooth"] is None}
    lines += ["", "Photos called a pet (without --smooth):", ""] + [
        f"- {source}, {model}, {artifact}: {', '.join(photos) or 'none'}"
        for (source, model, artifact), photos in called.items()
        if photos is not None
    ]
    lines += [
        "",
        "Each artifact decides at its sidecar's rule; a pet \"arrives\" after catdog-cam's --enter-frames (3) frames "
        "in a row. In a video of photos each photo is one frame, so its events count only runs of photos.",
    ]
    write_results(args.out, args.name, "\n".join(lines) + "\n", {"machine": machine, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
