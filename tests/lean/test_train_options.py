"""catdog-train --config: a file's values meet exactly the command line's checks, and a key that is neither an
option nor one catdog-train or catdog-tune writes is refused by name. Real processes; refused before
TensorFlow is imported, so no model is needed."""

from __future__ import annotations

import json

import pytest
from support import run_cli


def refused(result, message: str) -> None:
    """Exit 2, argparse's usage first, and `message` as the last and only other line of its kind."""
    assert "Traceback" not in result.stderr and result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("usage: catdog-train") and lines[-1] == message


@pytest.mark.parametrize(
    "values, message",
    [
        ({"epochs": 2.5}, "argument --epochs: must be an integer >= 1, not '2.5'"),
        ({"hyperparameters": {"batch_size": 0}}, "argument --batch-size: must be an integer >= 1, not 0"),
        ({"data": 3}, "argument --data: expected text, not 3"),
        ({"name": 7}, "argument --name: expected text, not 7"),
        ({"lr": True}, "argument --lr: expected text or a number, not true"),
        ({"dropout": 1}, "argument --dropout: must be a number in [0, 1), not 1"),
        ({"size": "big"}, "argument --size: must be an integer in [32, 512], not 'big'"),
        (
            {"model": "vgg"},
            "argument --model: invalid choice: 'vgg' (choose from 'mobilenetv2', 'resnet50', "
            "'resnet101', 'mlp', 'cnn2', 'cnn4', 'cnn8', 'cnn')",
        ),
        ({"ema": "no"}, 'argument --no-ema: expected true or false, not "no"'),
        ({"add": "cats"}, 'argument --add: expected a list of text, not "cats"'),
        ({"add": [3]}, "argument --add: expected a list of text, not [3]"),
        ({"epochz": 3, "learning_rate": 0.5}, "unknown keys 'epochz', 'learning_rate' (not an option of catdog-train)"),
        ({"hyperparameters": {"patiense": 2}}, "unknown key 'patiense' (not an option of catdog-train)"),
    ],
)
def test_a_config_value_is_checked_as_the_command_line_checks_it(tmp_path, values, message):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(values))
    refused(run_cli("catdog-train", "--config", config), f"catdog-train: error: --config {config}: {message}")


def test_the_same_value_on_the_command_line_gives_the_same_reason(tmp_path):
    result = run_cli("catdog-train", "--epochs", "2.5")
    refused(result, "catdog-train: error: argument --epochs: must be an integer >= 1, not '2.5'")


def test_values_that_go_together_in_no_run_are_refused_from_the_command_line_and_a_config_alike(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model": "resnet50", "alpha": 0.35}))
    message = "catdog-train: error: --alpha 0.35 is MobileNetV2's width: --model resnet50 has none"
    refused(run_cli("catdog-train", "--model", "resnet50", "--alpha", "0.35"), message)
    refused(run_cli("catdog-train", "--config", config), message)


def test_a_config_with_the_keys_catdog_train_and_catdog_tune_write_is_read_and_flags_override_it(tmp_path):
    from catdog.train.cli import parse_args

    config = tmp_path / "config.json"
    written = {
        "model": "cnn2",
        "alpha": None,
        "size": 64,
        "labels": ["cats", "dogs", "none"],
        "preparation": {"color": "RGB"},
        "training": "from scratch",
        "data": str(tmp_path),
        "negatives": "none",
        "add": [str(tmp_path / "collected")],
        "class_weights": {"cats": 1.0},
        "layout": "class folders",
        "train_images": 10,
        "validation_images": 4,
        "selection_images": 2,
        "chosen_on": "selection",
        "versions": {"keras": "3"},
        "temperature": None,
        "background": "none",
        "min_probability": 0.4,
        "trial": 3,
        "selection_loss": 0.5,
        "selection_accuracy": None,
        "hyperparameters": {"epochs": 3, "lr": "find", "batch_size": 8, "ema": False, "dropout": 0, "find_lr": None},
    }
    config.write_text(json.dumps(written))
    args = parse_args(["--config", str(config), "--epochs", "5", "--add", "more"])
    assert (args.model, args.size, args.epochs, args.lr, args.batch_size, args.ema, args.dropout) == (
        "cnn2",
        64,
        5,
        "find",
        8,
        False,
        0.0,
    )
    assert (args.data, args.negatives, args.add) == (str(tmp_path), "none", [str(tmp_path / "collected"), "more"])
