"""catdog-train, catdog-export, catdog-eval and catdog-predict as a user runs them print none of TensorFlow's known
harmless messages (catdog.export.noise); the tiny run's own train and export commands are checked, at no extra run."""

import re

import pytest
from support import OUTPUTS, run_cli

# What issue 21 saw in the quick start, each of them harmless.
NOISE = [
    r"absl::InitializeLog",
    r"cudart_stub\.cc",
    r"cpu_feature_guard\.cc",
    r"oneDNN custom operations are on",
    r"failed call to cuInit",
    r"NodeDef mentions attribute use_unbounded_threadpool",
    r"WARNING:absl:Please consider providing the trackable_obj",
    r"UserWarning: Statistics for quantized inputs were expected",
    r"fully_quantize: 0, inference_type: 6",
    r"Created TensorFlow Lite XNNPACK delegate",
]


@pytest.mark.parametrize("command", ["catdog-train", "catdog-export"])
def test_no_tensorflow_noise(command, request, tiny_export):
    output = request.config.stash[OUTPUTS][command]
    assert [pattern for pattern in NOISE if re.search(pattern, output)] == []
    assert "validation accuracy" in output if command == "catdog-train" else "wrote " in output


def test_the_board_commands_print_no_interpreter_chatter(tiny_export, shared_data):
    photo = next((shared_data / "validation" / "cats").glob("*.jpg"))
    result = run_cli("catdog-predict", "--model", tiny_export / "model_int8.tflite", photo, check=True)
    assert [pattern for pattern in NOISE if re.search(pattern, result.stderr)] == []
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == ["catdog-predict"] * 2  # using, summary


def test_catdog_eval_prints_its_metrics_and_no_tensorflow_noise(tiny_run):
    result = run_cli("catdog-eval", tiny_run, check=True)
    assert [pattern for pattern in NOISE if re.search(pattern, result.stdout + result.stderr)] == []
    assert result.stdout.startswith("accuracy ") and "confusion matrix" in result.stdout
