"""catdog-predict and model choice (the fastest here, cached; --backend) on the tiny model's real exports and
real photos."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import run_cli

from catdog.runtime.auto import ModelChoiceError, load_model, pick_fastest, threads_text
from catdog.runtime.metadata import sidecar_path

ARTIFACTS = ["model_fp32.tflite", "model_fp16.tflite", "model_int8.tflite", "model_fp32.onnx", "model_int8.onnx"]


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def assert_error(result, code: int, *words: str) -> None:
    """Exit `code`, no traceback, and the last stderr line is the error, naming `words`."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "error" in last and all(word in last for word in words), last


def using_line(result) -> str:
    """The line that says which artifact was chosen and why."""
    return next(line for line in result.stderr.splitlines() if line.startswith("catdog-predict: using "))


def cache_file(line: str) -> Path:
    """The cache file a "using" line names."""
    return Path(re.search(r"(?:cached in|from the cache) (\S+\.json)", line).group(1))


def copy_artifact(tiny_export, name, target, **changes):
    """A copy of one artifact whose sidecar has `changes` applied at its top level."""
    shutil.copy(tiny_export / name, target / name)
    metadata = json.loads(sidecar_path(tiny_export / name).read_text())
    sidecar_path(target / name).write_text(json.dumps({**metadata, **changes}))
    return target / name


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_predictions_match_the_export_parity_table(tiny_export, artifact):
    parity = json.loads((tiny_export / "parity.json").read_text())
    result = run_cli("catdog-predict", "--model", tiny_export / artifact, *parity["images"], "--json", check=True)
    rows = json_lines(result.stdout)
    assert [row["path"] for row in rows] == parity["images"]
    predicted = [parity["labels"].index(row["label"]) for row in rows]
    assert predicted == parity["results"][artifact]["predicted"]


def test_csv_is_a_kaggle_submission(tiny_export, shared_data, tmp_path):
    photos = tmp_path / "photos"
    (photos / "more").mkdir(parents=True)
    ids = {"17.jpg": 17, "dog.2001.jpg": 2001, "more/3.png": 3, "cat.45.jpg": 45, "more/cat.2002.jpg": 2002}
    sources = (
        sorted((shared_data / "validation" / "dogs").glob("*.jpg"))[:3]
        + sorted((shared_data / "validation" / "cats").glob("*.jpg"))[:2]
    )
    for source, name in zip(sources, ids):
        shutil.copy(source, photos / name)
    out = tmp_path / "sub" / "submission.csv"
    result = run_cli("catdog-predict", "--model", tiny_export, photos, "--json", "--csv", out, check=True)
    assert "model_fp32.tflite: " in result.stderr and "the most precise that passed parity" in result.stderr
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "label"]
    submitted = {int(i): float(probability) for i, probability in rows[1:]}
    assert len(rows) == 6 and sorted(submitted) == sorted(ids.values())
    assert all(0.005 <= probability <= 0.995 for probability in submitted.values())  # clipped by default
    for row in json_lines(result.stdout):
        name = Path(row["path"]).relative_to(photos).as_posix()
        expected = min(max(row["probabilities"]["dogs"], 0.005), 0.995)
        assert submitted[ids[name]] == pytest.approx(expected, abs=1e-6)
    assert list(out.parent.iterdir()) == [out]  # no partial file left beside it
    chosen = result.stderr.split("using ")[1].split(":")[0].rsplit("/", 1)[-1]
    assert f"wrote {out} (P(dog) from {chosen}, clipped to [0.005, 0.995])" in result.stderr.splitlines()[-1]
    unclipped = run_cli("catdog-predict", "--model", tiny_export, photos, "--csv", out, "--clip", "0", check=True)
    assert "not clipped" in unclipped.stderr.splitlines()[-1]


def test_unreadable_images_are_reported_and_counted(tiny_export, shared_data, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    good = sorted((shared_data / "validation" / "cats").glob("*.jpg"))[0]
    result = run_cli(
        "catdog-predict", "--model", tiny_export / "model_int8.onnx", broken, good, tmp_path / "missing.jpg"
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == [str(good)]
    assert result.stderr.splitlines()[-3:-1] == [
        f"catdog-predict: skipped 1 file (unreadable): {broken}",
        f"catdog-predict: skipped 1 file (not found): {tmp_path / 'missing.jpg'}",
    ]
    assert "catdog-predict: 1 image classified, 2 files skipped, inference median" in result.stderr


def test_missing_model(tmp_path):
    result = run_cli("catdog-predict", "--model", tmp_path / "model_int8.tflite", tmp_path)
    assert_error(result, 2, "model not found")
    assert len([line for line in result.stderr.splitlines() if "error" in line]) == 1


def test_csv_needs_a_dog_label(tiny_export, shared_data, tmp_path):
    model = copy_artifact(tiny_export, "model_int8.tflite", tmp_path, labels=["cats", "birds"])
    result = run_cli(
        "catdog-predict", "--model", model, shared_data / "validation" / "cats", "--csv", tmp_path / "s.csv"
    )
    assert_error(result, 2, "'dog'", "birds")
    assert not (tmp_path / "s.csv").exists()


def test_choosing_by_backend(tiny_export, tmp_path):
    assert load_model(tiny_export, "preferred")[0].path.name == "model_int8.tflite"
    assert load_model(tiny_export, "onnx")[0].path.name == "model_int8.onnx"
    assert load_model(tiny_export, "precise")[0].path.name == "model_fp32.tflite"
    assert load_model(tiny_export / "model_fp16.tflite", "tflite")[0].sidecar.precision == "fp16"
    with pytest.raises(ModelChoiceError, match="not a onnx model"):
        load_model(tiny_export / "model_int8.tflite", "onnx")
    # int8 failed parity: the folder's default falls back to the next precision
    failed = copy_artifact(tiny_export, "model_int8.tflite", tmp_path, parity={"passed": False})
    copy_artifact(tiny_export, "model_fp16.tflite", tmp_path)
    classifier, note = load_model(failed.parent, "preferred")
    assert classifier.path.name == "model_fp16.tflite", note
    assert load_model(failed.parent, "precise")[0].path.name == "model_fp16.tflite"  # no fp32 here


def test_auto_picks_the_fastest_that_passed_parity(tiny_export, tmp_path):
    failing = "model_fp32.onnx"
    artifacts = [copy_artifact(tiny_export, name, tmp_path) for name in ARTIFACTS]
    copy_artifact(tiny_export, failing, tmp_path, parity={"passed": False})
    classifier, line = pick_fastest(artifacts, threads=1)
    others = re.findall(r"(model_\w+\.\w+) [\d.]+ ms", line)
    assert line.startswith(f"using {classifier.path}: ") and f"; skipped {failing}: failed parity; measured now" in line
    assert sorted([classifier.path.name, *others]) == sorted(set(ARTIFACTS) - {failing})
    timings = json.loads(cache_file(line).read_text())["median_ms"]
    assert sorted(timings) == sorted(set(ARTIFACTS) - {failing})
    assert min(timings, key=timings.get) == classifier.path.name
    again, line = load_model(tmp_path, "auto", threads=1)
    assert again.path == classifier.path and "; from the cache " in line


def test_runtime_never_imports_tensorflow(tiny_export, shared_data):
    image = sorted((shared_data / "validation" / "dogs").glob("*.jpg"))[0]
    code = (
        "import sys; import catdog.runtime, catdog.runtime.cam, catdog.runtime.predict, catdog.runtime.auto\n"
        "from catdog.runtime import Classifier\n"
        f"for name in ('model_int8.tflite', 'model_int8.onnx'): Classifier({str(tiny_export)!r} + '/' + name)"
        f".classify_file({str(image)!r})\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_model_as_first_argument_still_works_for_one_release(tiny_export, camera_photos):
    old = run_cli("catdog-predict", tiny_export, camera_photos, "--json", check=True)
    new = run_cli("catdog-predict", "--model", tiny_export, camera_photos, "--json", check=True)
    assert old.stderr.splitlines()[0] == (
        f"catdog-predict: note: the model as first argument is deprecated and goes in 0.3; use --model {tiny_export}"
    )
    assert "deprecated" not in new.stderr
    rows = [[json.loads(line) for line in result.stdout.splitlines()] for result in (old, new)]
    assert [(r["source"], r["probabilities"]) for r in rows[0]] == [(r["source"], r["probabilities"]) for r in rows[1]]
    assert all(r["path"] == r["source"] for r in rows[1])  # the key before 0.2, kept until 0.3


def test_an_export_folder_means_its_fastest_artifact_timed_once_then_cached(
    camera_photos, tiny_export, cache_dir, tmp_path
):
    folder = tmp_path / "export"
    shutil.copytree(tiny_export, folder)
    first = using_line(run_cli("catdog-predict", "--model", folder, camera_photos, check=True))
    match = re.fullmatch(
        rf"catdog-predict: using {re.escape(str(folder))}/(model_\w+\.\w+): .+; fastest of 5 that passed parity: "
        rf"[\d.]+ ms median vs .+; measured now, cached in {re.escape(str(cache_dir))}/fastest-\w+\.json",
        first,
    )
    assert match, first
    chosen, cache = match.group(1), cache_file(first)
    assert cache.is_file()
    for name in set(ARTIFACTS) - {chosen}:
        (folder / name).write_bytes(b"not a model")  # loading one now fails its SHA-256 check
    for model in (folder, tmp_path):  # the export folder, and the run folder it is in
        again = using_line(run_cli("catdog-predict", "--model", model, camera_photos, check=True))
        # the same choice and the same timings, read back without loading (or timing) the others
        assert again.startswith(first.split("; measured now")[0] + f"; from the cache {cache} (measured "), again
    assert list(cache_dir.iterdir()) == [cache]


@pytest.mark.parametrize("damage", ["unparsable", "wrong types", "another SHA-256", "other threads", "another CPU"])
def test_a_corrupt_or_stale_cache_entry_is_measured_again(tiny_export, camera_photos, damage):
    args = ("catdog-predict", "--model", tiny_export, camera_photos)
    cache = cache_file(using_line(run_cli(*args, check=True)))
    entry = json.loads(cache.read_text())
    changes = {
        "wrong types": {"median_ms": {name: "fast" for name in entry["median_ms"]}},
        "another SHA-256": {"artifacts": {**entry["artifacts"], "model_int8.tflite": "0" * 64}},
        "other threads": {"threads": entry["threads"] + 1},
        "another CPU": {"machine": {**entry["machine"], "cpu": "another CPU"}},
    }
    cache.write_text('{"machine": ' if damage == "unparsable" else json.dumps({**entry, **changes[damage]}))
    again = using_line(run_cli(*args, check=True))
    assert again.endswith(f"; measured now, cached in {cache}"), again
    rewritten = json.loads(cache.read_text())
    assert {key: rewritten[key] for key in ("machine", "threads", "artifacts")} == {
        key: entry[key] for key in ("machine", "threads", "artifacts")
    }
    assert list(cache.parent.iterdir()) == [cache]  # written whole, no partial file beside it


@pytest.mark.parametrize(("backend", "chosen"), [("onnx", "model_int8.onnx"), ("preferred", "model_int8.tflite")])
def test_a_backend_chooses_as_before_without_timing(tiny_export, camera_photos, cache_dir, backend, chosen):
    result = run_cli("catdog-predict", "--model", tiny_export, camera_photos, "--backend", backend, check=True)
    name = f"{chosen.split('.')[1]} int8 ({'onnxruntime' if backend == 'onnx' else 'ai_edge_litert'})"
    threads = threads_text(len(os.sched_getaffinity(0)))
    assert using_line(result) == f"catdog-predict: using {tiny_export / chosen}: {name}, {threads}"
    assert not any(cache_dir.iterdir())


def without_onnxruntime(*args) -> subprocess.CompletedProcess:
    """catdog-predict as it runs on the base install, where onnxruntime is not installed (the `[onnx]` extra):
    importing it fails exactly as it does there (a None entry in sys.modules makes `import` raise ImportError)."""
    code = "import sys; sys.modules['onnxruntime'] = None; from catdog.runtime.predict import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=os.environ.copy()
    )


def test_without_onnxruntime_a_folder_runs_its_tflite_and_says_why_the_onnx_were_left_out(tiny_export, shared_data):
    photo = shared_data / "validation" / "cats" / "cat.2000.jpg"
    result = without_onnxruntime("--model", tiny_export, photo)
    assert result.returncode == 0, result.stderr
    line = using_line(result)
    assert ".tflite:" in line.split(";")[0] and "fastest of 3 that passed parity" in line
    assert "model_int8.onnx: cannot load" in line and "pip install 'catdog[onnx]'" in line
    assert "cat.2000.jpg" in result.stdout


def test_without_onnxruntime_an_onnx_model_is_one_line_that_says_what_to_install(tiny_export, shared_data):
    photo = shared_data / "validation" / "cats" / "cat.2000.jpg"
    for model in (["--model", tiny_export, "--backend", "onnx"], ["--model", tiny_export / "model_int8.onnx"]):
        assert_error(without_onnxruntime(*model, photo), 2, "onnxruntime is not installed", "catdog[onnx]")
