"""catdog-train and catdog-eval end to end on a tiny model and real photos."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from support import DATA, TINY, WEIGHTS, make_class_folders, run_cli

RUN_FILES = {
    "model.keras",
    "config.json",
    "split.json",
    "history.json",
    "metrics.json",
    "curves.png",
    "reliability.png",
}


def error_lines(result) -> list[str]:
    """The tool's own error lines (TensorFlow may log other lines to stderr)."""
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("catdog-")]


def test_tiny_run_writes_every_file(tiny_run):
    assert RUN_FILES <= {p.name for p in tiny_run.iterdir()}
    assert not [p.name for p in tiny_run.iterdir() if "partial" in p.name or "checkpoint" in p.name]
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["labels"] == ["cats", "dogs"] and config["size"] == 96 and config["alpha"] == 0.35
    assert config["preparation"]["color"] == "RGB"
    history = json.loads((tiny_run / "history.json").read_text())
    assert len(history["loss"]) == 2 and history["head_epochs"] == 1  # one epoch per phase
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["images"] == 48 and 0 <= metrics["accuracy"] <= 1
    assert np.array(metrics["confusion_matrix"]).sum() == 48
    assert (tiny_run / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_tiny_run_chose_on_a_selection_split_recorded_in_split_json(tiny_run, tiny_data):
    split = json.loads((tiny_run / "split.json").read_text())
    train, selection, validation = ({p for p, _ in split[key]} for key in ("train", "selection", "validation"))
    assert len(selection) == 8 and len(train) == 72 and len(validation) == 48
    assert not train & selection and not train & validation and not selection & validation
    assert all("/train/" in p for p in train | selection) and all("/validation/" in p for p in validation)
    assert sorted(y for _, y in split["selection"]) == [0, 0, 0, 0, 1, 1, 1, 1]  # 10% of each class
    history = json.loads((tiny_run / "history.json").read_text())
    assert history["val_split"] == "selection"


def test_saved_model_reloads_with_the_same_predictions(tiny_run):
    import keras

    from catdog.train.evaluate import evaluate_model

    split = json.loads((tiny_run / "split.json").read_text())
    model = keras.models.load_model(tiny_run / "model.keras", compile=False)
    metrics = evaluate_model(model, [tuple(i) for i in split["validation"]], split["labels"], 96)
    saved = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["confusion_matrix"] == saved["confusion_matrix"]
    assert abs(metrics["log_loss"] - saved["log_loss"]) < 1e-5


def test_eval_prints_the_same_metrics(tiny_run, tiny_data):
    result = run_cli("catdog-eval", tiny_run, "--data", tiny_data, "--json", check=True)
    metrics = json.loads(result.stdout)
    saved = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["confusion_matrix"] == saved["confusion_matrix"]


def test_mirrored_strategy_on_two_logical_cpus_with_label_smoothing(tmp_path, tiny_data):
    result = run_cli(
        "catdog-train",
        "--data",
        tiny_data,
        *TINY,
        "--fine-tune-epochs",
        "0",
        "--max-images",
        "16",
        "--distribute",
        "mirrored",
        "--label-smoothing",
        "0.1",
        "--runs-dir",
        tmp_path,
        "--name",
        "mirrored",
        check=True,
    )
    assert "validation accuracy" in result.stdout
    assert (tmp_path / "mirrored" / "model.keras").is_file()
    config = json.loads((tmp_path / "mirrored" / "config.json").read_text())
    assert config["hyperparameters"]["label_smoothing"] == 0.1 and config["selection_images"] == 2


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--batch-size", "0", "argument --batch-size: must be an integer >= 1, not 0"),
        ("--validation-fraction", "1.5", "argument --validation-fraction: must be a number in (0, 1), not 1.5"),
        ("--epochs", "-1", "argument --epochs: must be an integer >= 1, not -1"),
        ("--selection-fraction", "1", "argument --selection-fraction: must be a number in [0, 1), not 1"),
        ("--label-smoothing", "-0.1", "argument --label-smoothing: must be a number in [0, 1), not -0.1"),
        ("--size", "16", "argument --size: must be an integer in [32, 512], not 16"),
        ("--fine-tune-epochs", "two", "argument --fine-tune-epochs: must be an integer >= 0, not 'two'"),
        ("--lr", "nan", "argument --lr: must be a number > 0, not nan"),
        ("--max-images", "1", "argument --max-images: must be an integer >= 2, not 1"),
        (
            "--name",
            "../elsewhere",
            "argument --name: must be a plain folder name (no '/', not starting with '.'), not '../elsewhere'",
        ),
    ],
)
def test_bad_options_are_refused_in_one_line(tmp_path, option, value, message):
    result = run_cli("catdog-train", option, value, "--runs-dir", tmp_path / "runs")
    assert result.returncode == 2
    assert error_lines(result) == [f"catdog-train: error: {message}"]
    assert not (tmp_path / "runs").exists()


def test_kaggle_class_without_training_image_stops_before_any_run_folder(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for source in [*sorted((DATA / "train" / "cats").iterdir())[:5], *sorted((DATA / "train" / "dogs").iterdir())[:5]]:
        (flat / source.name).symlink_to(source)
    (flat / "bird.1.jpg").symlink_to(DATA / "train" / "cats" / "cat.500.jpg")
    (flat / "cat..jpg").symlink_to(DATA / "train" / "cats" / "cat.501.jpg")
    result = run_cli("catdog-train", "--data", flat, *TINY, "--runs-dir", tmp_path / "runs")
    assert result.returncode == 2
    assert error_lines(result) == [
        f"catdog-train: skipped 1 file (not named like cat.1.jpg: class, dot, number): {flat / 'cat..jpg'}",
        f"catdog-train: error: class 'bird' has no training image (1 went to the "
        f"validation split); add images of it to {flat} or remove it",
    ]
    assert not (tmp_path / "runs").exists()


def test_missing_data_folder(tmp_path):
    result = run_cli("catdog-train", "--data", tmp_path / "nope", *TINY, "--runs-dir", tmp_path)
    assert result.returncode == 2
    assert error_lines(result) == [f"catdog-train: error: data folder not found: {tmp_path / 'nope'}"]


def test_one_class_only(tmp_path):
    root = make_class_folders(tmp_path / "pets", 4)
    for path in (root / "dogs").iterdir():
        path.unlink()
    result = run_cli("catdog-train", "--data", root, *TINY, "--runs-dir", tmp_path)
    assert result.returncode == 2
    [line] = error_lines(result)
    assert "need at least two classes" in line and "'cats'" in line


def test_weights_that_do_not_fit_the_model(tmp_path, tiny_data):
    wrong = next(WEIGHTS.glob("mobilenet_v2_1.0_*.h5"))  # alpha 1.0 weights for an alpha 0.35 model
    result = run_cli("catdog-train", "--data", tiny_data, *TINY, "--weights", wrong, "--runs-dir", tmp_path / "runs")
    assert result.returncode == 2
    [line] = error_lines(result)
    assert re.fullmatch(
        rf"catdog-train: error: weights {re.escape(str(wrong))} do not fit mobilenetv2 alpha 0.35 at 96 px: "
        r"A total of \d+ objects could not be loaded\.",
        line,
    ), line
    assert "Warning" not in result.stderr  # not one warning per layer before it
    assert list((tmp_path / "runs").iterdir()) == []  # failed before its first epoch: no run folder, not even hidden


def test_imagenet_weights_that_cannot_be_downloaded_are_one_line_naming_the_way_out(tmp_path, tiny_data):
    code = (  # Keras's download address of the MobileNetV2 weights pointed at a file that is not there
        "import sys\nimport keras.src.applications.mobilenet_v2 as m\n"
        f"m.BASE_WEIGHT_PATH = {(tmp_path / 'missing').as_uri() + '/'!r}\n"
        "from catdog.train.cli import main\nsys.exit(main(sys.argv[1:]))"
    )
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("CATDOG_WEIGHTS_DIR", None)
    args = ["--data", tiny_data, *TINY, "--weights", "imagenet", "--runs-dir", tmp_path / "runs"]
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    [line] = error_lines(result)
    assert line.startswith("catdog-train: error: no ImageNet weights for mobilenetv2 alpha 0.35 (URL fetch failure")
    assert line.endswith("; give --weights FILE or set CATDOG_WEIGHTS_DIR")
    assert list((tmp_path / "runs").iterdir()) == []


def test_from_scratch_cnn_and_resnet_build():
    from catdog.train.models import build_model

    with pytest.warns(FutureWarning, match="--model cnn is now called cnn4"):  # the old name still builds
        cnn, base = build_model("cnn", 96, 2)
    assert base is None and cnn.output_shape == (None, 2)
    resnet, base = build_model("resnet50", 64, 3, weights="none")
    assert resnet.output_shape == (None, 3) and base is None  # no pretrained base to freeze


def test_resnet_exports_to_onnx_with_its_mean_subtraction(tmp_path):
    import numpy as np
    import onnxruntime

    from catdog.export.formats import onnx_fp32
    from catdog.train.models import RESNET_RGB_MEAN, build_model

    resnet, _ = build_model("resnet50", 32, 2, weights="none")
    assert np.allclose(resnet.get_layer("subtract_mean")(np.full((1, 1, 1, 3), 200.0)), 200 - np.array(RESNET_RGB_MEAN))
    onnx_fp32(resnet, 32, None, tmp_path / "model.onnx", {})
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    assert [tensor.name for tensor in session.get_inputs()] == ["pixels"]  # no constant left as a graph input
    pixels = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
    assert np.allclose(session.run(None, {"pixels": pixels})[0], resnet(pixels).numpy(), atol=1e-4)


def test_weights_none_trains_the_whole_network_batchnorm_included():
    import keras

    from catdog.train.models import all_layers, build_model

    model, base = build_model("mobilenetv2", 96, 2, alpha=0.35, weights="none")
    assert base is None
    batchnorm = [layer for layer in all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(batchnorm) == 52 and all(layer.trainable for layer in batchnorm)
    # every weight trains but BatchNorm's moving statistics, which training updates instead
    frozen = {w.path.rsplit("/", 1)[-1] for w in model.non_trainable_weights}
    assert frozen == {"moving_mean", "moving_variance"}
    assert len(model.trainable_weights) == len(model.weights) - 2 * len(batchnorm)
    model.compile("adam", "sparse_categorical_crossentropy")
    before = batchnorm[0].moving_mean.numpy().copy()
    model.train_on_batch(np.random.default_rng(0).uniform(0, 255, (4, 96, 96, 3)), np.array([0, 1, 0, 1]))
    assert not np.allclose(batchnorm[0].moving_mean.numpy(), before)  # BatchNorm ran in training mode

    pretrained, base = build_model("mobilenetv2", 96, 2, alpha=0.35, weights="imagenet")
    assert base is not None and not base.trainable  # the two-phase recipe keeps its frozen base
    assert len(pretrained.trainable_weights) == 2  # the classifier layer only


def test_weights_none_run_has_one_phase_said_in_output_and_config(tmp_path, tiny_data):
    argv = [a for a in TINY if a != "--quiet"]  # TINY asks for one epoch per phase
    result = run_cli(
        "catdog-train", "--data", tiny_data, *argv, "--weights", "none", "--runs-dir", tmp_path, "--name", "s"
    )
    assert result.returncode == 0, result.stderr
    assert "training from scratch for up to 1 epochs: the whole network" in result.stdout
    assert "BatchNorm included) trains from the first epoch; no fine-tune phase" in result.stdout
    assert "phase 2" not in result.stdout
    config = json.loads((tmp_path / "s" / "config.json").read_text())
    assert config["training"].startswith("from scratch: the whole network, BatchNorm included")
    assert config["hyperparameters"]["fine_tune_epochs"] == 0  # so that --config reproduces it
    history = json.loads((tmp_path / "s" / "history.json").read_text())
    assert len(history["loss"]) == 1 and history["head_epochs"] == 1
