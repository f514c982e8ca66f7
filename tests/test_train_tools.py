"""Training tools on real photos: the numpy MLP and its Keras twin, the from-scratch CNNs, the learning-rate
range test, --config, and catdog-tune (local and distributed over Keras Tuner's oracle)."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
from support import TINY, WEIGHTS, make_class_folders, run_cli


def test_mlp_backward_matches_finite_differences():
    from catdog.train import mlp

    rng = np.random.default_rng(0)
    x, y = rng.random((6, 5)), np.array([0, 1, 2, 1, 0, 2])
    params = mlp.initialize(5, 4, 3, seed=1)
    _, cache = mlp.forward(params, x)
    grads = mlp.backward(params, cache, y, l2=0.01)
    for key in params:
        index = tuple(rng.integers(0, n) for n in params[key].shape)
        step = np.zeros_like(params[key])
        step[index] = 1e-6
        costs = []
        for sign in (1, -1):
            params[key] += sign * step
            costs.append(mlp.cost(mlp.forward(params, x)[0], y, params, l2=0.01))
            params[key] -= sign * step
        assert abs((costs[0] - costs[1]) / 2e-6 - grads[key][index]) < 1e-6, key


def test_mlp_features_are_what_the_keras_model_computes():
    import keras

    from catdog.train import mlp
    from catdog.train.models import build_model, mlp_pool

    model, base = build_model("mlp", 96, 2)
    assert base is None and mlp_pool(96) == 3
    pixels = np.random.default_rng(0).integers(0, 256, (2, 96, 96, 3)).astype(np.float32)
    flatten = keras.Model(model.input, model.get_layer("hidden").input)
    assert np.allclose(flatten.predict(pixels, verbose=0), mlp.features(pixels, 3), atol=1e-6)


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory, tiny_data):
    runs = tmp_path_factory.mktemp("mlp_runs")
    result = run_cli(
        "catdog-train",
        "--data",
        tiny_data,
        "--model",
        "mlp",
        "--size",
        "64",
        "--epochs",
        "8",
        "--batch-size",
        "16",
        "--runs-dir",
        runs,
        "--name",
        "mlp",
        check=True,
    )
    assert "numpy vs Keras: largest probability difference" in result.stdout
    assert "images loaded in" in result.stdout and "s (8 epochs)" in result.stdout
    return runs / "mlp"


def test_mlp_run_gives_numpy_probabilities_through_keras(mlp_run):
    import keras

    from catdog.train import mlp

    assert {"model.keras", "config.json", "metrics.json", "history.json", "curves.png", "mlp.json"} <= {
        p.name for p in mlp_run.iterdir()
    }
    report = json.loads((mlp_run / "mlp.json").read_text())
    assert report["numpy_keras_max_difference"] < 1e-5
    # where the time went, reported apart (image loading, numpy training, the Keras check)
    assert all(report[k] > 0 for k in ("load_seconds", "train_seconds", "keras_check_seconds"))
    history = json.loads((mlp_run / "history.json").read_text())
    assert len(history["loss"]) == 8 and history["loss"][-1] < history["loss"][0]
    # The saved Keras model's dense weights, run through the numpy forward pass on real photos.
    model = keras.models.load_model(mlp_run / "model.keras", compile=False)
    params = dict(zip(("W1", "b1"), model.get_layer("hidden").get_weights()))
    params.update(zip(("W2", "b2"), model.get_layer("probabilities").get_weights()))
    split = json.loads((mlp_run / "split.json").read_text())
    pixels, _ = mlp.load_pixels([tuple(i) for i in split["validation"]], 64)
    numpy_probabilities, _ = mlp.forward({k: v.astype(np.float64) for k, v in params.items()}, mlp.features(pixels, 2))
    keras_probabilities = model.predict(pixels.astype(np.float32), verbose=0)
    assert np.abs(numpy_probabilities - keras_probabilities).max() < 1e-5
    assert len(set(keras_probabilities.argmax(axis=1))) == 2  # it learnt something: both classes predicted


def test_mlp_exports_and_makes_a_baselines_row(mlp_run, tmp_path, monkeypatch):
    import importlib.util

    from support import ROOT

    run_cli(
        "catdog-export",
        mlp_run,
        "--int8",
        "--calibration-size",
        "16",
        "--max-drop",
        "100",
        "--min-agreement",
        "0",
        check=True,
    )
    parity = json.loads((mlp_run / "export" / "parity.json").read_text())
    assert {"model_int8.tflite", "model_int8.onnx"} <= {p.name for p in (mlp_run / "export").iterdir()}

    monkeypatch.syspath_prepend(ROOT / "benchmarks")  # as `python benchmarks/baselines.py` has it: its siblings
    spec = importlib.util.spec_from_file_location("baselines", ROOT / "benchmarks" / "baselines.py")
    baselines = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(baselines)
    assert baselines.main([str(mlp_run), "--out", str(tmp_path), "--timing-runs", "4"]) == 0
    [row] = json.loads((tmp_path / "baselines.json").read_text())["rows"]
    metrics = json.loads((mlp_run / "metrics.json").read_text())
    assert (row["model"], row["accuracy"], row["log_loss"]) == ("mlp", metrics["accuracy"], metrics["log_loss"])
    assert row["int8_accuracy"] == parity["results"]["model_int8.tflite"]["accuracy"] and row["int8_ms"] > 0
    assert row["command"].startswith("catdog-train --model mlp --size 64 --epochs 8 --batch-size 16 --data ")
    assert row["int8_threads"] >= 1
    table = (tmp_path / "baselines.md").read_text()
    assert "| mlp | none | 64 |" in table
    assert f"median of 4 inferences (catdog.runtime.auto.time_inference) at {row['int8_threads']} thread" in table
    # a pretrained architecture trained from scratch says so, and why (no ResNet ImageNet weights in ../shared)
    assert baselines.weights_cell({"model": "resnet50", "weights": "none"}) == (
        "none: from scratch (no resnet50 ImageNet weights here)"
    )
    assert baselines.weights_cell({"model": "mobilenetv2", "alpha": 1.0, "weights": "none"}) == "none: from scratch"
    assert baselines.weights_cell({"model": "cnn8", "weights": "imagenet"}) == "none"


def test_config_reproduces_a_run_and_flags_override_it(mlp_run, tmp_path):
    again = run_cli(
        "catdog-train",
        "--config",
        mlp_run / "config.json",
        "--runs-dir",
        tmp_path,
        "--name",
        "again",
        "--quiet",
        check=True,
    )
    assert "validation accuracy" in again.stdout
    first, second = (json.loads((folder / "metrics.json").read_text()) for folder in (mlp_run, tmp_path / "again"))
    assert first["confusion_matrix"] == second["confusion_matrix"] and first["log_loss"] == second["log_loss"]

    from catdog.train.cli import parse_args

    args = parse_args(["--config", str(mlp_run / "config.json"), "--epochs", "3"])
    assert (args.model, args.size, args.batch_size, args.epochs) == ("mlp", 64, 16, 3)


def test_config_that_is_not_json(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    result = run_cli("catdog-train", "--config", bad)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"catdog-train: error: --config {bad}: not a readable JSON object" in result.stderr


def test_cnn_variants():
    import keras

    from catdog.train.models import build_model

    def count(model, kind):
        return sum(isinstance(layer, kind) for layer in model.layers)

    for name, convs in (("cnn2", 2), ("cnn4", 4), ("cnn8", 8)):
        model, base = build_model(name, 96, 2)
        assert base is None and model.output_shape == (None, 2) and count(model, keras.layers.Conv2D) == convs
        assert count(model, keras.layers.Dropout) == 1
        assert count(model, keras.layers.BatchNormalization) == (8 if name == "cnn8" else 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old, _ = build_model("cnn", 96, 2)
    assert old.name == "cnn4" and "cnn4" in str(caught[0].message)


def test_find_lr_writes_the_plot_and_the_suggestion(tmp_path, tiny_data):
    result = run_cli(
        "catdog-train",
        "--data",
        tiny_data,
        *TINY,
        "--find-lr",
        "--find-lr-steps",
        "6",
        "--runs-dir",
        tmp_path,
        "--name",
        "find",
        check=True,
    )
    found = json.loads((tmp_path / "find" / "lr_find.json").read_text())
    assert found["phase"] == "head" and 2 <= found["steps_run"] <= 6 == found["steps"]
    assert found["rates"][0] == pytest.approx(1e-7) and all(np.diff(found["rates"]) > 0)
    assert found["suggested_lr"] == pytest.approx(found["rates"][int(np.argmin(found["smoothed"]))] / 10)
    assert f"suggested rate {found['suggested_lr']:.3g}" in result.stdout
    assert (tmp_path / "find" / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "find" / "model.keras").exists()


def test_lr_find_trains_with_the_suggestion(tmp_path, tiny_data):
    run_cli(
        "catdog-train",
        "--data",
        tiny_data,
        *TINY,
        "--lr",
        "find",
        "--find-lr-steps",
        "6",
        "--fine-tune-epochs",
        "0",
        "--runs-dir",
        tmp_path,
        "--name",
        "found",
        check=True,
    )
    run = tmp_path / "found"
    found = json.loads((run / "lr_find.json").read_text())
    assert json.loads((run / "config.json").read_text())["hyperparameters"]["lr"] == found["suggested_lr"]
    assert (run / "model.keras").is_file()


TUNE = [*TINY, "--fine-tune-epochs", "0", "--max-images", "32"]  # the tiny recipe, one phase, a few images


def trial_runs(out) -> dict[str, list[dict]]:
    """Every time each trial ran, as its runs.jsonl records it."""
    return {
        folder.name: [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
        for folder in sorted((out / "keras_tuner").glob("trial_*"))
    }


def test_tune_with_an_oracle_and_two_workers_then_resume(tmp_path, tiny_data):
    out = tmp_path / "tune"
    result = run_cli(
        "catdog-tune", "--data", tiny_data, *TUNE, "--trials", "2", "--workers", "2", "--out", out, check=True
    )
    assert "2 local workers" in result.stdout
    table = json.loads((out / "trials.json").read_text())
    assert [row["status"] for row in table["trials"]] == ["COMPLETED", "COMPLETED"]
    runs = trial_runs(out)
    assert len(runs) == 2 and all(len(ran) == 1 for ran in runs.values())  # every trial ran exactly once
    assert {row["worker"] for row in table["trials"]} <= {"tuner0", "tuner1"}
    assert {ran[0]["worker"] for ran in runs.values()} == {row["worker"] for row in table["trials"]}
    assert all(0 <= row["selection_loss"] < 10 and 0 <= row["selection_accuracy"] <= 1 for row in table["trials"])
    # a trial's seconds in the table are those its run recorded (not Keras Tuner's float32 of them)
    assert all(row["seconds"] == runs[f"trial_{row['trial']}"][0]["seconds"] for row in table["trials"])
    assert len([line for line in (out / "trials.md").read_text().splitlines() if line.startswith("| ")]) == 3
    assert (out / "search.png").read_bytes()[:4] == b"\x89PNG"

    from catdog.train.cli import parse_args

    best = json.loads((out / "best.json").read_text())
    chosen = next(row for row in table["trials"] if row["trial"] == best["trial"])
    assert chosen["selection_loss"] == min(row["selection_loss"] for row in table["trials"])
    args = parse_args(["--config", str(out / "best.json")])
    assert (
        args.lr,
        args.fine_tune_lr,
        args.dropout,
        args.fine_tune_layers,
        args.augment_strength,
        args.l2,
        args.alpha,
        args.size,
    ) == (
        chosen["lr"],
        chosen["fine_tune_lr"],
        chosen["dropout"],
        chosen["fine_tune_layers"],
        chosen["augment_strength"],
        chosen["l2"],
        0.35,
        96,
    )

    # Resumed in this process: both trials are finished, none runs again and the reports are the same.
    result = run_cli("catdog-tune", "--data", tiny_data, *TUNE, "--trials", "2", "--out", out, check=True)
    assert "(2 already in" in result.stdout
    assert trial_runs(out) == runs
    assert json.loads((out / "trials.json").read_text()) == table


def test_tune_refuses_data_it_cannot_train_on_in_one_line_before_any_trial(tmp_path):
    one_class = make_class_folders(tmp_path / "pets", 4)
    shutil.rmtree(one_class / "dogs")
    for data, says in ((tmp_path / "nope", "data folder not found"), (one_class, "need at least two classes")):
        result = run_cli("catdog-tune", "--data", data, *TUNE, "--out", tmp_path / "tune")
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        [line] = [line for line in result.stderr.splitlines() if line.startswith("catdog-")]
        assert line.startswith(f"catdog-tune: error: {says}")
        assert "Trial" not in result.stdout and not (tmp_path / "tune").exists()


def sharpness(pixels: np.ndarray) -> float:
    """Mean variance of the Laplacian over a batch of RGB images: how much fine detail they keep."""
    import cv2

    return float(np.mean([cv2.Laplacian(cv2.cvtColor(p, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for p in pixels]))


def test_source_disguise_blurs_and_recompresses_real_photos_anew_each_epoch(tiny_data):
    from catdog.train.data import make_tf_dataset, source_disguise

    items = [(str(p), 0) for p in sorted((tiny_data / "train" / "cats").glob("*.jpg"))[:16]]

    def epochs(disguise, count=2, seed=0):
        ds = make_tf_dataset(items, 160, 16, disguise=disguise, seed=seed)
        return [next(iter(ds))[0].numpy().round().astype(np.uint8) for _ in range(count)]

    (plain,) = epochs(None, 1)
    first, second = epochs(source_disguise(1.0))
    assert first.shape == plain.shape and first.dtype == plain.dtype
    assert sharpness(first) < 0.8 * sharpness(plain), "detail lost to the lower resolution and JPEG quality"
    assert np.abs(first.astype(int) - second).mean() > 1, "each epoch disguises each photo differently"
    assert all(np.array_equal(a, b) for a, b in zip(epochs(source_disguise(1.0)), (first, second))), "seeded"
    (gentle,) = epochs(source_disguise(0.0), 1)
    assert np.abs(gentle.astype(int) - plain).mean() < 3, "strength 0: full resolution, JPEG quality 94-95"


def test_tune_stops_in_one_line_when_its_trials_cannot_build_the_model(tmp_path, tiny_data):
    wrong = next(WEIGHTS.glob("mobilenet_v2_1.0_*.h5"))  # alpha 1.0 weights for the alpha 0.35 trials
    out = tmp_path / "tune"
    result = run_cli("catdog-tune", "--data", tiny_data, *TUNE, "--weights", wrong, "--trials", "3", "--out", out)
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("catdog-")]
    assert line.startswith(f"catdog-tune: error: weights {wrong} do not fit mobilenetv2 alpha 0.35 at 96 px")
    assert len(list((out / "keras_tuner").glob("trial_*"))) == 1  # the first trial stops the search


def test_tune_refuses_values_that_go_together_in_no_run_before_any_trial(tmp_path):
    result = run_cli("catdog-tune", "--model", "resnet50", "--alpha", "0.35", "--out", tmp_path / "tune")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "catdog-tune: error: --alpha 0.35 is MobileNetV2's width: --model resnet50 has none"
    )
    assert not (tmp_path / "tune").exists()
