"""catdog-cam --source picam against a stand-in picamera2 (tests/standin) that serves real photos in picamera2's
pixel formats and memory layouts: there is no Raspberry Pi camera here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from support import STANDIN, run_cli, standin_camera_env

from catdog.runtime.cam import CamError, FrameReader, open_source
from catdog.runtime.picam import INSTALL_HINT, TO_BGR

SIZE = (320, 240)


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


def expected_frame(photos, index: int, size, pixel_format: str) -> np.ndarray:
    """The BGR pixels the camera's frame `index` should give: the photo at the capture size, through YUV 4:2:0
    for YUV420 (chroma subsampling is lossy, the byte order of the others is not)."""
    served = sorted(photos.glob("*.jpg"))
    photo = cv2.imread(str(served[index % len(served)]))
    frame = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    if pixel_format == "YUV420":
        frame = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)
    return frame


@pytest.mark.parametrize("pixel_format", list(TO_BGR))
@pytest.mark.parametrize("size", [SIZE, (200, 150)])  # 200 px rows are padded to the camera's 64-byte stride
def test_every_format_gives_the_photos_in_bgr(camera, camera_photos, pixel_format, size):
    frames, live, _ = open_source("picam", size, pixel_format)
    assert live  # the newest-frame rule applies
    taken = [next(frames) for _ in range(8)]  # more than the 6 photos: the camera goes round
    frames.close()
    for frame in taken:
        assert frame.name == "picam" and frame.image.shape == (size[1], size[0], 3)
        assert np.array_equal(frame.image, expected_frame(camera_photos, frame.index, size, pixel_format))
    assert camera.read_text().splitlines() == ["open 0", f"configure {size[0]}x{size[1]} {pixel_format}", "start",
                                               "stop", "close"]


def test_a_slow_loop_gets_the_newest_frames_and_the_camera_is_closed(camera):
    frames, live, _ = open_source("picam", SIZE, "RGB888")
    reader = FrameReader(frames, live, prepare=lambda image: image.mean())
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


@pytest.mark.parametrize("cameras, source, error", [
    (0, "picam", "no Raspberry Pi camera found (libcamera sees none; check the ribbon cable and "
                 "`rpicam-hello --list-cameras`)"),
    (1, "picam:1", "no camera picam:1; libcamera sees 1: picam:0 imx708"),
])
def test_missing_cameras_are_one_clear_error(camera, monkeypatch, cameras, source, error):
    monkeypatch.setenv("PICAMERA2_STANDIN_CAMERAS", str(cameras))
    with pytest.raises(CamError) as raised:
        open_source(source)
    assert str(raised.value) == error


@pytest.mark.parametrize("pixel_format", ["RGB888", "XBGR8888", "YUV420"])
def test_cam_on_the_pi_camera_agrees_with_predict(tiny_export, camera_photos, tmp_path, pixel_format):
    model = tiny_export / "model_int8.tflite"
    result = run_cli("catdog-cam", "--model", model, "--source", "picam", "--capture-format", pixel_format,
                     "--capture-size", "x".join(map(str, SIZE)), "--no-display", "--max-frames", 20,
                     env=standin_camera_env(camera_photos, tmp_path / "camera.log"), check=True)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 20 and all(line["source"] == "picam" for line in lines)
    frames = tmp_path / "frames"  # the pixels each frame should have, for catdog-predict
    frames.mkdir()
    count = len(list(camera_photos.glob("*.jpg")))
    for index in range(count):
        cv2.imwrite(str(frames / f"{index:02d}.png"), expected_frame(camera_photos, index, SIZE, pixel_format))
    predicted = [json.loads(line) for line in run_cli("catdog-predict", model, frames, "--json", check=True)
                 .stdout.splitlines()]
    for line in lines:
        assert line["probabilities"] == predicted[line["frame"] % count]["probabilities"]
        assert line["label"] == predicted[line["frame"] % count]["label"]
    assert {line["label"] for line in lines} == {row["label"] for row in predicted}
    assert (tmp_path / "camera.log").read_text().splitlines()[-2:] == ["stop", "close"]
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("catdog-cam: 20 frames, ") and "frame age p50 " in summary


def test_a_camera_that_fails_ends_the_run_with_its_summary(tiny_export, camera_photos, tmp_path):
    result = run_cli("catdog-cam", "--model", tiny_export, "--source", "picam", "--no-display",
                     env=standin_camera_env(camera_photos, tmp_path / "camera.log", PICAMERA2_STANDIN_FAIL_AFTER=5))
    assert result.returncode == 0 and 1 <= len(result.stdout.splitlines()) <= 5
    messages = result.stderr.strip().splitlines()
    assert messages[-2] == "catdog-cam: picam stopped: Camera frontend has timed out!"
    assert messages[-1].startswith("catdog-cam: ")
    assert (tmp_path / "camera.log").read_text().splitlines()[-2:] == ["stop", "close"]


def test_without_picamera2_the_error_says_how_to_get_it(tiny_export, tmp_path):
    result = run_cli("catdog-cam", "--model", tiny_export, "--source", "picam", "--no-display")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == f"catdog-cam: error: {INSTALL_HINT}"


def test_a_camera_index_that_does_not_open_points_to_picam_when_picamera2_is_there(tiny_export, camera_photos, tmp_path):
    result = run_cli("catdog-cam", "--model", tiny_export, "--source", "9", "--no-display",
                     env=standin_camera_env(camera_photos, tmp_path / "camera.log"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "catdog-cam: error: cannot open camera 9; for a Raspberry Pi camera module use --source picam")


def test_the_runtime_imports_picamera2_only_for_picam(camera_photos, tmp_path):
    code = ("import sys; import catdog.runtime, catdog.runtime.cam, catdog.runtime.predict, catdog.runtime.serve\n"
            "assert not {'picamera2', 'tensorflow', 'keras'} & set(sys.modules), sorted(sys.modules)\n"
            "import catdog.runtime.cam as cam; frames, live, _ = cam.open_source('picam'); next(frames); frames.close()\n"
            "assert 'picamera2' in sys.modules")
    env = {**os.environ, **standin_camera_env(camera_photos, tmp_path / "camera.log")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
