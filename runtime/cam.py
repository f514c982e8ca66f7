"""`catdog-cam`: classify a camera, a stream, a video file or a folder of images, frame by frame.

Sources (a camera index, picam[:N], a stream URL, a video file or a folder of images) and the capture thread
are in sources.py; the pet monitor (events, snapshots, hook, MQTT, systemd) in monitor.py.

Output: a window with label, confidence, inference ms and loop FPS (q or Esc quits); with --json (implied by
--no-display) one JSON line per frame on stdout: {"frame", "timestamp", "source", "label", "text", "probability",
"probabilities", "inference_ms", "age_ms", "fps"} ("text": the label as shown, "no cats or dogs" for a model's
background class; "collected": the saved file, with --collect); with --serve a live view for a browser (serve.py).
"frame" is the frame's number in the source (gaps: dropped frames); "timestamp" is the position in a video
file, else seconds since capture started; "source" is the image path for a folder. label and probabilities
are smoothed with --smooth; inference_ms is the interpreter's time alone; age_ms is the time from the
frame's capture to its prediction (the lag a person sees); fps is the loop's rate over the last frames.
The summary (frames, dropped, loop FPS, inference and frame age p50/p90 ms) is the last line on stderr, never
on stdout, so stdout stays one object per frame; with $CATDOG_CAM_SUMMARY=FILE it is also written to FILE as
one JSON object (Stats.as_record: what the benchmark reads). Exit status: 0; 1 if no frame could be read or shown;
2 for an unusable model or source.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from catdog.runtime import picam
from catdog.runtime.arguments import (
    flag,
    frame_size,
    given,
    names,
    positive_float,
    refuse_orphans,
    smoothing,
    writable_file,
)
from catdog.runtime.auto import LOAD_ERRORS, add_model_arguments, load_model, positive_int
from catdog.runtime.collect import CollectError, CollectionFull, Collector, collect_labels
from catdog.runtime.files import atomic_path, write_json
from catdog.runtime.metrics import latency_stats
from catdog.runtime.monitor import NEEDS as MONITOR_NEEDS
from catdog.runtime.monitor import Monitor, MonitorError, add_monitor_arguments, wanted
from catdog.runtime.serve import SECRET_ENV, LiveView, ServeError, parse_address, serve_secret
from catdog.runtime.sources import CamError, Frame, FrameReader, Source, open_source, paced, video_frames
from catdog.runtime.systemd import Notifier

__all__ = ["CamError", "Frame", "FrameReader", "Source", "main", "open_source", "run", "video_frames"]

FPS_WINDOW = 10  # frames the on-screen loop FPS is averaged over
DEFAULT_FPS = 10.0  # frame rate of --record and --realtime when the source does not say
SUMMARY_FILE = "CATDOG_CAM_SUMMARY"  # a file path: the summary is also written there as JSON (Stats.as_record)
WINDOW = "catdog-cam"
NO_GUI = (  # OpenCV without windows: what to do instead, in one line
    "catdog-cam: error: this OpenCV cannot open windows (opencv-python-headless, as in the base install); use "
    "--no-display (and --serve HOST:PORT for a live view in a browser), or put OpenCV with windows in its place: "
    "pip install --force-reinstall --no-deps opencv-python (docs/install.md)"
)


class Recorder:
    """Writes frames to a video (mp4v) at `path`, sized like the first frame (others are resized to it)."""

    def __init__(self, path: Path, fps: float, name: str):
        self.path, self.fps, self.name = path, fps if fps > 0 else DEFAULT_FPS, name
        self.writer = self.size = None

    def write(self, image: np.ndarray) -> None:
        if self.writer is None:
            self.size = (image.shape[1], image.shape[0])
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
            if not self.writer.isOpened():
                raise CamError(f"cannot write video {self.name}")
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(image)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


@dataclass
class Stats:
    """What a run did: frames classified, frames dropped, loop seconds, inference times."""

    frames: int = 0
    dropped: int = 0
    seconds: float = 0.0
    inference_ms: list[float] = field(default_factory=list)
    age_ms: list[float] = field(default_factory=list)
    collect_error: CollectError | None = None  # what ended a --collect run early

    def as_record(self) -> dict:
        """The summary as data (what $CATDOG_CAM_SUMMARY receives): frames, dropped, loop seconds and FPS, and
        catdog.runtime.metrics.latency_stats of the inference times and of the frame ages."""
        loop_fps = self.frames / self.seconds if self.seconds else 0.0
        inference, age = latency_stats(self.inference_ms), latency_stats(self.age_ms)
        return dict(
            frames=self.frames,
            dropped=self.dropped,
            seconds=self.seconds,
            loop_fps=loop_fps,
            inference=inference,
            age=age,
        )

    def summary(self) -> str:
        """The summary line (the last on stderr), made from as_record()."""
        record = self.as_record()
        inference, age = record["inference"], record["age"]
        return (
            f"{self.frames} frames, {self.dropped} dropped, loop {record['loop_fps']:.1f} FPS, "
            f"inference p50 {inference['median_ms']:.2f} ms p90 {inference['p90_ms']:.2f} ms mean "
            f"{inference['mean_ms']:.2f} ms ({1000 / inference['mean_ms']:.1f} FPS inference only), "
            f"frame age p50 {age['median_ms']:.1f} ms p90 {age['p90_ms']:.1f} ms"
        )


def annotate(image: np.ndarray, label: str, probability: float, inference_ms: float, fps: float) -> np.ndarray:
    """A copy of the frame with label, confidence, inference time and loop FPS written at the top left, white on
    a dark box so that they read on any picture."""
    out = image.copy()
    scale = max(out.shape[1] / 640, 0.4)
    font, font_scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, max(1, round(2 * scale))
    margin = max(2, round(4 * scale))
    top = margin
    for text in (f"{label} {probability:.1%}", f"inference {inference_ms:.1f} ms", f"loop {fps:.1f} FPS"):
        (width, height), baseline = cv2.getTextSize(text, font, font_scale, thickness)
        bottom = top + height + baseline + 2 * margin
        cv2.rectangle(out, (margin, top), (margin + width + 2 * margin, bottom), (0, 0, 0), cv2.FILLED)
        cv2.putText(
            out,
            text,
            (2 * margin, bottom - baseline - margin),
            font,
            font_scale,
            (255, 255, 255),
            thickness,
            cv2.LINE_AA,
        )
        top = bottom
    return out


def display_available() -> bool:
    """Whether a window can be opened: on Linux only with an X11/Wayland display (OpenCV's Qt aborts without)."""
    return not sys.platform.startswith("linux") or any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY"))


def opencv_has_gui() -> bool:
    """Whether this OpenCV can open windows: not opencv-python-headless, whose build information says 'GUI: NONE'."""
    match = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    return match is None or match.group(1).upper() != "NONE"


def show(image: np.ndarray) -> bool:
    """Show the frame in the window; False once q or Esc was pressed."""
    try:
        cv2.imshow(WINDOW, image)
        key = cv2.waitKey(1) & 0xFF
    except cv2.error as error:
        message = str(error).strip().splitlines()[-1]
        raise CamError(f"cannot open a window ({message}); use --no-display") from None
    return key not in (ord("q"), 27)


def annotate_record(image: np.ndarray, record: dict) -> np.ndarray:
    """`annotate` with the values of a frame's JSON line."""
    return annotate(image, record["text"], record["probability"], record["inference_ms"], record["fps"])


@dataclass
class LoopOptions:
    """What the loop does with each frame: catdog-cam's options as plain values (the loop never sees argparse)."""

    smooth: float = 1.0  # weight of the newest frame in the exponential smoothing (1: none)
    json: bool = False  # a JSON line per frame on stdout
    events_only: bool = False  # no line per frame, only the monitor's event lines
    display: bool = True  # show the annotated frame in a window
    max_frames: int | None = None  # stop after this many frames

    @classmethod
    def from_args(cls, args) -> LoopOptions:
        return cls(args.smooth, args.json, args.events_only, not args.no_display, args.max_frames)


def run_loop(
    classifier,
    reader: FrameReader,
    options: LoopOptions,
    recorder: Recorder | None,
    view: LiveView | None = None,
    collector: Collector | None = None,
    monitor: Monitor | None = None,
) -> Stats:
    """Classify frames as they come, smooth, then show, record, serve, collect or print each; stop at the end of
    the source, at --max-frames, on q or Esc, on Ctrl-C, or when the collection is full or cannot be written."""
    stats, recent, smoothed, started = Stats(), deque(maxlen=FPS_WINDOW), None, None
    notifier = Notifier()  # systemd: READY=1, then WATCHDOG=1 while frames come
    try:
        for frame in reader:
            started = started or time.perf_counter()
            prediction = classifier.classify(frame.input)
            probabilities = np.array([prediction.probabilities[label] for label in classifier.labels])
            smoothed = (
                probabilities if smoothed is None else options.smooth * probabilities + (1 - options.smooth) * smoothed
            )
            shown = classifier.decide(smoothed, prediction.inference_ms)
            now = time.perf_counter()
            age_ms = (now - frame.captured) * 1000
            stats.frames += 1
            stats.inference_ms.append(prediction.inference_ms)
            stats.age_ms.append(age_ms)
            recent.append(now)
            fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
            record = {
                "frame": frame.index,
                "timestamp": round(frame.timestamp, 3),
                "source": frame.name,
                **shown.to_dict(),
                "age_ms": round(age_ms, 3),
                "fps": round(fps, 2),
            }
            if collector and (saved := collector.offer(frame.image, frame.timestamp, record["label"])):
                record["collected"] = str(saved)
            if options.json and not options.events_only:
                print(json.dumps(record), flush=True)
            for event in monitor.frame(frame.image, record, annotate_record) if monitor else ():
                print(json.dumps(event), flush=True)
            notifier.alive()
            if view:
                view.publish(frame.image, record)
            if recorder or options.display:
                annotated = annotate_record(frame.image, record)
                if recorder:
                    recorder.write(annotated)
                if options.display and not show(annotated):
                    break
            if stats.frames == options.max_frames:
                break
    except KeyboardInterrupt:
        pass
    except CollectError as error:
        stats.collect_error = error
    except BrokenPipeError:  # stdout closed by its reader (e.g. `| head`): stop as on Ctrl-C
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    notifier.stopping()
    stats.seconds = time.perf_counter() - started if started else 0.0
    stats.dropped = reader.dropped
    return stats


def address(text: str) -> tuple[str, int]:
    """argparse type: HOST:PORT for --serve."""
    try:
        return parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="catdog-cam", description="Classify a camera, stream, video or folder of images frame by frame."
    )
    add = parser.add_argument
    add(
        "--source",
        default="0",
        help="camera index (USB webcam), picam or picam:N (Raspberry Pi camera), stream "
        "URL, video file or folder of images (default: 0)",
    )
    add(
        "--capture-size",
        type=frame_size,
        default=(640, 480),
        metavar="WxH",
        help="picam: size of the captured frames (default: 640x480)",
    )
    add(
        "--capture-format",
        choices=tuple(picam.TO_BGR),
        default=picam.DEFAULT_FORMAT,
        help=f"picam: picamera2 pixel format of the main stream (default: {picam.DEFAULT_FORMAT})",
    )
    add_model_arguments(parser)
    add("--no-display", action="store_true", help="no window (implies --json)")
    add("--json", action="store_true", help="one JSON line per frame on stdout")
    add(
        "--serve",
        type=address,
        metavar="HOST:PORT",
        help="live view for a browser at http://HOST:PORT/ (HOST defaults to 127.0.0.1, open to this machine's "
        "users; any other address needs a secret, generated and shown once at start unless given)",
    )
    add(
        "--serve-secret-file",
        type=Path,
        metavar="FILE",
        help=f"--serve: the secret a viewer logs in with, on FILE's first line (else ${SECRET_ENV}); also on "
        "loopback (docs/access.md)",
    )
    add("--record", type=writable_file, metavar="OUT.mp4", help="also write the annotated frames as a video (mp4v)")
    add(
        "--realtime",
        action="store_true",
        help="read a video file or folder at its own frame rate (a folder at "
        f"{DEFAULT_FPS:g} FPS) like a live camera: frames the loop has no time for are dropped",
    )
    add("--max-frames", type=positive_int, metavar="N", help="stop after N frames")
    add(
        "--collect",
        type=Path,
        metavar="DIR",
        help="save raw frames as JPEG into DIR/unsorted/ to sort into class folders (cats/, dogs/, none/) and train "
        "on with catdog-train --add DIR",
    )
    add(
        "--collect-every",
        type=positive_float,
        default=2.0,
        metavar="SECONDS",
        help="--collect: one frame per this many seconds of the source (default 2)",
    )
    add(
        "--collect-max-mb",
        type=positive_float,
        default=500.0,
        metavar="MB",
        help="--collect: stop the run once this much has been saved (default 500)",
    )
    add(
        "--collect-labels",
        type=names,
        metavar="LABELS",
        help="--collect: only frames given one of these labels (comma-separated; default every frame). On a scene "
        "with no pet, cats,dogs saves only the false alarms: sort them into none/",
    )
    add(
        "--smooth",
        type=smoothing,
        default=1.0,
        metavar="ALPHA",
        help="exponential smoothing of the probabilities: weight of the newest frame, in (0, 1] (default 1: none)",
    )
    add_monitor_arguments(parser)
    args = parser.parse_args(argv)
    needs = {
        "serve_secret_file": "serve",
        **dict.fromkeys(("collect_every", "collect_max_mb", "collect_labels"), "collect"),
        **MONITOR_NEEDS,
    }
    refuse_orphans(parser, args, needs)
    for dest in ("capture_size", "capture_format"):
        if given(parser, args, dest) and picam.camera_number(args.source) is None:
            parser.error(f"{flag(dest)} needs --source picam (or picam:N)")
    args.json = args.json or args.no_display
    return args


def stop_on_sigterm() -> None:
    """`kill` and `systemctl stop` (SIGTERM) end the run as Ctrl-C does: the camera stopped and closed, the
    recording completed, the summary printed."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv=None) -> int:
    """Entry point of catdog-cam."""
    args = parse_args(argv)
    stop_on_sigterm()
    try:
        return start(args)
    except KeyboardInterrupt:  # Ctrl-C before the first frame (once frames flow, the loop ends with its summary)
        print("catdog-cam: interrupted before the first frame", file=sys.stderr)
        return 130


def start(args) -> int:
    """Load the model, open the source and the live view, then run."""
    if not args.no_display and not display_available():
        print("catdog-cam: error: no display to open a window on; use --no-display", file=sys.stderr)
        return 2
    if not args.no_display and not opencv_has_gui():
        print(NO_GUI, file=sys.stderr)
        return 2
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # our one-line errors instead of FFmpeg's and OpenCV's
    silence = getattr(cv2.utils, "logging", cv2)  # OpenCV 5: cv2.utils.logging.setLogLevel; 4.x: cv2.setLogLevel
    silence.setLogLevel(0)  # LOG_LEVEL_SILENT in both
    with contextlib.ExitStack() as stack:
        try:
            secret, origin = serve_secret(args.serve_secret_file) if args.serve else (None, "")  # before the model
            classifier, note = load_model(args.model, args.backend, args.threads, args.min_probability)
            served = LiveView(*args.serve, annotate_record, secret=secret, secret_from=origin) if args.serve else None
            view = stack.enter_context(served) if served else None
            collector = (
                Collector(
                    args.collect,
                    args.collect_every,
                    int(args.collect_max_mb * 1e6),
                    collect_labels(args.collect_labels, classifier.labels),
                )
                if args.collect
                else None
            )
            monitor = Monitor.from_args(args, classifier, f"catdog {socket.gethostname()}") if wanted(args) else None
            source = open_source(args.source, args.capture_size, args.capture_format)
            if args.realtime and not source.live:
                source.frames, source.live = paced(source.frames, source.fps or DEFAULT_FPS), True
        except (*LOAD_ERRORS, CamError, ServeError, CollectError, MonitorError) as error:
            print(f"catdog-cam: error: {error}", file=sys.stderr)
            return 2
        print(f"catdog-cam: {note}", file=sys.stderr)
        if collector:
            print(f"catdog-cam: {collector.describe()}", file=sys.stderr)
        for line in view.describe() if view else ():
            print(f"catdog-cam: {line}", file=sys.stderr, flush=True)
        if monitor:
            for line in monitor.describe():
                print(f"catdog-cam: {line}", file=sys.stderr, flush=True)
            monitor.start()
            stack.callback(monitor.close)
        return run(classifier, source, args, view, collector, monitor)


def run(
    classifier,
    source: Source,
    args,
    view: LiveView | None,
    collector: Collector | None = None,
    monitor: Monitor | None = None,
) -> int:
    """Read, classify and output every frame of an opened source; print the summary. The exit status: 0, or 1
    if a file of a folder was skipped (as catdog-predict)."""
    reader = FrameReader(source.frames, source.live, classifier.prepare)
    try:
        with contextlib.ExitStack() as stack:
            recorder = None
            if args.record:
                temp = stack.enter_context(atomic_path(args.record))
                recorder = stack.enter_context(contextlib.closing(Recorder(temp, source.fps, str(args.record))))
            stats = run_loop(classifier, reader, LoopOptions.from_args(args), recorder, view, collector, monitor)
            if not stats.frames:
                raise CamError(f"no frame could be read from {args.source}")
    except CamError as error:
        print(f"catdog-cam: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # the only file written is --record's
        print(f"catdog-cam: error: cannot write {args.record}: {error.strerror}", file=sys.stderr)
        return 1
    finally:
        reader.close()
        if not args.no_display:
            cv2.destroyAllWindows()
    skipped = sum(map(len, source.skipped.values()))
    notes = (f", {skipped} file{'s' if skipped > 1 else ''} skipped" if skipped else "") + (
        f"; recorded {args.record}" if args.record else ""
    )
    if collector:
        notes += f"; collected {collector.saved} frame{'s' * (collector.saved != 1)} into {collector.folder}"
    print(f"catdog-cam: {stats.summary()}{notes}", file=sys.stderr)
    if os.environ.get(SUMMARY_FILE):  # the same summary as one JSON object, for programs (the benchmark)
        write_json(os.environ[SUMMARY_FILE], stats.as_record())
    failed = stats.collect_error and not isinstance(stats.collect_error, CollectionFull)
    if stats.collect_error:
        print(f"catdog-cam: {'error: ' if failed else ''}{stats.collect_error}", file=sys.stderr)
    return 1 if skipped or failed else 0


if __name__ == "__main__":
    sys.exit(main())
