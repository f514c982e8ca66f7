"""Bad input as a hostile but realistic user gives it: broken images, broken or mismatched models and sidecars,
bad options, bad run folders, and an export killed mid-way. Every case: the exit code, the exact one-line
message, and no traceback. Every input is made here from real photos and the tiny run (no stored binaries)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import WEIGHTS, run_cli

from catdog.runtime import Classifier, ImageError
from catdog.runtime.images import MIN_IMAGE_SIDE
from catdog.runtime.metadata import file_sha256, sidecar_path

TINY_GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
NOT_A_ZIP = "not a complete .keras model (not a zip archive: truncated, or another kind of file)"


def assert_fails(result, code: int, message: str) -> None:
    """Exit `code`, no traceback, and `message` as the last line on stderr."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    assert result.stderr.strip().splitlines()[-1] == message


def stderr_lines(result, prefix: str) -> set[str]:
    return {line for line in result.stderr.splitlines() if line.startswith(prefix)}


@pytest.fixture(scope="module")
def photo(shared_data) -> Path:
    return sorted((shared_data / "validation" / "cats").glob("*.jpg"))[0]


@pytest.fixture(scope="module")
def broken(tmp_path_factory, photo) -> dict[str, Path]:
    """One file of every broken kind, each in its own folder, plus a folder of them all beside one good photo."""
    root = tmp_path_factory.mktemp("broken")
    data = photo.read_bytes()
    makers = {
        "truncated.jpg": lambda p: p.write_bytes(data[: len(data) // 3]),
        "empty.jpg": lambda p: p.write_bytes(b""),
        "text.jpg": lambda p: p.write_text("a text file renamed .jpg\n"),
        "pixel.png": lambda p: cv2.imwrite(str(p), np.full((1, 1, 3), 128, np.uint8)),
        "thin.png": lambda p: cv2.imwrite(str(p), np.full((MIN_IMAGE_SIDE - 1, 400, 3), 128, np.uint8)),
        "anim.gif": lambda p: p.write_bytes(TINY_GIF),
        "notes.txt": lambda p: p.write_text("notes\n"),
        "gone.jpg": lambda p: p.symlink_to(p.parent / "nowhere.jpg"),
    }
    files = {"all": root / "all"}
    files["all"].mkdir()
    shutil.copy(photo, files["all"] / "good.jpg")
    for name, make in makers.items():
        files[name] = root / name.split(".")[0] / name
        files[name].parent.mkdir()
        make(files[name])
        make(files["all"] / name)
    return files


# -- images ------------------------------------------------------------------------------------------------


def test_a_folder_of_broken_files_is_reported_by_reason(tiny_export, broken):
    folder = broken["all"]
    result = run_cli("catdog-predict", "--model", tiny_export / "model_int8.tflite", folder)
    assert "Traceback" not in result.stderr and result.returncode == 1
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == [str(folder / "good.jpg")]
    assert stderr_lines(result, "catdog-predict: skipped") == {
        f"catdog-predict: skipped 1 file (not an image): {folder / 'notes.txt'}",
        f"catdog-predict: skipped 1 file (dangling link): {folder / 'gone.jpg'}",
        f"catdog-predict: skipped 3 files (unreadable): {folder / 'empty.jpg'}, {folder / 'text.jpg'}, "
        f"{folder / 'truncated.jpg'}",
        # a GIF is read in a folder as it is named alone (below): this one is 1x1
        f"catdog-predict: skipped 3 files (smaller than 32x32 pixels): {folder / 'anim.gif'}, {folder / 'pixel.png'}, "
        f"{folder / 'thin.png'}",
    }
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("catdog-predict: 1 image classified, 8 files skipped, inference median ")
    )


@pytest.mark.parametrize(
    "name, reason",
    [
        ("truncated.jpg", "unreadable"),
        ("empty.jpg", "unreadable"),
        ("text.jpg", "unreadable"),
        ("pixel.png", "smaller than 32x32 pixels"),
        ("thin.png", "smaller than 32x32 pixels"),
        ("anim.gif", "smaller than 32x32 pixels"),  # a GIF is decoded, as in a folder: this one is 1x1
        ("gone.jpg", "dangling link"),
        ("notes.txt", "unreadable"),
    ],
)
def test_a_broken_file_given_by_name_is_skipped_with_its_reason(tiny_export, broken, name, reason):
    result = run_cli("catdog-predict", "--model", tiny_export / "model_int8.onnx", broken[name])
    assert "Traceback" not in result.stderr and result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines()[-2:] == [
        f"catdog-predict: skipped 1 file ({reason}): {broken[name]}",
        "catdog-predict: 0 images classified, 1 file skipped",
    ]


def test_a_tiny_image_is_refused_by_the_runtime_too(tiny_export, broken):
    with pytest.raises(ImageError, match=r"^too small to be a photo: .*pixel.png is 1x1 pixels \(at least 32x32\)$"):
        Classifier(tiny_export / "model_fp32.tflite").classify_file(broken["pixel.png"])


# -- models and sidecars -------------------------------------------------------------------------------------


def artifact_copy(tiny_export, target: Path, name: str, content: bytes | None = None, **changes) -> Path:
    """A copy of an artifact (or `content` under its name) with its sidecar, `changes` applied to the sidecar
    ("shape" and "dtype" go to its input; the sidecar's hash is the content's unless `sha256` is changed)."""
    target.mkdir(parents=True, exist_ok=True)
    path = target / name
    path.write_bytes(content if content is not None else (tiny_export / name).read_bytes())
    metadata = json.loads(sidecar_path(tiny_export / name).read_text())
    metadata["sha256"] = file_sha256(path)
    for key, value in changes.items():
        (metadata["input"] if key in ("shape", "dtype") else metadata)[key] = value
    sidecar_path(path).write_text(json.dumps(metadata))
    return path


def mismatches(tiny_export, root):
    """(artifact, the message after 'error: ') for every way an artifact and its sidecar can disagree."""
    int8 = tiny_export / "model_int8.tflite"
    replaced = artifact_copy(
        tiny_export,
        root / "replaced",
        "model_int8.tflite",
        sha256=json.loads(sidecar_path(int8).read_text())["sha256"],
        content=(tiny_export / "model_fp16.tflite").read_bytes(),
    )
    cases = [
        (
            artifact_copy(tiny_export, root / "shape", "model_int8.tflite", shape=[1, 224, 224, 3]),
            "model_int8.tflite.json says input shape [1, 224, 224, 3] but model_int8.tflite takes [1, 96, 96, 3]",
        ),
        (
            artifact_copy(tiny_export, root / "shape-onnx", "model_fp32.onnx", shape=[1, 160, 160, 3]),
            "model_fp32.onnx.json says input shape [1, 160, 160, 3] but model_fp32.onnx takes [1, 96, 96, 3]",
        ),
        (
            artifact_copy(tiny_export, root / "labels", "model_int8.tflite", labels=["cats", "dogs", "birds"]),
            "model_int8.tflite.json has 3 labels (cats, dogs, birds) but model_int8.tflite gives 2 outputs",
        ),
        (
            artifact_copy(tiny_export, root / "labels-onnx", "model_int8.onnx", labels=["cats"]),
            "model_int8.onnx.json has 1 labels (cats) but model_int8.onnx gives 2 outputs",
        ),
        (
            artifact_copy(tiny_export, root / "dtype", "model_int8.tflite", dtype="float32"),
            "model_int8.tflite.json says input dtype float32 but model_int8.tflite takes uint8",
        ),
        (
            replaced,
            f"{replaced} is not the file its sidecar describes: SHA-256 "
            f"{file_sha256(tiny_export / 'model_fp16.tflite')[:12]}..., model_int8.tflite.json says "
            f"{file_sha256(int8)[:12]}... (copy an artifact and its sidecar together, or export again)",
        ),
    ]
    return cases


def test_a_model_and_a_sidecar_that_disagree_are_refused(tiny_export, shared_data, tmp_path):
    for artifact, message in mismatches(tiny_export, tmp_path):
        assert_fails(
            run_cli("catdog-predict", "--model", artifact, shared_data / "validation" / "cats" / "cat.2000.jpg"),
            2,
            f"catdog-predict: error: {message}",
        )


def test_cam_refuses_them_too(tiny_export, shared_data, tmp_path):
    for artifact, message in mismatches(tiny_export, tmp_path)[::2]:
        result = run_cli(
            "catdog-cam",
            "--model",
            artifact,
            "--source",
            shared_data / "validation" / "cats",
            "--no-display",
            "--max-frames",
            "1",
        )
        assert_fails(result, 2, f"catdog-cam: error: {message}")
        assert result.stdout == ""


def test_broken_artifacts_and_sidecars(tiny_export, photo, tmp_path):
    tflite = artifact_copy(
        tiny_export,
        tmp_path / "tflite",
        "model_int8.tflite",
        content=(tiny_export / "model_int8.tflite").read_bytes()[:3000],
    )
    onnx = artifact_copy(
        tiny_export, tmp_path / "onnx", "model_int8.onnx", content=(tiny_export / "model_int8.onnx").read_bytes()[:3000]
    )
    invalid = artifact_copy(tiny_export, tmp_path / "invalid", "model_fp32.tflite")
    sidecar_path(invalid).write_text('{"labels": ["cats", "dogs"],')
    lacking = artifact_copy(tiny_export, tmp_path / "lacking", "model_fp32.tflite")
    sidecar_path(lacking).write_text(
        json.dumps({"labels": ["cats", "dogs"], "input": {}, "output": {}, "format": "tflite", "precision": "fp32"})
    )
    orphan = tmp_path / "orphan" / "model_fp32.onnx"
    orphan.parent.mkdir()
    shutil.copy(tiny_export / "model_fp32.onnx", orphan)
    cases = {
        tflite: f"cannot load {tflite} with ai_edge_litert: ",
        onnx: f"cannot load {onnx} with onnxruntime: ",
        invalid: f"unreadable metadata: {sidecar_path(invalid)} is not valid JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 29 (char 28))",
        lacking: f"metadata {sidecar_path(lacking)} records no SHA-256 of its artifact (made by an older "
        "catdog-export: export it again)",
        orphan: f"no metadata beside {orphan} (expected model_fp32.onnx.json; made by catdog-export)",
    }
    for artifact, message in cases.items():
        result = run_cli("catdog-predict", "--model", artifact, photo)
        assert "Traceback" not in result.stderr and result.returncode == 2, result.stderr
        [line] = [line for line in result.stderr.splitlines() if "error" in line]
        assert line.startswith(f"catdog-predict: error: {message}") and result.stderr.endswith(line + "\n"), line


# -- options and run folders -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, option, value, message",
    [
        ("catdog-export", "--calibration-size", "0", "must be an integer >= 1, not 0"),
        ("catdog-export", "--calibration-size", "x", "must be an integer >= 1, not 'x'"),
        ("catdog-export", "--max-drop", "-1", "must be a number >= 0, not -1"),
        ("catdog-export", "--max-drop", "nan", "must be a number >= 0, not nan"),
        ("catdog-export", "--formats", "tflite,tf", "unknown format tf (use onnx, tflite)"),
        ("catdog-export", "--formats", ",", "unknown format ',' (use onnx, tflite)"),
        ("catdog-eval", "--batch-size", "0", "must be an integer >= 1, not 0"),
        ("catdog-predict", "--threads", "0", "must be an integer >= 1, not 0"),
    ],
)
def test_bad_options_are_refused_by_argparse(tiny_run, tmp_path, command, option, value, message):
    paths = [tmp_path] if command == "catdog-predict" else []
    result = run_cli(command, tiny_run, *paths, f"{option}={value}")
    usage = result.stderr.splitlines()[0]
    assert usage.startswith(f"usage: {command}")
    assert_fails(result, 2, f"{command}: error: argument {option}: {message}")


@pytest.mark.parametrize(
    "command, options, needs",
    [
        ("catdog-export", ["--calibration-size", "10"], "--calibration-size needs --int8"),
        ("catdog-export", ["--calibration-data", "photos"], "--calibration-data needs --int8"),
        ("catdog-export", ["--fp16", "--no-reduce-range"], "--no-reduce-range needs --int8"),
        ("catdog-export", ["--no-bias-correction"], "--no-bias-correction needs --int8"),
        ("catdog-predict", ["--clip", "0.01"], "--clip needs --csv"),
    ],
)
def test_an_option_without_the_one_it_works_with_is_refused_not_ignored(tiny_run, tmp_path, command, options, needs):
    export = command == "catdog-export"
    args = [tiny_run, *options, "--out", tmp_path / "out"] if export else ["--model", tiny_run, *options, tmp_path]
    result = run_cli(command, *args)
    assert_fails(result, 2, f"{command}: error: {needs}")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory, tiny_run) -> dict[str, Path]:
    """Copies of the tiny run: config.json not JSON, model.keras truncated, model.keras a text file."""
    root = tmp_path_factory.mktemp("bad_runs")
    runs = {}
    for name in ("config", "truncated", "text"):
        runs[name] = root / name
        shutil.copytree(tiny_run, runs[name], ignore=shutil.ignore_patterns("export"))
    (runs["config"] / "config.json").write_text('{"labels": ["cats", "dogs"]')
    model = runs["truncated"] / "model.keras"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    (runs["text"] / "model.keras").write_text("not a model\n")
    return runs


def test_export_refuses_bad_run_folders_and_outputs(tiny_run, bad_runs, tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    config = bad_runs["config"] / "config.json"
    cases = [
        (
            (bad_runs["config"],),
            f"unusable run folder: {config} is not valid JSON (Expecting ',' delimiter: line 1 column 28 (char 27))",
        ),
        ((bad_runs["truncated"],), f"cannot load model {bad_runs['truncated'] / 'model.keras'}: {NOT_A_ZIP}"),
        ((bad_runs["text"],), f"cannot load model {bad_runs['text'] / 'model.keras'}: {NOT_A_ZIP}"),
        (
            (tiny_run, "--out", tmp_path / "afile" / "export"),
            f"cannot export to {tmp_path / 'afile' / 'export'}: {tmp_path / 'afile'} is a file, not a folder",
        ),
        (
            (tiny_run, "--out", tmp_path / "afile"),
            f"cannot export to {tmp_path / 'afile'}: {tmp_path / 'afile'} is a file, not a folder",
        ),
        (
            (tiny_run, "--out", tmp_path / "mine"),
            f"{tmp_path / 'mine'} holds files that are not from catdog-export "
            "(thesis.tex); it would be replaced whole: give --out a new or "
            "empty folder",
        ),
    ]
    for args, message in cases:
        result = run_cli("catdog-export", *args, "--formats", "tflite")
        assert_fails(result, 2, f"catdog-export: error: {message}")
        assert len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "mine" / "thesis.tex").is_file() and not (bad_runs["text"] / "export").exists()


def test_eval_reports_corrupt_images_and_refuses_a_folder_of_them(tiny_run, bad_runs, shared_data, tmp_path):
    corrupt, some = tmp_path / "corrupt", tmp_path / "some"
    for label in ("cats", "dogs"):
        (corrupt / label).mkdir(parents=True)
        (corrupt / label / "1.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
        (some / label).mkdir(parents=True)
        for source in sorted((shared_data / "validation" / label).glob("*.jpg"))[:3]:
            shutil.copy(source, some / label / source.name)
    (some / "dogs" / "broken.jpg").write_text("not an image")
    (some / "dogs" / "readme.txt").write_text("notes")

    result = run_cli("catdog-eval", tiny_run, "--data", some, "--json")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert json.loads(result.stdout)["images"] == 6
    assert stderr_lines(result, "catdog-eval: skipped") == {
        f"catdog-eval: skipped 1 file (not an image): {some / 'dogs' / 'readme.txt'}",
        f"catdog-eval: skipped 1 file (unreadable): {some / 'dogs' / 'broken.jpg'}",
    }

    result = run_cli("catdog-eval", tiny_run, "--data", corrupt)
    assert_fails(result, 2, f"catdog-eval: error: no image to evaluate in {corrupt}: every file was skipped")
    assert (
        f"catdog-eval: skipped 2 files (unreadable): {corrupt / 'cats' / '1.jpg'}, {corrupt / 'dogs' / '1.jpg'}"
        in result.stderr
    )
    assert_fails(
        run_cli("catdog-eval", bad_runs["config"]),
        2,
        f"catdog-eval: error: {bad_runs['config'] / 'config.json'} is not valid JSON "
        "(Expecting ',' delimiter: line 1 column 28 (char 27))",
    )
    assert_fails(
        run_cli("catdog-eval", bad_runs["truncated"]),
        2,
        f"catdog-eval: error: cannot load model {bad_runs['truncated'] / 'model.keras'}: {NOT_A_ZIP}",
    )


# -- an export killed mid-way ------------------------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, str]:
    """Every file of a folder (hidden ones too) and its SHA-256; parity.json without its timings."""
    files = {}
    for path in sorted(folder.iterdir()):
        if path.name == "parity.json":
            results = json.loads(path.read_text())["results"]
            files[path.name] = json.dumps(
                {k: {f: v for f, v in row.items() if f != "export_seconds"} for k, row in results.items()},
                sort_keys=True,
            )
        else:
            files[path.name] = file_sha256(path)
    return files


def leftovers(out: Path) -> list[Path]:
    """Hidden siblings an export into `out` makes while it runs (its new folder, the old one put aside)."""
    return sorted(out.parent.glob(f".{out.name}.*"))


def kill_points(out: Path, pid: int) -> dict:
    """When to kill the export with this process id: tests of what it has written so far, by name."""
    new = out.with_name(f".{out.name}.partial-{pid}")
    return {
        "starting up": lambda seconds: seconds > 2,
        "new folder begun": lambda seconds: new.exists(),
        "first artifact being written": lambda seconds: any(new.glob(".model_fp32*")),
        "first artifact and its sidecar written": lambda seconds: (new / "model_fp32.tflite.json").exists(),
        "second artifact being written": lambda seconds: any(new.glob(".model_fp16*")),
        "new folder in place": lambda seconds: not (out / "model_int8.tflite").exists(),
    }


def test_an_export_killed_anywhere_leaves_the_old_or_the_new_export(tiny_export, tiny_run, tmp_path):
    """SIGKILL at six points of a re-export (two formats instead of five) over a complete export: each time the
    folder is exactly the old export or exactly the new one; the next export removes every leftover."""
    out = tmp_path / "export"
    shutil.copytree(tiny_export, out)
    (out / ".model_int8.partial-999999.float.onnx").write_bytes(b"left by an older catdog-export")
    old = snapshot(out)
    args = [tiny_run, "--formats", "tflite", "--fp16", "--max-drop", "100", "--min-agreement", "0", "--out", out]
    command = [str(Path(sys.executable).parent / "catdog-export"), *map(str, args)]
    env = {**os.environ, "CATDOG_WEIGHTS_DIR": str(WEIGHTS), "TF_CPP_MIN_LOG_LEVEL": "3"}
    states, killed_running, left = [], [], []
    for point in range(6):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        name, due = list(kill_points(out, process.pid).items())[point]
        started = time.monotonic()
        while process.poll() is None and not due(time.monotonic() - started):
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        killed_running.append(process.wait() == -signal.SIGKILL)
        states.append((name, snapshot(out)))
        left = left or leftovers(out)
    assert all(killed_running[:5]), killed_running  # the last point may come after the export has ended
    assert left  # the killed exports left their new folders behind

    run_cli("catdog-export", *args, check=True)
    new = snapshot(out)
    assert set(new) == {
        "model_fp32.tflite",
        "model_fp32.tflite.json",
        "model_fp16.tflite",
        "model_fp16.tflite.json",
        "parity.md",
        "parity.json",
    }
    for name, state in states:
        assert state in (old, new), f"killed at '{name}': the folder is neither the old nor the new export"
    assert [state == old for _, state in states] == [True] * 5 + [False]
    assert not leftovers(out)  # and the next export removed them


def test_a_folder_swap_killed_between_its_two_renames_is_undone(tmp_path):
    """The one moment of atomic_folder with nothing at the path: the next run puts the old folder back first."""
    from catdog.runtime.files import atomic_folder

    dead = subprocess.Popen(["true"])
    dead.wait()
    target = tmp_path / "export"
    old, new = (tmp_path / f".export.{kind}-{dead.pid}" for kind in ("old", "partial"))
    for folder, name in ((old, "model_int8.tflite"), (new, "model_fp32.tflite")):
        folder.mkdir()
        (folder / name).write_text(name)
    seen = None
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as fresh:
            seen = sorted(p.name for p in target.iterdir())
            (fresh / "half").write_text("an export that fails")
            raise RuntimeError
    assert seen == ["model_int8.tflite"] and sorted(p.name for p in target.iterdir()) == ["model_int8.tflite"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


# -- resume points, the tuner's folder ----------------------------------------------------------------------

FORGE = """
import json, sys
from pathlib import Path
from catdog.runtime.files import read_json
from catdog.train.models import build_model
from catdog.train.resume import run_identity
run, other = Path(sys.argv[1]), sys.argv[2]
build_model("cnn2", 96, 2, weights="none")[0].save(other)
ends = ("temperature", "background", "min_probability")  # what config.json adds to the recipe at the end
recipe = {k: v for k, v in read_json(run / "config.json").items() if k not in ends}
print(json.dumps({"recipe": recipe, "run": run_identity(recipe, read_json(run / "split.json"))}))
"""


@pytest.fixture(scope="module")
def resumable(tiny_run, tmp_path_factory) -> tuple[Path, dict, Path]:
    """A copy of the tiny run with its model as resume.keras, the recipe and identity its resume points carry
    (as catdog-train works them out: {"recipe": ..., "run": ...}), and another run's network (a cnn2) saved as a
    .keras file."""
    root = tmp_path_factory.mktemp("resumable")
    run, other = root / "run", root / "cnn2.keras"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("export"))
    shutil.copy(run / "model.keras", run / "resume.keras")
    forged = subprocess.run([sys.executable, "-c", FORGE, str(run), str(other)], capture_output=True, text=True)
    assert forged.returncode == 0, forged.stderr
    return run, json.loads(forged.stdout.splitlines()[-1]), other


def resume_with(run: Path, state, model: Path | None = None):
    """catdog-train --resume RUN with `state` as its resume.json (text as it is, else as JSON; and `model` as its
    resume.keras)."""
    (run / "resume.json").write_text(state if isinstance(state, str) else json.dumps(state))
    if model:
        shutil.copy(model, run / "resume.keras")
    return run_cli("catdog-train", "--resume", run, "--quiet")


def test_a_resume_point_that_is_not_whole_or_not_this_runs_is_refused(resumable):
    run, forged, other = resumable
    identity, recipe = forged["run"], forged["recipe"]
    state = {
        "phase": 1,
        "epochs_done": 1,
        "head_epochs": None,
        "history": {"loss": [0.7], "val_loss": [0.6]},
        "checkpoint_best": 0.6,
        "stop_best": 0.6,
        "stop_wait": 0,
        "seconds": 3.0,
        "run": identity,
        "recipe": recipe,
    }
    resume_json, resume_keras = run / "resume.json", run / "resume.keras"
    another = {**identity, "model": "cnn2", "split": "0123456789abcdef"}
    cases = [
        ({}, None, f"{resume_json} is not a resume point catdog-train wrote: no 'phase'"),
        (
            "{",
            None,
            f"{resume_json} is not valid JSON (Expecting property name enclosed in double quotes: line 1 "
            "column 2 (char 1))",
        ),
        (
            {k: v for k, v in state.items() if k != "recipe"},
            None,
            f"{resume_json} is not a resume point catdog-train wrote: no 'recipe'",
        ),
        (
            {**state, "recipe": ["mobilenetv2"]},
            None,
            f"{resume_json} is not a resume point catdog-train wrote: 'recipe' is [\"mobilenetv2\"]",
        ),
        (
            {**state, "recipe": {**recipe, "learning_rate": 0.1}},
            None,
            f"{resume_json}'s recipe: unknown key 'learning_rate' (not an option of catdog-train)",
        ),
        (
            {**state, "recipe": {**recipe, "hyperparameters": {**recipe["hyperparameters"], "batch_size": 0}}},
            None,
            f"{resume_json}'s recipe: argument --batch-size: must be an integer >= 1, not 0",
        ),
        (
            {**state, "recipe": {**recipe, "size": "big"}},
            None,
            f"{resume_json}'s recipe: argument --size: must be an integer in [32, 512], not 'big'",
        ),
        (
            {**state, "epochs_done": "1"},
            None,
            f"{resume_json} is not a resume point catdog-train wrote: 'epochs_done' is \"1\"",
        ),
        (
            {**state, "run": another},
            None,
            f"{resume_json} belongs to another run (model cnn2, split 0123456789abcdef; this run: model mobilenetv2, "
            f"split {identity['split']}): not resumed",
        ),
        (
            state,
            other,
            f"{resume_keras} is not this run's mobilenetv2 network (its weights differ in number or shape: another "
            "run's?): not resumed",
        ),
    ]
    for content, model, message in cases:
        assert_fails(resume_with(run, content, model), 2, f"catdog-train: error: {message}")
        assert not list(run.parent.glob(".run.*"))  # the run folder stays as it was: nothing half-resumed


def test_a_run_config_is_read_back_as_it_was_written(tiny_run):
    from catdog.train.cli import parse_args

    config = json.loads((tiny_run / "config.json").read_text())
    args = parse_args(["--config", str(tiny_run / "config.json")])
    assert {key: getattr(args, key) for key in config["hyperparameters"]} == config["hyperparameters"]
    assert (args.model, args.alpha, args.size, args.data) == ("mobilenetv2", 0.35, 96, config["data"])


def test_tune_refuses_an_out_folder_under_a_file(tiny_data, tmp_path):
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile", tmp_path / "afile" / "tune"):
        result = run_cli("catdog-tune", "--data", tiny_data, "--out", out)
        assert_fails(
            result, 2, f"catdog-tune: error: cannot use --out {out}: {tmp_path / 'afile'} is a file, not a folder"
        )
        assert len(result.stderr.strip().splitlines()) == 1
