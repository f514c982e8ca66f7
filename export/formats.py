"""The converters of catdog-export, one per artifact kind of catdog.runtime.kinds: adding a kind is one line
there and one converter function here."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdog.export.bias import REDUCED_WEIGHT_LEVELS, WEIGHT_LEVELS
from catdog.runtime.kinds import KINDS, ArtifactKind


@dataclass(frozen=True)
class Format(ArtifactKind):
    """An artifact kind (catdog.runtime.kinds) with the converter that makes it:
    convert(model, size, calibration, path, options) writes the artifact to path."""

    convert: Callable | None = None


def _serving_function(model, size: int, batch: int | None):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([batch, size, size, 3], tf.float32, name="pixels")])
    def serve(pixels):
        return model(pixels, training=False)

    return serve


def _tflite_converter(model, size: int):
    import tensorflow as tf

    function = _serving_function(model, size, 1)
    # Without the model as trackable object the converter freezes the weights into constants.
    return tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()])


def _corrected(model, options, levels: int):
    """`model` bias-corrected for weights rounded to [-levels, levels] by options["bias_correction"] (a
    catdog.export.bias.BiasCorrection) while in the `with` block; as it is where that is None."""
    correction = options.get("bias_correction")
    return correction.applied(levels) if correction else contextlib.nullcontext(model)


def _write_bytes(data: bytes, path: Path) -> None:
    path.write_bytes(data)


def tflite_fp32(model, size, calibration, path, options):
    """Float32 TFLite."""
    _write_bytes(_tflite_converter(model, size).convert(), path)


def tflite_fp16(model, size, calibration, path, options):
    """TFLite with float16 weights (computes in float32 on CPU, half the size)."""
    import tensorflow as tf

    converter = _tflite_converter(model, size)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    _write_bytes(converter.convert(), path)


def tflite_int8(model, size, calibration, path, options):
    """Full-integer TFLite: int8 ops throughout, uint8 raw-pixel input and uint8 output. With
    options["bias_correction"], the offsets are corrected for int8 weight rounding (catdog.export.bias)."""
    import tensorflow as tf

    with _corrected(model, options, WEIGHT_LEVELS) as converted:
        converter = _tflite_converter(converted, size)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[np.newaxis].astype(np.float32)] for image in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
        _write_bytes(converter.convert(), path)


def onnx_fp32(model, size, calibration, path, options):
    """Float32 ONNX via tf2onnx (dynamic batch)."""
    import tf2onnx

    function = _serving_function(model, size, None)
    tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=17, output_path=str(path))


def onnx_int8(model, size, calibration, path, options):
    """Static int8 ONNX (QDQ, per-channel weights) by onnxruntime's quantizer, calibrated on real images.
    Unless options["reduce_range"] is False, the weights of regular and pointwise convolutions and of the
    classifier get 7 bits: onnxruntime's u8s8 GEMM kernels on x86 without VNNI sum pairs of products in
    saturating 16 bits, so 8-bit weights there give other labels than on ARM. Depthwise convolutions keep
    8 bits: their kernel accumulates in 32 bits, and 7 bits on their 9 weights per channel cost accuracy
    (measured, docs/export.md). With options["bias_correction"], the offsets are corrected for that rounding
    (catdog.export.bias)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.images = iter(calibration)

        def get_next(self):
            image = next(self.images, None)
            return None if image is None else {"pixels": image[np.newaxis].astype(np.float32)}

    float_path = path.with_name(path.stem + ".float.onnx")
    prepared_path = path.with_name(path.stem + ".prep.onnx")
    reduce_range = options.get("reduce_range", True)
    try:
        with _corrected(model, options, REDUCED_WEIGHT_LEVELS if reduce_range else WEIGHT_LEVELS) as ready:
            onnx_fp32(ready, size, calibration, float_path, options)
        quant_pre_process(str(float_path), str(prepared_path), skip_symbolic_shape=True)
        eight_bit = (
            {weight: [{"axis": 0, "reduce_range": False}] for weight in depthwise_weights(prepared_path)}
            if reduce_range
            else {}
        )
        quantize_static(
            str(prepared_path),
            str(path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            extra_options={"TensorQuantOverrides": eight_bit} if eight_bit else {},
        )
    finally:
        for temp in (float_path, prepared_path):
            temp.unlink(missing_ok=True)


def depthwise_weights(path) -> list[str]:
    """Names of the weight initializers of the depthwise convolutions (one input channel per group) of an
    ONNX model."""
    import onnx

    graph = onnx.load(str(path)).graph
    shapes = {initializer.name: list(initializer.dims) for initializer in graph.initializer}
    return [
        node.input[1]
        for node in graph.node
        if node.op_type == "Conv"
        and any(attribute.name == "group" and attribute.i > 1 for attribute in node.attribute)
        and shapes.get(node.input[1], [0, 0])[1] == 1
    ]


CONVERTERS = {
    "model_fp32.tflite": tflite_fp32,
    "model_fp16.tflite": tflite_fp16,
    "model_int8.tflite": tflite_int8,
    "model_fp32.onnx": onnx_fp32,
    "model_int8.onnx": onnx_int8,
}  # by ArtifactKind.filename
FORMATS = [Format(kind.format, kind.precision, kind.flag, CONVERTERS[kind.filename]) for kind in KINDS]


FAMILIES = sorted({f.format for f in FORMATS})


def select_formats(families: list[str], flags: set[str]) -> list[Format]:
    """The formats of the given families (tflite, onnx) that the flags ask for."""
    return [f for f in FORMATS if f.format in families and (f.flag is None or f.flag in flags)]
