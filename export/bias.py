"""Bias correction for int8 TFLite and ONNX: the empirical bias correction of Nagel et al. 2019 ("Data-Free Quantization
Through Weight Equalization and Bias Correction", section 4.2).

Rounding a convolution's weights to int8 makes its output wrong by (W_int8 - W) x. For one image that error
looks like noise, but its average over an image, (W_int8 - W) E[x], is a fixed shift per output channel: after a
network's global average pooling it is all that is left, and it moves every photo's answer the same way. In the
default MobileNetV2 it moved photos without a pet towards "dogs" (docs/export.md). Both converters fold each
BatchNormalization into the convolution before it and round the folded weights per output channel, symmetric, to
[-levels, levels]: 127 in TFLite, 64 in onnxruntime's 7-bit weights (`--reduce-range`). `BiasCorrection` works
out that rounding, measures E[x] on the calibration images (once per export, for both roundings) and subtracts the
shift from the BatchNormalization's offset (beta) while the converter runs.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

WEIGHT_LEVELS = 127  # symmetric per-channel int8 weights in [-127, 127]: TFLite, onnxruntime's 8-bit weights
REDUCED_WEIGHT_LEVELS = 64  # onnxruntime's 7-bit weights (reduce_range): [-64, 64]


def conv_batchnorm_pairs(model) -> list[tuple[object, object, object]]:
    """(model, convolution, batch normalization) for every ungrouped Conv2D whose output goes straight into a
    BatchNormalization with an offset, in `model` and the models nested in it."""
    import keras

    pairs = []
    for owner in [model, *(layer for layer in model.layers if isinstance(layer, keras.Model))]:
        for layer in owner.layers:
            if isinstance(layer, keras.layers.BatchNormalization) and layer.center and layer.axis in (-1, 3):
                conv = layer.input._keras_history.operation
                if type(conv) is keras.layers.Conv2D and conv.groups == 1:
                    pairs.append((owner, conv, layer))
    return pairs


def int8_rounding(conv, batchnorm, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """The convolution's kernel with the BatchNormalization folded in, and that kernel as a converter rounds it to
    [-levels, levels] (per output channel, symmetric), both in float and height, width, in, out order."""
    gamma = np.asarray(batchnorm.gamma) if batchnorm.scale else 1.0
    folded = np.asarray(conv.kernel) * gamma / np.sqrt(np.asarray(batchnorm.moving_variance) + batchnorm.epsilon)
    scale = np.abs(folded).max(axis=(0, 1, 2)) / levels
    scale = np.where(scale > 0, scale, 1.0)
    return folded, np.clip(np.round(folded / scale), -levels, levels) * scale


def rounding_shift(conv, batchnorm, input_mean: np.ndarray, levels: int) -> np.ndarray:
    """The average output shift per channel, (W_int8 - W) E[x], that int8 rounding of the folded weights causes."""
    folded, rounded = int8_rounding(conv, batchnorm, levels)
    return input_mean @ (rounded - folded).sum(axis=(0, 1))


def input_means(model, pairs, images: np.ndarray, batch_size: int = 32) -> dict:
    """E[x] per input channel of each pair's convolution over `images` (raw model input), by convolution."""
    import keras

    means = {}
    for owner in dict.fromkeys(owner for owner, _, _ in pairs):
        convs = [conv for model_of, conv, _ in pairs if model_of is owner]
        if owner is model:
            inputs = images
        else:  # what the model feeds the nested one
            feed = keras.Model(model.inputs, owner._inbound_nodes[0].input_tensors[0])
            inputs = feed.predict(images, batch_size=batch_size, verbose=0)
        probe = keras.Model(owner.inputs, [keras.ops.mean(conv.input, axis=(1, 2)) for conv in convs])
        outputs = probe.predict(inputs, batch_size=batch_size, verbose=0)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        means.update({conv: batch.mean(axis=0) for conv, batch in zip(convs, outputs)})
    return means


class BiasCorrection:
    """The bias correction of one model for its calibration images (prepared RGB). E[x] is measured on first use
    and serves every rounding: `applied(levels)` corrects the offsets for weights rounded to [-levels, levels]
    while in its `with` block, and restores them on leaving."""

    def __init__(self, model, calibration: list[np.ndarray]):
        self.model, self.calibration = model, calibration

    @functools.cached_property
    def pairs(self) -> list:
        """The (model, convolution, batch normalization) triples to correct (conv_batchnorm_pairs)."""
        return conv_batchnorm_pairs(self.model)

    @functools.cached_property
    def means(self) -> dict:
        """E[x] per input channel of each corrected convolution, by convolution (on the uncorrected model)."""
        return input_means(self.model, self.pairs, np.stack(self.calibration).astype(np.float32))

    @contextlib.contextmanager
    def applied(self, levels: int):
        saved = [np.asarray(batchnorm.beta).copy() for _, _, batchnorm in self.pairs]
        try:
            means = self.means
            for _, conv, batchnorm in self.pairs:
                shift = rounding_shift(conv, batchnorm, means[conv], levels)
                batchnorm.beta.assign(np.asarray(batchnorm.beta) - shift)
            yield self.model
        finally:
            for (_, _, batchnorm), beta in zip(self.pairs, saved):
                batchnorm.beta.assign(beta)
