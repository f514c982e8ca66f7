"""catdog-export on a tiny trained model: artifacts, sidecars, parity from real predictions, failures."""

from __future__ import annotations

import json
import re
import shutil

import cv2
import numpy as np
import pytest
from support import run_cli

from catdog.runtime import Classifier, make_interpreter
from catdog.runtime.images import load_prepared
from catdog.runtime.kinds import KINDS
from catdog.runtime.metadata import Sidecar, file_sha256, sidecar_path

ARTIFACTS = ["model_fp32.tflite", "model_fp16.tflite", "model_int8.tflite", "model_fp32.onnx", "model_int8.onnx"]


def error_lines(result) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("catdog-")]


def test_every_artifact_is_in_place_with_a_complete_sidecar(tiny_export, tiny_run):
    names = {p.name for p in tiny_export.iterdir()}
    assert set(ARTIFACTS) | {f"{a}.json" for a in ARTIFACTS} | {"parity.md", "parity.json"} == names
    source_hash = file_sha256(tiny_run / "model.keras")
    for kind in KINDS:
        artifact = tiny_export / kind.filename
        sidecar = Sidecar.read(artifact)
        assert sidecar.to_dict() == json.loads(sidecar_path(artifact).read_text())  # every key read
        assert (sidecar.format, sidecar.precision, sidecar.artifact) == (kind.format, kind.precision, kind.filename)
        assert sidecar.labels == ["cats", "dogs"] and sidecar.input.shape == [1, 96, 96, 3]
        assert sidecar.input.preparation["color"] == "RGB" and sidecar.output.kind == "probabilities"
        assert sidecar.source.sha256 == source_hash and sidecar.source.architecture == "mobilenetv2"
        assert sidecar.sha256 == file_sha256(artifact) and sidecar.size_bytes == artifact.stat().st_size
        assert sidecar.tools["tensorflow"] and sidecar.tools["onnxruntime"]
        assert set(sidecar.parity) >= {
            "accuracy",
            "log_loss",
            "label_agreement",
            "max_probability_difference",
            "delta_points",
            "passed",
        }
        assert (sidecar.calibration or {}).get("images") == (32 if kind.precision == "int8" else None)


def test_int8_tflite_takes_raw_uint8_pixels(tiny_export, tiny_data):
    sidecar = Sidecar.read(tiny_export / "model_int8.tflite")
    assert sidecar.input.dtype == "uint8"
    assert (sidecar.input.scale, sidecar.input.zero_point) == (1.0, 0)
    assert sidecar.output.dtype == "uint8" and sidecar.output.scale > 0
    backend = make_interpreter(tiny_export / "model_int8.tflite")
    assert backend.input_dtype == np.uint8
    image = load_prepared(next((tiny_data / "validation" / "dogs").iterdir()), 96)
    raw = backend.run(image[np.newaxis])  # camera pixels straight in, no scaling
    probabilities = (raw.astype(np.float32) - sidecar.output.zero_point) * sidecar.output.scale
    assert np.allclose(probabilities[0], Classifier(tiny_export / "model_int8.tflite").probabilities(image))
    assert abs(probabilities.sum() - 1) < 0.05


def test_parity_numbers_come_from_real_predictions(tiny_export):
    parity = json.loads((tiny_export / "parity.json").read_text())
    truth = np.array(parity["true"])
    assert len(parity["images"]) == len(truth) == 48
    reference = np.array(parity["results"]["model.keras"]["predicted"])
    for artifact in ARTIFACTS:
        row = parity["results"][artifact]
        predicted = np.array(row["predicted"])
        assert row["accuracy"] == pytest.approx((predicted == truth).mean())
        assert row["label_agreement"] == pytest.approx((predicted == reference).mean())
        assert Sidecar.read(tiny_export / artifact).parity["accuracy"] == row["accuracy"]
    fp32 = parity["results"]["model_fp32.tflite"]
    assert fp32["label_agreement"] == 1.0 and fp32["max_probability_difference"] < 1e-4
    classifier = Classifier(tiny_export / "model_fp32.onnx")
    again = [int(classifier.probabilities(load_prepared(p, 96)).argmax()) for p in parity["images"]]
    assert again == parity["results"]["model_fp32.onnx"]["predicted"]


def test_int8_onnx_weights_are_7_bit_except_depthwise(tiny_export):
    """7-bit weights where x86 without VNNI would saturate 16-bit pair sums, full 8 bits on depthwise convs."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(tiny_export / "model_int8.onnx")).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    quantized = {
        node.output[0]: weights[node.input[0]]
        for node in graph.node
        if node.op_type == "DequantizeLinear" and node.input[0] in weights
    }
    depthwise, others = [], []
    for node in graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul") and node.input[1] in quantized:
            weight = quantized[node.input[1]].astype(int)
            groups = next((a.i for a in node.attribute if a.name == "group"), 1)
            (depthwise if groups > 1 and weight.shape[1] == 1 else others).append(np.abs(weight).max())
    assert len(depthwise) == 17 and len(others) >= 35  # MobileNetV2: 17 depthwise and 35 other convs, a classifier
    assert max(others) <= 64 and min(depthwise) == 127


def tflite_int8_kernels(artifact) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The int8 TFLite's convolution kernels (int8, height, width, in, out) and their scales, by tensor name."""
    interpreter = make_interpreter(artifact).interpreter
    return {
        detail["name"]: (
            interpreter.get_tensor(detail["index"]).transpose(1, 2, 3, 0),  # out, h, w, in -> h, w, in, out
            detail["quantization_parameters"]["scales"],
        )
        for detail in interpreter.get_tensor_details()
        if detail["name"].endswith("/convolution")
    }


def onnx_int8_kernels(artifact) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The int8 ONNX's quantized weights (height, width, in, out for kernels) and their scales, by name."""
    import onnx
    from onnx import numpy_helper

    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(artifact)).graph.initializer}
    return {
        name: (weight.transpose(2, 3, 1, 0), weights[name.removesuffix("_quantized") + "_scale"])
        for name, weight in weights.items()
        if name.endswith("_quantized") and weight.ndim == 4
    }


@pytest.mark.parametrize(
    ("artifact", "kernels", "levels"),
    [("model_int8.tflite", tflite_int8_kernels, 127), ("model_int8.onnx", onnx_int8_kernels, 64)],
)
def test_bias_correction_rounds_the_weights_as_the_converter_does(tiny_export, tiny_run, artifact, kernels, levels):
    """catdog.export.bias works out each converter's int8 rounding of each BatchNorm-folded kernel (TFLite's to
    [-127, 127], onnxruntime's 7-bit one to [-64, 64]): it must be what the converter wrote (but for ties, which
    numpy rounds to even), or its corrections would be wrong."""
    import keras

    from catdog.export.bias import conv_batchnorm_pairs, int8_rounding

    model = keras.models.load_model(tiny_run / "model.keras", compile=False)
    stored = kernels(tiny_export / artifact)
    pairs = conv_batchnorm_pairs(model)
    assert len(pairs) == 35  # MobileNetV2: the first convolution, 17 projections, 16 expansions, the last one
    differing = total = 0
    for _, conv, batchnorm in pairs:
        weights, scale = next(found for name, found in stored.items() if f"/{conv.name}_1/convolution" in name)
        _, rounded = int8_rounding(conv, batchnorm, levels)
        differing += int((np.abs(rounded - weights * scale) > scale / 2).sum())
        total += weights.size
    assert total > 10_000 and differing <= total * 1e-4


def test_bias_correction_brings_int8_closer_to_the_float_model(tiny_export, tiny_run, tmp_path):
    options = ["--int8", "--calibration-size", "32", "--max-drop", "100", "--min-agreement", "0"]
    run_cli("catdog-export", tiny_run, *options, "--no-bias-correction", "--out", tmp_path, check=True)
    parity = json.loads((tiny_export / "parity.json").read_text())
    images = [load_prepared(path, 96) for path in parity["images"]]
    float_model = Classifier(tiny_export / "model_fp32.tflite")
    reference = np.array([float_model.probabilities(image) for image in images])

    def mean_difference(artifact):
        classifier = Classifier(artifact)
        return np.abs(np.array([classifier.probabilities(image) for image in images]) - reference).mean()

    for artifact in ("model_int8.tflite", "model_int8.onnx"):
        corrected, uncorrected = mean_difference(tiny_export / artifact), mean_difference(tmp_path / artifact)
        assert corrected < uncorrected * 0.9, (artifact, corrected, uncorrected)
        assert Sidecar.read(tiny_export / artifact).calibration["bias_correction"] is True
        assert Sidecar.read(tmp_path / artifact).calibration["bias_correction"] is False
    # the Keras model's offsets are put back: the ONNX converted after int8 TFLite is the float model
    assert parity["results"]["model_fp32.onnx"]["max_probability_difference"] < 1e-4


def test_exporting_again_gives_the_same_int8_model(tiny_export, tiny_run, tmp_path):
    run_cli(
        "catdog-export",
        tiny_run,
        "--int8",
        "--formats",
        "tflite",
        "--calibration-size",
        "32",
        "--max-drop",
        "100",
        "--min-agreement",
        "0",
        "--out",
        tmp_path,
        check=True,
    )
    assert file_sha256(tmp_path / "model_int8.tflite") == file_sha256(tiny_export / "model_int8.tflite")
    assert not [p.name for p in tmp_path.iterdir() if "partial" in p.name]


def test_exceeded_max_drop_fails_and_marks_the_artifact(tiny_run, tmp_path):
    """int8 calibrated on one plain gray picture loses what the float model knows; fp32 loses nothing."""
    (tmp_path / "gray").mkdir()
    cv2.imwrite(str(tmp_path / "gray" / "gray.png"), np.full((96, 96, 3), 128, np.uint8))
    out = tmp_path / "out"
    result = run_cli(
        "catdog-export",
        tiny_run,
        "--int8",
        "--formats",
        "tflite",
        "--calibration-data",
        tmp_path / "gray",
        "--max-drop",
        "0",
        "--min-agreement",
        "0",
        "--out",
        out,
    )
    assert result.returncode == 1
    [line] = error_lines(result)
    assert re.fullmatch(
        r"catdog-export: error: model_int8.tflite: FAILED: lost \d+\.\d\d accuracy points "
        r"\(limit 0\); marked failed in its metadata",
        line,
    ), line
    assert not Sidecar.read(out / "model_int8.tflite").parity_passed
    assert Sidecar.read(out / "model_fp32.tflite").parity_passed
    assert "FAILED" in (out / "parity.md").read_text()


def test_missing_model(tmp_path):
    result = run_cli("catdog-export", tmp_path / "nothing", "--int8")
    assert result.returncode == 2
    assert error_lines(result) == [f"catdog-export: error: model not found: {tmp_path / 'nothing'}"]


def test_corrupt_model(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("export"))
    (run / "model.keras").write_bytes((run / "model.keras").read_bytes()[:5000])
    result = run_cli("catdog-export", run, "--int8", "--out", tmp_path / "out")
    assert result.returncode == 2
    [line] = error_lines(result)
    assert line.startswith(f"catdog-export: error: cannot load model {run / 'model.keras'}")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_empty_calibration_folder(tiny_run, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli(
        "catdog-export", tiny_run, "--int8", "--calibration-data", tmp_path / "empty", "--out", tmp_path / "out"
    )
    assert result.returncode == 2
    assert error_lines(result) == [f"catdog-export: error: no readable calibration images in {tmp_path / 'empty'}"]
