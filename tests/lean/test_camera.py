"""The camera side of catdog-cam without a model: the Raspberry Pi camera adapter against a stand-in picamera2
(tests/standin) serving real photos in picamera2's pixel formats and layouts, the capture thread's rules, and
a stream that stops. Runs on the base install alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from support import STANDIN, expected_camera_frame, standin_camera_env

from catdog.runtime.cam import CamError, Frame, FrameReader, open_source, video_frames
from catdog.runtime.picam import TO_BGR

SIZE = (320, 240)
FPS = 10


@pytest.fixture
def camera(camera_photos, tmp_path, monkeypatch):
    """The stand-in picamera2 importable in this process, serving `camera_photos` at 200 FPS; its call log."""
    log = tmp_path / "camera.log"
    monkeypatch.syspath_prepend(str(STANDIN))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    for name, value in standin_camera_env(camera_photos, log, fps=200).items():
        if name != "PYTHONPATH":
            monkeypatch.setenv(name, value)
    return log


@pytest.mark.parametrize("pixel_format", list(TO_BGR))
@pytest.mark.parametrize("size", [SIZE, (200, 150)])  # 200 px rows are padded to the camera's 64-byte stride
def test_every_format_gives_the_photos_in_bgr(camera, camera_photos, pixel_format, size):
    source = open_source("picam", size, pixel_format)
    frames = source.frames
    assert source.live  # the newest-frame rule applies
    taken = [next(frames) for _ in range(8)]  # more than the 6 photos: the camera goes round
    frames.close()
    for frame in taken:
        assert frame.name == "picam" and frame.image.shape == (size[1], size[0], 3)
        assert np.array_equal(frame.image, expected_camera_frame(camera_photos, frame.index, size, pixel_format))
    assert camera.read_text().splitlines() == [
        "open 0",
        f"configure {size[0]}x{size[1]} {pixel_format}",
        "start",
        "stop",
        "close",
    ]


def test_a_slow_loop_gets_the_newest_frames_and_the_camera_is_closed(camera):
    source = open_source("picam", SIZE, "RGB888")
    reader = FrameReader(source.frames, source.live, prepare=lambda image: image.mean())
    received = []
    for frame in reader:  # much slower than the camera's 200 FPS
        received.append(frame.index)
        time.sleep(0.03)
        if len(received) == 8:
            break
    reader.close()
    assert received == sorted(set(received)) and reader.dropped > 0
    assert received[-1] - received[0] > len(received) - 1  # frames were skipped for newer ones
    assert camera.read_text().splitlines()[-2:] == ["stop", "close"]


@pytest.mark.parametrize(
    "cameras, source, error",
    [
        (
            0,
            "picam",
            "no Raspberry Pi camera found (libcamera sees none; check the ribbon cable and "
            "`rpicam-hello --list-cameras`)",
        ),
        (1, "picam:1", "no camera picam:1; libcamera sees 1: picam:0 imx708"),
    ],
)
def test_missing_cameras_are_one_clear_error(camera, monkeypatch, cameras, source, error):
    monkeypatch.setenv("PICAMERA2_STANDIN_CAMERAS", str(cameras))
    with pytest.raises(CamError) as raised:
        open_source(source)
    assert str(raised.value) == error


def test_the_runtime_imports_picamera2_only_for_picam(camera_photos, tmp_path):
    code = (
        "import sys; import catdog.runtime, catdog.runtime.cam, catdog.runtime.predict, catdog.runtime.serve\n"
        "assert not {'picamera2', 'tensorflow', 'keras'} & set(sys.modules), sorted(sys.modules)\n"
        "import catdog.runtime.cam as cam; frames = cam.open_source('picam').frames; next(frames); frames.close()\n"
        "assert 'picamera2' in sys.modules"
    )
    env = {**os.environ, **standin_camera_env(camera_photos, tmp_path / "camera.log")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr


def frames_of(count: int):
    for index in range(count):
        yield Frame(index, index / FPS, "synthetic", np.full((4, 4, 3), index % 256, np.uint8))


@pytest.mark.parametrize("live", [False, True])
def test_reader_hands_over_file_frames_whole_and_live_frames_newest(live):
    reader = FrameReader(frames_of(60), live=live, prepare=lambda image: int(image[0, 0, 0]))
    received = []
    for frame in reader:  # a loop slower than the source
        assert frame.input == frame.index % 256  # prepared on the reader's thread
        received.append(frame.index)
        time.sleep(0.002)
    reader.close()
    if live:  # whatever was dropped, the rest is in order and the newest frame is never lost
        assert received == sorted(set(received)) and received[-1] == 59
        assert len(received) + reader.dropped == 60
    else:
        assert received == list(range(60)) and reader.dropped == 0


@pytest.fixture(scope="module")
def clip(tmp_path_factory, camera_photos):
    """An mp4 of the six camera photos, one frame each."""
    path = tmp_path_factory.mktemp("clip") / "photos.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for photo in sorted(camera_photos.glob("*.jpg")):
        writer.write(cv2.resize(cv2.imread(str(photo)), SIZE, interpolation=cv2.INTER_AREA))
    writer.release()
    return path


def test_a_stream_that_stops_is_reopened_then_ends(clip, tmp_path, capsys):
    capture = cv2.VideoCapture(str(clip))
    gone = str(tmp_path / "gone.mp4")  # the stream does not come back
    frames = list(video_frames(capture, "stream", reopen=lambda: cv2.VideoCapture(gone), retries=2, wait=0))
    assert [frame.index for frame in frames] == list(range(6))
    messages = capsys.readouterr().err.splitlines()
    assert messages == [
        "catdog-cam: stream stopped; reopening (1/2)",
        "catdog-cam: stream stopped; reopening (2/2)",
        "catdog-cam: stream did not come back after 2 reopens; stopping",
    ]


def test_a_recording_under_a_file_is_refused_before_anything_starts(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    target = tmp_path / "afile" / "out" / "annotated.mp4"
    result = subprocess.run(
        [sys.executable, "-m", "catdog.runtime.cam", "--record", str(target), "--no-display"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"catdog-cam: error: argument --record: cannot write {target}: {tmp_path / 'afile'} is a file, not a folder"
    )


@pytest.mark.parametrize(
    ("options", "needs"),
    [
        (["--collect-every", "3"], "--collect-every needs --collect"),
        (["--collect-max-mb", "5"], "--collect-max-mb needs --collect"),
        (["--collect-labels", "cats,dogs"], "--collect-labels needs --collect"),
        (["--keep", "3"], "--keep needs --snapshots"),
        (["--snapshot-raw"], "--snapshot-raw needs --snapshots"),
        (["--on-event-timeout", "3"], "--on-event-timeout needs --on-event"),
        (["--mqtt-topic", "home/pets"], "--mqtt-topic needs --mqtt"),
        (["--capture-size", "320x240", "--source", "0"], "--capture-size needs --source picam (or picam:N)"),
        (["--capture-format", "BGR888"], "--capture-format needs --source picam (or picam:N)"),
    ],
)
def test_an_option_without_the_one_it_works_with_is_refused_not_ignored(options, needs):
    result = subprocess.run(
        [sys.executable, "-m", "catdog.runtime.cam", "--no-display", *options], capture_output=True, text=True
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"catdog-cam: error: {needs}"


def test_collect_labels_without_a_label_is_refused(tmp_path):
    options = ["--collect", str(tmp_path / "home"), "--collect-labels", " , "]
    result = subprocess.run(
        [sys.executable, "-m", "catdog.runtime.cam", "--no-display", *options], capture_output=True, text=True
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "catdog-cam: error: argument --collect-labels: expected comma-separated names such as cats,dogs, not ' , '"
    )
    assert not (tmp_path / "home").exists()
