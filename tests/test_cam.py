"""catdog-cam on a video made of real photos: the same answers as catdog-predict on the same decoded frames."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from support import run_cli

FPS = 10
SIZE = (320, 240)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def read_all(path) -> list[np.ndarray]:
    """Every frame of a video, decoded as catdog-cam decodes it."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    capture.release()
    return frames


@pytest.fixture(scope="module")
def video(tmp_path_factory, shared_data):
    """An mp4 (mp4v) of 12 real validation photos, 320x240, each held 1 or 2 frames, and its decoded frames
    as lossless PNGs in frames/ (mp4 is lossy: only the decoded frames are the pixels catdog-cam sees)."""
    root = tmp_path_factory.mktemp("video")
    photos = [p for kind in ("cats", "dogs") for p in sorted((shared_data / "validation" / kind).glob("*.jpg"))[:6]]
    writer = cv2.VideoWriter(str(root / "photos.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for i, photo in enumerate(photos):
        for _ in range(1 + i % 2):
            writer.write(cv2.resize(cv2.imread(str(photo)), SIZE, interpolation=cv2.INTER_AREA))
    writer.release()
    (root / "frames").mkdir()
    for i, frame in enumerate(read_all(root / "photos.mp4")):
        cv2.imwrite(str(root / "frames" / f"{i:04d}.png"), frame)
    return root


def cam_int8_on_video(tiny_export, video, *options):
    """catdog-cam on the video with the int8 TFLite model, JSON lines out, with these extra options."""
    model, source = tiny_export / "model_int8.tflite", video / "photos.mp4"
    return run_cli("catdog-cam", "--model", model, "--source", source, "--no-display", *options, check=True)


@pytest.fixture(scope="module")
def cam_on_video(tiny_export, video):
    """catdog-cam's frame lines for the video, with the int8 TFLite model."""
    return cam_int8_on_video(tiny_export, video)


def test_cam_on_a_video_agrees_with_predict_frame_by_frame(tiny_export, video, cam_on_video):
    model = tiny_export / "model_int8.tflite"
    frames = sorted((video / "frames").glob("*.png"))
    assert len(frames) == 18  # 12 photos, every other one held for two frames
    cam = json_lines(cam_on_video.stdout)
    predict = json_lines(run_cli("catdog-predict", "--model", model, video / "frames", "--json", check=True).stdout)
    assert [row["frame"] for row in cam] == list(range(len(frames)))  # every frame, in order
    assert [row["timestamp"] for row in cam] == pytest.approx([i / FPS for i in range(len(frames))])
    assert [row["label"] for row in cam] == [row["label"] for row in predict]
    assert [row["probabilities"] for row in cam] == [row["probabilities"] for row in predict]
    assert {row["label"] for row in cam} == {"cats", "dogs"}  # the photos are not all read as one class
    assert cam_on_video.stderr.strip().splitlines()[-1].startswith("catdog-cam: 18 frames, 0 dropped, loop ")

    on_folder = json_lines(
        run_cli("catdog-cam", "--model", model, "--source", video / "frames", "--no-display", check=True).stdout
    )
    assert [row["source"] for row in on_folder] == [row["path"] for row in predict]
    assert [row["probabilities"] for row in on_folder] == [row["probabilities"] for row in predict]


def test_smoothing_recording_and_max_frames(tiny_export, video, cam_on_video, tmp_path):
    out = tmp_path / "rec" / "annotated.mp4"
    alpha = 0.5
    result = cam_int8_on_video(tiny_export, video, "--smooth", alpha, "--max-frames", 10, "--record", out)
    rows = json_lines(result.stdout)
    assert len(rows) == 10
    raw = [np.array(list(row["probabilities"].values())) for row in json_lines(cam_on_video.stdout)[:10]]
    expected = None
    for row, probabilities in zip(rows, raw):
        expected = probabilities if expected is None else alpha * probabilities + (1 - alpha) * expected
        assert list(row["probabilities"].values()) == pytest.approx(list(expected), abs=2e-6)
        assert row["label"] == max(row["probabilities"], key=row["probabilities"].get)
    recorded = read_all(out)
    assert len(recorded) == 10 and recorded[0].shape == (SIZE[1], SIZE[0], 3)
    assert list(out.parent.iterdir()) == [out]  # written atomically: no partial file left


@pytest.mark.parametrize(
    "source, error",
    [
        ("9", "cannot open camera 9"),
        ("broken.mp4", "cannot open video file"),
        ("missing.mp4", "no such camera index, stream URL, file or folder"),
    ],
)
def test_unusable_sources(tiny_export, tmp_path, source, error):
    (tmp_path / "broken.mp4").write_text("not a video")
    result = run_cli("catdog-cam", "--model", tiny_export, "--source", source, "--no-display", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"catdog-cam: error: {error}")
    assert result.stdout == ""


def test_window_without_a_display_is_a_clear_error(video, tmp_path):
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    result = run_cli("catdog-cam", "--source", video / "photos.mp4", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "catdog-cam: error: no display to open a window on; use --no-display\n"


def test_a_folder_reports_every_file_it_did_not_use_and_exits_1_as_predict_does(tiny_export, camera_photos, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for photo in sorted(camera_photos.glob("*.jpg"))[:2]:
        (folder / photo.name).symlink_to(photo.resolve())
    (folder / "notes.txt").write_text("not a photo")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    result = run_cli("catdog-cam", "--model", tiny_export, "--source", folder, "--json", "--no-display")
    predict = run_cli("catdog-predict", "--model", tiny_export, folder)
    assert result.returncode == predict.returncode == 1
    assert [json_lines(result.stdout)[i]["source"] for i in range(2)] == [
        str(folder / "00.jpg"),
        str(folder / "01.jpg"),
    ]
    messages = result.stderr.strip().splitlines()
    assert f"catdog-cam: skipped 1 file (not an image): {folder / 'notes.txt'}" in messages
    assert f"catdog-cam: skipped: not a readable image: {folder / 'broken.jpg'}" in messages
    assert messages[-1].startswith("catdog-cam: 2 frames, ") and messages[-1].endswith(", 2 files skipped")
