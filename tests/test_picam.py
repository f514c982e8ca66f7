"""catdog-cam --source picam, the command, against a stand-in picamera2 (tests/standin) that serves real photos
in picamera2's pixel formats and memory layouts: there is no Raspberry Pi camera here. The adapter itself is
tested in lean/test_camera.py."""

from __future__ import annotations

import json

import cv2
import pytest
from support import expected_camera_frame, run_cli, standin_camera_env

from catdog.runtime.picam import INSTALL_HINT

SIZE = (320, 240)


@pytest.mark.parametrize("pixel_format", ["RGB888", "XBGR8888", "YUV420"])
def test_cam_on_the_pi_camera_agrees_with_predict(tiny_export, camera_photos, tmp_path, pixel_format):
    model = tiny_export / "model_int8.tflite"
    result = run_cli(
        "catdog-cam",
        "--model",
        model,
        "--source",
        "picam",
        "--capture-format",
        pixel_format,
        "--capture-size",
        "x".join(map(str, SIZE)),
        "--no-display",
        "--max-frames",
        20,
        env=standin_camera_env(camera_photos, tmp_path / "camera.log"),
        check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 20 and all(line["source"] == "picam" for line in lines)
    frames = tmp_path / "frames"  # the pixels each frame should have, for catdog-predict
    frames.mkdir()
    count = len(list(camera_photos.glob("*.jpg")))
    for index in range(count):
        cv2.imwrite(str(frames / f"{index:02d}.png"), expected_camera_frame(camera_photos, index, SIZE, pixel_format))
    predicted = [
        json.loads(line)
        for line in run_cli("catdog-predict", "--model", model, frames, "--json", check=True).stdout.splitlines()
    ]
    for line in lines:
        assert line["probabilities"] == predicted[line["frame"] % count]["probabilities"]
        assert line["label"] == predicted[line["frame"] % count]["label"]
    assert {line["label"] for line in lines} == {row["label"] for row in predicted}
    assert (tmp_path / "camera.log").read_text().splitlines()[-2:] == ["stop", "close"]
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("catdog-cam: 20 frames, ") and "frame age p50 " in summary


def test_a_camera_that_fails_ends_the_run_with_its_summary(tiny_export, camera_photos, tmp_path):
    result = run_cli(
        "catdog-cam",
        "--model",
        tiny_export,
        "--source",
        "picam",
        "--no-display",
        env=standin_camera_env(camera_photos, tmp_path / "camera.log", PICAMERA2_STANDIN_FAIL_AFTER=5),
    )
    assert result.returncode == 0 and 1 <= len(result.stdout.splitlines()) <= 5
    messages = result.stderr.strip().splitlines()
    assert messages[-2] == "catdog-cam: picam stopped: Camera frontend has timed out!"
    assert messages[-1].startswith("catdog-cam: ")
    assert (tmp_path / "camera.log").read_text().splitlines()[-2:] == ["stop", "close"]


def test_without_picamera2_the_error_says_how_to_get_it(tiny_export, tmp_path):
    result = run_cli("catdog-cam", "--model", tiny_export, "--source", "picam", "--no-display")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == f"catdog-cam: error: {INSTALL_HINT}"


def test_a_camera_index_that_does_not_open_points_to_picam_when_picamera2_is_there(
    tiny_export, camera_photos, tmp_path
):
    result = run_cli(
        "catdog-cam",
        "--model",
        tiny_export,
        "--source",
        "9",
        "--no-display",
        env=standin_camera_env(camera_photos, tmp_path / "camera.log"),
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "catdog-cam: error: cannot open camera 9; for a Raspberry Pi camera module use --source picam"
    )
