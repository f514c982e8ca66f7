"""The background class 'none' ("no cat or dog"): trained from real photos with neither, recorded in the sidecar,
decided by the rule --min-probability, shown by catdog-predict and catdog-cam, and the frames catdog-cam --collect
saves to teach it a home."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import cv2
import pytest
import support
from support import NEGATIVES, OTHER_PETS, TINY, run_cli

VIDEO_SIZE = (320, 240)
SEGMENT = 6  # photos per segment of the test video, one frame each


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_training_learns_three_classes_and_chooses_the_rule_on_the_selection_split(tiny_background_run):
    config = json.loads((tiny_background_run / "config.json").read_text())
    metrics = json.loads((tiny_background_run / "metrics.json").read_text())
    split = json.loads((tiny_background_run / "split.json").read_text())
    assert config["labels"] == split["labels"] == ["cats", "dogs", "none"] and config["background"] == "none"
    for name in ("train", "selection", "validation"):  # negatives split like every class
        assert any(label == 2 and Path(path).parent.name.startswith("tiny_negatives") for path, label in split[name])
    negatives = [path for name in ("train", "selection", "validation") for path, label in split[name] if label == 2]
    assert len(negatives) == len(set(negatives)) == 64
    weights = config["class_weights"]  # balanced: the class with fewer training photos weighs more
    counts = {label: sum(1 for _, y in split["train"] if y == i) for i, label in enumerate(config["labels"])}
    assert weights["cats"] * counts["cats"] == pytest.approx(weights["none"] * counts["none"])
    assert 0 <= config["min_probability"] < 1 and metrics["min_probability"] == config["min_probability"]
    assert metrics["background"] == "none" and len(metrics["confusion_matrix"]) == 3
    confusion = metrics["confusion_matrix"]
    assert metrics["false_pet_rate"] == pytest.approx((confusion[2][0] + confusion[2][1]) / sum(confusion[2]))
    assert metrics["pet_accuracy"] == pytest.approx((confusion[0][0] + confusion[1][1]) / metrics["pet_images"])


def test_every_sidecar_names_the_background_and_the_rule(tiny_background_run, tiny_background_export):
    config = json.loads((tiny_background_run / "config.json").read_text())
    sidecars = sorted(tiny_background_export.glob("model_*.json"))
    assert len(sidecars) == 4
    for path in sidecars:
        sidecar = json.loads(path.read_text())
        assert sidecar["background_label"] == "none" and sidecar["min_probability"] == config["min_probability"]
        assert {"pet_accuracy", "false_pet_rate"} <= set(sidecar["parity"])
    assert "| pet accuracy | false pets |" in (tiny_background_export / "parity.md").read_text()


def test_max_background_thins_only_the_training_negatives(request, tmp_path_factory, tiny_data, tmp_path):
    from catdog.runtime.datasets import load_dataset
    from catdog.train.run import fewer_background

    dataset = load_dataset(tiny_data, 0.2, 42, support.tiny_negatives(request.config, tmp_path_factory.mktemp), [])
    dataset.carve_selection(0.1, 42)
    kept = fewer_background(dataset, 10, 42)
    assert kept == fewer_background(dataset, 10, 42) and kept != fewer_background(dataset, 10, 7)  # seeded
    assert sum(1 for _, y in kept if y == 2) == 10 and set(kept) <= set(dataset.train)
    assert [item for item in kept if item[1] != 2] == [item for item in dataset.train if item[1] != 2]
    result = run_cli(
        "catdog-train",
        "--data",
        tiny_data,
        "--negatives",
        "none",
        "--max-background",
        "10",
        *TINY,
        "--runs-dir",
        tmp_path,
    )
    assert result.returncode == 2 and list(tmp_path.iterdir()) == []
    assert result.stderr.strip().splitlines() == [
        "catdog-train: error: --max-background needs a background class ('none'); this data set has none"
    ]


@pytest.fixture(scope="module")
def mixed_photos(tmp_path_factory, shared_data) -> Path:
    """Six photos with no cat or dog (not among the tiny model's), three cats and three dogs."""
    folder = tmp_path_factory.mktemp("mixed")
    sources = sorted(NEGATIVES.iterdir())[1::6][:6]
    sources += [p for kind in ("cats", "dogs") for p in sorted((shared_data / "validation" / kind).glob("*.jpg"))[:3]]
    for i, source in enumerate(sources):
        (folder / f"{i:02d}{source.suffix.lower()}").symlink_to(source)
    return folder


def predict_json(model, photos, *options):
    result = run_cli("catdog-predict", "--model", model, photos, "--json", *options, check=True)
    return json_lines(result.stdout), result.stderr


@pytest.mark.parametrize("min_probability", [None, "0.5", "0.9"])
def test_predict_applies_the_decision_rule(tiny_background_export, mixed_photos, min_probability):
    model = tiny_background_export / "model_int8.tflite"
    options = ["--min-probability", min_probability] if min_probability else []
    lines, stderr = predict_json(model, mixed_photos, *options)
    rule = (
        float(min_probability) if min_probability else json.loads(Path(f"{model}.json").read_text())["min_probability"]
    )
    said = f"also when the top label is under {rule:g}" if rule else "when most probable, no minimum probability"
    assert f"'none' (no cats or dogs) {said}" in stderr
    for line in lines:
        probabilities = line["probabilities"]  # raw, whatever the rule said
        top = max(probabilities, key=probabilities.get)
        assert sum(probabilities.values()) == pytest.approx(1, abs=0.01)
        if top != "none" and probabilities[top] >= rule:
            assert line["label"] == top and line["text"] == top
        else:
            assert line["label"] == "none" and line["text"] == "no cats or dogs"
        assert line["probability"] == probabilities[line["label"]]


def test_a_higher_rule_turns_unsure_pets_into_none(tiny_background_export, mixed_photos):
    model = tiny_background_export / "model_int8.tflite"
    nones = [
        sum(line["label"] == "none" for line in predict_json(model, mixed_photos, "--min-probability", p)[0])
        for p in ("0.4", "0.99")
    ]
    assert (
        nones[0]
        <= nones[1]
        == 12
        - sum(  # at 0.99 only pets above 0.99 stay pets
            max(line["probabilities"]["cats"], line["probabilities"]["dogs"]) >= 0.99
            and max(line["probabilities"], key=line["probabilities"].get) != "none"
            for line in predict_json(model, mixed_photos, "--min-probability", "0.99")[0]
        )
    )


def test_kaggle_csv_gives_p_dog_renormalised_over_cat_and_dog(tiny_background_export, mixed_photos, tmp_path):
    model = tiny_background_export / "model_fp32.onnx"
    lines, _ = predict_json(model, mixed_photos, "--csv", tmp_path / "submission.csv", "--clip", "0")
    rows = list(csv.DictReader((tmp_path / "submission.csv").open()))
    assert len(rows) == len(lines) == 12
    for row, line in zip(rows, lines):
        p = line["probabilities"]
        assert float(row["label"]) == pytest.approx(p["dogs"] / (p["cats"] + p["dogs"]), abs=1e-5)


def test_the_rule_needs_a_model_with_a_background_class(tiny_export, mixed_photos):
    result = run_cli(
        "catdog-predict", "--model", tiny_export / "model_int8.tflite", mixed_photos, "--min-probability", "0.8"
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        "catdog-predict: error: --min-probability needs a model with a background class; model_int8.tflite has "
        "only cats, dogs (train one with --negatives)"
    )


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.2", "high"])
def test_a_rule_outside_zero_to_one_is_refused(tiny_background_export, mixed_photos, value):
    for command in ("catdog-predict", "catdog-cam"):
        args = [mixed_photos] if command == "catdog-predict" else ["--source", mixed_photos, "--no-display"]
        result = run_cli(command, "--model", tiny_background_export, *args, "--min-probability", value)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert (
            result.stderr.strip()
            .splitlines()[-1]
            .endswith(f"--min-probability: must be a number in (0, 1), not {value if value != 'high' else repr(value)}")
        )


@pytest.fixture(scope="module")
def segment_video(tmp_path_factory, shared_data) -> Path:
    """A 1 FPS mp4 of [negatives, cat photos, negatives, dog photos], SEGMENT photos each, one frame per photo."""
    root = tmp_path_factory.mktemp("segments")
    negatives = sorted(NEGATIVES.iterdir())[2::6]
    segments = [
        negatives[:SEGMENT],
        sorted((shared_data / "validation" / "cats").glob("*.jpg"))[10 : 10 + SEGMENT],
        negatives[SEGMENT : 2 * SEGMENT],
        sorted((shared_data / "validation" / "dogs").glob("*.jpg"))[10 : 10 + SEGMENT],
    ]
    writer = cv2.VideoWriter(str(root / "segments.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 1, VIDEO_SIZE)
    for photo in (p for segment in segments for p in segment):
        writer.write(cv2.resize(cv2.imread(str(photo)), VIDEO_SIZE, interpolation=cv2.INTER_AREA))
    writer.release()
    return root / "segments.mp4"


def cam_lines(model, video, *options):
    result = run_cli("catdog-cam", "--model", model, "--source", video, "--no-display", *options, check=True)
    return json_lines(result.stdout), result.stderr


def test_cam_shows_none_as_no_cats_or_dogs_and_smooths_it_like_any_class(tiny_background_export, segment_video):
    model = tiny_background_export / "model_int8.tflite"
    raw, _ = cam_lines(model, segment_video)
    smooth, _ = cam_lines(model, segment_video, "--smooth", "0.3")
    assert len(raw) == len(smooth) == 4 * SEGMENT
    for line in raw + smooth:
        assert line["text"] == ("no cats or dogs" if line["label"] == "none" else line["label"])
    # Smoothing averages all three classes: its first frame is the raw one, and later ones are the weighted mix.
    assert smooth[0]["probabilities"] == raw[0]["probabilities"]
    expected = raw[0]["probabilities"]
    for line in raw[1:4]:
        expected = {k: 0.3 * line["probabilities"][k] + 0.7 * v for k, v in expected.items()}
    assert smooth[3]["probabilities"] == pytest.approx(expected, abs=1e-5)


def test_collect_saves_raw_frames_atomically_and_they_train(tiny_background_export, segment_video, tiny_data, tmp_path):
    collect = tmp_path / "home"
    lines, stderr = cam_lines(tiny_background_export, segment_video, "--collect", collect, "--collect-every", "3")
    saved = sorted((collect / "unsorted").iterdir())
    assert f"collecting a frame every 3 s into {collect / 'unsorted'} (up to 500 MB)" in stderr
    assert f"collected 8 frames into {collect / 'unsorted'}" in stderr.splitlines()[-1]
    assert [Path(line["collected"]) for line in lines if "collected" in line] == saved
    assert [line["timestamp"] for line in lines if "collected" in line] == [0, 3, 6, 9, 12, 15, 18, 21]
    assert all(path.suffix == ".jpg" and not path.name.startswith(".") for path in saved)
    assert all(cv2.imread(str(path)).shape == (*VIDEO_SIZE[::-1], 3) for path in saved)  # raw: the frame's size
    # Sorted by hand into class folders, the frames join the classes of the same name.
    from catdog.runtime.datasets import load_dataset

    for i, path in enumerate(saved):
        folder = collect / ("none" if i in (0, 1, 4, 5) else "cats" if i in (2, 3) else "dogs")
        folder.mkdir(exist_ok=True)
        path.rename(folder / path.name)
    (collect / "unsorted").rmdir()
    dataset = load_dataset(tiny_data, negatives=NEGATIVES, extras=[collect])
    mixed = [path for path, _ in dataset.train + dataset.validation if Path(path).parent.parent == collect]
    assert len(mixed) == 8 and dataset.labels == ["cats", "dogs", "none"]


def test_collect_labels_saves_only_the_frames_given_those_labels(tiny_background_export, segment_video, tmp_path):
    """On a scene with no pet, `--collect-labels cats,dogs` keeps exactly the false alarms."""
    collect = tmp_path / "alarms"
    options = ("--collect", collect, "--collect-every", "0.5", "--collect-labels", "cats,dogs")
    lines, stderr = cam_lines(tiny_background_export, segment_video, *options)
    pets = [line for line in lines if line["label"] in ("cats", "dogs")]
    assert pets and len(pets) < len(lines)  # the tiny model calls some frames none: they must not be saved
    assert [line["frame"] for line in lines if "collected" in line] == [line["frame"] for line in pets]
    assert sorted((collect / "unsorted").iterdir()) == [Path(line["collected"]) for line in pets]
    assert f"collecting a frame every 0.5 s labelled cats or dogs into {collect / 'unsorted'}" in stderr

    result = run_cli(
        "catdog-cam",
        *("--model", tiny_background_export, "--source", segment_video, "--no-display"),
        *("--collect", tmp_path / "never", "--collect-labels", "cats,cat"),
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.strip() == (
        "catdog-cam: error: --collect-labels: cat: not a label of this model (cats, dogs, none)"
    )
    assert not (tmp_path / "never").exists()


def test_collect_stops_the_run_when_full_and_refuses_an_unwritable_folder(
    tiny_background_export, segment_video, tmp_path
):
    def collect(folder, *options):
        return run_cli(
            "catdog-cam",
            "--model",
            tiny_background_export,
            "--source",
            segment_video,
            "--no-display",
            "--collect",
            folder,
            *options,
        )

    result = collect(tmp_path / "full", "--collect-every", "1", "--collect-max-mb", "0.1")
    saved = list((tmp_path / "full" / "unsorted").iterdir())
    assert result.returncode == 0 and 0 < len(saved) < 4 * SEGMENT
    assert sum(p.stat().st_size for p in saved) <= 100_000
    assert result.stderr.splitlines()[-1] == "catdog-cam: collection full: 0.1 MB (--collect-max-mb)"
    result = collect(tmp_path / "tiny", "--collect-max-mb", "0.001")  # under one frame: it says so
    assert result.returncode == 0 and list((tmp_path / "tiny" / "unsorted").iterdir()) == []
    assert re.fullmatch(
        r"catdog-cam: collection full: 0\.001 MB \(--collect-max-mb\): one frame alone takes 0\.\d+ MB",
        result.stderr.splitlines()[-1],
    )
    (tmp_path / "a-file").write_text("not a folder")
    result = collect(tmp_path / "a-file")
    assert result.returncode == 2 and result.stdout == ""
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"catdog-cam: error: cannot write into {tmp_path / 'a-file' / 'unsorted'}: Not a directory"
    )


def test_collect_on_a_disk_that_fills_up_ends_the_run_with_its_summary_and_no_partial_file(
    tiny_background_export, segment_video, tmp_path
):
    # A real full disk: a 100 kB tmpfs, mounted in a mount namespace of the run's own (no root needed).
    disk, listing = tmp_path / "disk", tmp_path / "listing"
    disk.mkdir()
    on_small_disk = (
        *("unshare", "--mount", "--map-root-user", "sh", "-c"),
        'mount -t tmpfs -o size=100k tmpfs "$0" && "$@"; rc=$?; ls -A "$0/home/unsorted" > "$LISTING"; exit $rc',
        disk,
    )
    model, options = tiny_background_export, ("--collect", disk / "home", "--collect-every", "1")
    result = run_cli(
        *("catdog-cam", "--model", model, "--source", segment_video, "--no-display", *options),
        inside=on_small_disk,
        env={"LISTING": str(listing)},
    )
    saved = listing.read_text().split()
    assert result.returncode == 1, result.stderr
    assert 0 < len(saved) < 4 * SEGMENT and not any(name.startswith(".") for name in saved)  # no partial file
    records = [Path(line["collected"]).name for line in json_lines(result.stdout) if "collected" in line]
    assert records == saved
    *_, summary, error = result.stderr.strip().splitlines()
    assert f"collected {len(saved)} frames into {disk / 'home' / 'unsorted'}" in summary
    assert error == f"catdog-cam: error: cannot write into {disk / 'home' / 'unsorted'}: No space left on device"


def run_folder(tmp_path: Path, run: Path, export: Path) -> Path:
    """A run folder for the benchmark: the run's records and model, its artifacts as export/."""
    folder = tmp_path / run.name
    folder.mkdir()
    for name in ("config.json", "split.json", "model.keras"):
        (folder / name).symlink_to(run / name)
    (folder / "export").symlink_to(export)
    return folder


def test_background_benchmark_scores_each_rule_and_only_photos_a_run_never_used(
    tmp_path, tiny_background_run, tiny_background_export, tiny_run, tiny_export, tiny_data
):
    three = run_folder(tmp_path, tiny_background_run, tiny_background_export)
    two = run_folder(tmp_path, tiny_run, tiny_export)
    unseen = tmp_path / "unseen"
    for label in ("cats", "dogs"):  # validation photos of another split, under a folder no run trained on
        (unseen / label).mkdir(parents=True)
        for photo in sorted((tiny_data / "validation" / label).iterdir())[:5]:
            (unseen / label / photo.name).symlink_to(photo)
    extra = ["--extra", f"unseen pets={unseen}", "--extra", f"training pets={tiny_data / 'train'}"]
    command = ["benchmarks/background.py", three, "--compare", two, *extra, "--out", tmp_path, "--name", "trap"]
    result = run_cli(sys.executable, *command, check=True)
    rows = json.loads((tmp_path / "trap.json").read_text())["rows"]
    assert "| tiny-background | model_int8.tflite |" in (tmp_path / "trap.md").read_text()
    groups = {row["group"] for row in rows if row["model"] == "tiny-background"}
    assert groups == {"cats_and_dogs_filtered pets", "negatives", "unseen pets"}, "training pets: trained on"
    own = json.loads((tiny_background_export / "model_int8.tflite.json").read_text())["min_probability"]
    for artifact in ("model_int8.tflite", "model_int8.onnx"):
        for group in groups:
            cells = [r for r in rows if (r["model"], r["artifact"], r["group"]) == ("tiny-background", artifact, group)]
            assert [r["rule"] for r in cells] == [own, 0.5, 0.7, 0.9] and all(r["images"] for r in cells)
            share = [r.get("accuracy", r.get("false_pet_rate")) for r in cells[1:]]
            assert share == sorted(share, reverse=True), "a higher rule calls fewer photos a pet"
            for row, measured in zip(cells[1:], share):  # the share, its count and its 95% interval agree
                low, high = row["interval95"]
                assert row["count"] == round(measured * row["images"]) and low <= measured <= high and low < high
        compared = [r for r in rows if r["model"] == "tiny" and r["artifact"] == artifact]
        assert {r["group"] for r in compared} == {"cats_and_dogs_filtered pets", "unseen pets"}
    assert result.stdout.startswith("# No cat, no dog")
    run_cli(
        sys.executable, *command[:2], "--artifacts", "model_fp32.onnx", "--out", tmp_path, "--name", "f", check=True
    )
    assert {row["artifact"] for row in json.loads((tmp_path / "f.json").read_text())["rows"]} == {"model_fp32.onnx"}
    run_cli(sys.executable, *command[:2], *extra[:2], "--extra-only", "--out", tmp_path, "--name", "x", check=True)
    assert {row["group"] for row in json.loads((tmp_path / "x.json").read_text())["rows"]} == {"unseen pets"}
    for bad, says in (  # what a user can get wrong: one line each, exit 2, nothing written
        (["--extra", "unseen"], "argument --extra: expected NAME=DIR, not 'unseen'"),
        (["--extra", f"gone={tmp_path / 'gone'}"], f"error: data folder not found: {tmp_path / 'gone'}"),
        (["--artifacts", "model_int4.tflite"], "error: no metadata beside"),
        (["--extra-only"], "error: --extra-only needs --extra NAME=DIR"),
    ):
        refused = run_cli(sys.executable, *command[:2], *bad, "--out", tmp_path / "bad")
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
        assert says in refused.stderr.splitlines()[-1] and not (tmp_path / "bad").exists()  # after argparse's usage


def test_segments_benchmark_counts_catdog_cam_labels_per_segment_of_its_video(
    tmp_path, tiny_background_run, tiny_background_export, tiny_run, tiny_export
):
    three = run_folder(tmp_path, tiny_background_run, tiny_background_export)
    run_cli(sys.executable, "benchmarks/segments.py", three, "--per-segment", "3", "--out", tmp_path, check=True)
    record = json.loads((tmp_path / "segments.json").read_text())
    assert cv2.VideoCapture(record["video"]).get(cv2.CAP_PROP_FRAME_COUNT) == 12
    assert [(row["artifact"], row["smooth"]) for row in record["rows"]] == [
        (artifact, smooth) for artifact in ("model_int8.tflite", "model_int8.onnx") for smooth in (None, 0.3)
    ]
    table = (tmp_path / "segments.md").read_text()
    for row in record["rows"]:
        assert [sum(counts.values()) for counts in row["counts"]] == [3, 3, 3, 3]
        assert set().union(*row["counts"]) <= {"cats", "dogs", "none"}
        right = sum(counts.get(label, 0) for counts, label in zip(row["counts"], ("none", "cats", "none", "dogs")))
        assert f"| {row['artifact']} | {row['smooth'] or 'off'} |" in table and f"| {right} of 12 |" in table
    two = run_folder(tmp_path, tiny_run, tiny_export)
    result = run_cli(sys.executable, "benchmarks/segments.py", two, "--out", tmp_path)
    assert result.returncode == 1 and result.stderr.strip() == f"segments.py: {two} has only 0 'none' validation photos"
    result = run_cli(sys.executable, "benchmarks/segments.py", three, "--per-segment", "0", "--out", tmp_path)
    assert result.returncode == 2 and result.stderr.strip().endswith("--per-segment must be at least 1, not 0")


def test_quiet_benchmark_counts_what_catdog_cam_says_on_videos_without_a_pet(
    tmp_path, monkeypatch, tiny_background_run, tiny_background_export, tiny_run, tiny_export
):
    monkeypatch.syspath_prepend(str(support.ROOT / "benchmarks"))
    from quiet import OPENCV_PHOTOS

    three = run_folder(tmp_path, tiny_background_run, tiny_background_export)
    two = run_folder(tmp_path, tiny_run, tiny_export)
    negatives = sorted(NEGATIVES.iterdir())
    opencv = tmp_path / "samples-data"  # OpenCV's samples/data as the benchmark reads it, of photos with no pet
    opencv.mkdir()
    for name, photo in zip(OPENCV_PHOTOS, negatives[1::7]):
        (opencv / name).write_bytes(cv2.imencode(Path(name).suffix, cv2.imread(str(photo)))[1].tobytes())
    walk = tmp_path / "walk.mp4"  # a stand-in for vtest.avi, 10 FPS
    writer = cv2.VideoWriter(str(walk), cv2.VideoWriter_fourcc(*"mp4v"), 10, VIDEO_SIZE)
    for photo in negatives[:30]:
        writer.write(cv2.resize(cv2.imread(str(photo)), VIDEO_SIZE, interpolation=cv2.INTER_AREA))
    writer.release()
    shutil.copy(walk, opencv / "vtest.avi")
    command = ["benchmarks/quiet.py", three, two, "--video", walk, "--opencv-data", opencv, "--out", tmp_path]
    result = run_cli(sys.executable, *command, check=True)
    rows = json.loads((tmp_path / "quiet.json").read_text())["rows"]
    assert result.stdout.startswith("# Quiet with no pet in view")
    sources = ["walk.mp4", "OpenCV vtest.avi", "OpenCV photos (23)"]
    assert [(r["source"], r["model"], r["artifact"], r["smooth"]) for r in rows] == [
        (source, model, artifact, smooth)
        for source in sources
        for model in ("tiny-background", "tiny")
        for artifact in ("model_int8.tflite", "model_int8.onnx")
        for smooth in (None, 0.3)
    ]
    for row in rows:
        assert row["frames"] == sum(row["labels"].values()) == (23 if row["source"] == sources[2] else 30)
        pets = sum(n for label, n in row["labels"].items() if label != "none")
        assert row["pet_frames"] == pets and 0 <= row["highest_pet_probability"] <= 1
        if row["model"] == "tiny":  # two classes: every frame is a pet, and a pet arrives
            assert pets == row["frames"] and row["arrived"] >= 1
        if row["source"] == sources[2]:
            called = [entry.split(" (")[0] for entry in row["photos_called_pets"]]
            assert len(called) == pets and set(called) <= set(OPENCV_PHOTOS)
            if row["model"] == "tiny":  # one frame per photo, in their order
                assert called == list(OPENCV_PHOTOS)
        else:
            assert row["photos_called_pets"] is None
    # What catdog-cam itself says on the same video, frame by frame.
    for run, artifact in ((three, "model_int8.tflite"), (two, "model_int8.onnx")):
        lines, _ = cam_lines(run / "export" / artifact, walk, "--events")
        frames = [line for line in lines if "event" not in line]
        key = ("walk.mp4", run.name, artifact, None)
        row = next(r for r in rows if (r["source"], r["model"], r["artifact"], r["smooth"]) == key)
        assert row["labels"] == dict(Counter(line["label"] for line in frames))
        assert row["arrived"] == sum(line.get("event") == "arrived" for line in lines)
    for bad, says in (  # one line each, exit 2, nothing written
        (["--video", tmp_path / "gone.mp4"], f"error: no video at {tmp_path / 'gone.mp4'}"),
        (["--opencv-data", tmp_path], f"error: {tmp_path} is not OpenCV's samples/data: no vtest.avi, aero1.jpg"),
        (["--video", walk, "--artifacts", "model_int4.tflite"], "error: no artifact"),
        ([], "error: give --video PATH or --opencv-data DIR"),
    ):
        refused = run_cli(sys.executable, "benchmarks/quiet.py", three, *bad, "--out", tmp_path / "bad")
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
        assert says in refused.stderr.splitlines()[-1] and not (tmp_path / "bad").exists()


def test_a_two_class_model_exported_before_the_background_class_runs_unchanged(
    tiny_export, mixed_photos, segment_video, tmp_path
):
    """Sidecars gained background_label and min_probability with the background class (nothing else since):
    one written before has neither, and predicts and streams exactly as one written now."""
    old = tmp_path / "old"
    old.mkdir()
    (old / "model_int8.tflite").symlink_to(tiny_export / "model_int8.tflite")
    sidecar = json.loads((tiny_export / "model_int8.tflite.json").read_text())
    assert sidecar.pop("background_label") is None and sidecar.pop("min_probability") is None
    (old / "model_int8.tflite.json").write_text(json.dumps(sidecar))
    uses = [("catdog-predict", mixed_photos, "--json"), ("catdog-cam", "--source", segment_video, "--no-display")]
    for command, *args in uses:
        outputs = [
            [
                (line["label"], line["probabilities"])
                for line in json_lines(run_cli(command, "--model", model, *args).stdout)
            ]
            for model in (old / "model_int8.tflite", tiny_export / "model_int8.tflite")
        ]
        assert outputs[0] == outputs[1] and len(outputs[0]) in (12, 4 * SEGMENT)
        assert {label for label, _ in outputs[0]} <= {"cats", "dogs"}
        assert all(set(probabilities) == {"cats", "dogs"} for _, probabilities in outputs[0])


def offline_python(url_name: str, url: str, keras_home: Path, code: str, *args) -> subprocess.CompletedProcess:
    """Python `code` in a fresh process, with catdog.train.data's `url_name` set to `url`, Keras's downloads
    cached in `keras_home` and none of the variables that point the default data elsewhere."""
    script = f"import sys\nimport catdog.train.data as data\ndata.{url_name} = {url!r}\n{code}"
    env = {**os.environ, "KERAS_HOME": str(keras_home), "TF_CPP_MIN_LOG_LEVEL": "3"}
    for name in ("CATDOG_DATA", "CATDOG_NEGATIVES", "CATDOG_OTHER_PETS"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, check=False)


def default_sources(url: str, keras_home: Path, negatives: str = "") -> subprocess.CompletedProcess:
    """catdog.train.data.default_sources, downloading from `url`, its two folders printed on the last lines."""
    code = 'print("", *data.default_sources(negatives_given=sys.argv[1] == "given"), sep="\\n")'
    return offline_python("SAMPLES_URL", url, keras_home, code, negatives)


def test_without_the_variables_the_default_downloads_the_imagenet_samples_once_and_sorts_them(tmp_path):
    archive = tmp_path / "samples.zip"  # the download's layout: one flat folder, here from the local copy
    with zipfile.ZipFile(archive, "w") as packed:
        for photo in [*NEGATIVES.iterdir(), *OTHER_PETS.rglob("*.JPEG")]:
            packed.write(photo, f"imagenet-sample-images-master/{photo.name}")
    for _ in ("download", "cached"):
        found = default_sources(archive.as_uri(), tmp_path / "keras")
        assert found.returncode == 0 and "catdog" not in found.stderr, found.stderr
        negatives, other_pets = map(Path, found.stdout.splitlines()[-2:])  # after Keras's download progress
        assert sorted(p.name for p in negatives.iterdir()) == sorted(p.name for p in NEGATIVES.iterdir())
        for kind in ("cats", "dogs"):
            assert sorted(p.name for p in (other_pets / kind).iterdir()) == sorted(
                p.name for p in (OTHER_PETS / kind).iterdir()
            )
        archive.unlink(missing_ok=True)  # the second time from the cache, with nothing left to download


@pytest.mark.parametrize(
    ("negatives", "says"), [("", "no negatives: training cats and dogs only"), ("given", "no other-source pets")]
)
def test_a_failed_download_of_the_default_sources_is_one_line_naming_what_is_left_out(tmp_path, negatives, says):
    found = default_sources((tmp_path / "missing.zip").as_uri(), tmp_path / "keras", negatives)
    assert found.returncode == 0 and found.stdout.splitlines()[-2:] == ["None", "None"]
    ours = [line for line in found.stderr.splitlines() if "catdog" in line]  # not TensorFlow's start-up lines
    assert len(ours) == 1 and ours[0].startswith("catdog-train: no ImageNet sample images (")
    assert ours[0].endswith(says)


def test_catdog_train_without_its_default_data_set_says_so_in_one_line_and_leaves_no_run(tmp_path):
    code = "from catdog.train.cli import main\nsys.exit(main(sys.argv[1:]))"
    runs = tmp_path / "runs"
    found = offline_python(
        "DATA_URL", (tmp_path / "missing.zip").as_uri(), tmp_path / "keras", code, "--runs-dir", runs
    )
    assert found.returncode == 2 and "Traceback" not in found.stderr, found.stderr
    assert found.stderr.splitlines()[-1].startswith("catdog-train: error: no default data set (")
    assert found.stderr.splitlines()[-1].endswith("); give --data DIR or set CATDOG_DATA")
    assert not runs.exists() or not any(runs.iterdir())


def test_bias_correction_benchmark_compares_the_corrected_and_plain_int8_models_on_both_splits(
    tmp_path, tiny_background_run, tiny_background_export
):
    three = run_folder(tmp_path, tiny_background_run, tiny_background_export)
    command = [sys.executable, "benchmarks/bias_correction.py", three, "--out", tmp_path]
    result = run_cli(*command, check=True)
    split = json.loads((tiny_background_run / "split.json").read_text())
    rows = json.loads((tmp_path / "bias_correction.json").read_text())["rows"]
    for part in ("selection", "validation"):
        no_pet = sum(label == split["labels"].index("none") for _, label in split[part])
        cells = {(row["group"], row["model"]): row for row in rows if row["split"] == part}
        models = ("TFLite, corrected", "TFLite, plain", "ONNX, corrected", "ONNX, plain")
        assert set(cells) == {(group, model) for group in ("no pet", "pets") for model in models}
        plain = ("no pet", "TFLite, plain"), ("pets", "TFLite, plain")
        assert [cells[key]["images"] for key in plain] == [no_pet, len(split[part]) - no_pet]
        assert all(0 <= row["mean_difference"] <= 1 and 0 <= row["label_agreement"] <= 1 for row in cells.values())
    for kind in ("TFLite", "ONNX"):
        uncorrected, corrected = (cells["pets", f"{kind}, {way}"]["mean_difference"] for way in ("plain", "corrected"))
        assert uncorrected != corrected, kind
    assert "| validation | pets (" in (tmp_path / "bias_correction.md").read_text()

    plain = tmp_path / "plain"
    shutil.copytree(tiny_background_export, plain / "export")
    sidecar = plain / "export" / "model_int8.onnx.json"
    record = json.loads(sidecar.read_text())
    record["calibration"]["bias_correction"] = False
    sidecar.write_text(json.dumps(record))
    for name in ("config.json", "split.json", "model.keras"):
        (plain / name).symlink_to(tiny_background_run / name)
    result = run_cli(*command[:2], plain, "--out", tmp_path)
    assert (result.returncode, result.stderr.strip()) == (
        2,
        f"bias_correction.py: {plain}/export/model_int8.onnx was made without bias correction",
    )
