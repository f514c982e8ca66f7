"""Model builders. Every model takes raw RGB pixels 0-255 and does its own scaling, so exported
int8 models can be fed camera pixels directly."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import keras

PRETRAINED = ("mobilenetv2", "resnet50", "resnet101")
FROM_SCRATCH = ("mlp", "cnn2", "cnn4", "cnn8")
ARCHITECTURES = (*PRETRAINED, *FROM_SCRATCH, "cnn")  # "cnn": the old name of cnn4
MLP_SIDE = 32  # the numpy MLP sees the input average-pooled down to about 32x32 RGB
MLP_HIDDEN = 64
MOBILENET_ALPHAS = (0.35, 0.5, 0.75, 1.0)
# Keras ImageNet file names for ResNet (caffe-style BGR means); $CATDOG_WEIGHTS_DIR may hold these files.
WEIGHT_PATTERNS = {
    "mobilenetv2": "mobilenet_v2_{alpha}_*no_top*.h5",
    "resnet50": "resnet50_*notop*.h5",
    "resnet101": "resnet101_*notop*.h5",
}
RESNET_RGB_MEAN = [123.68, 116.779, 103.939]


class ModelError(ValueError):
    """A model that cannot be built as asked (bad architecture, alpha, size or weights)."""


def resolve_weights(arch: str, alpha: float, weights: str | None) -> str | None:
    """'imagenet' -> a matching file in $CATDOG_WEIGHTS_DIR if there is one, else Keras' download;
    'none' -> None; anything else must be an existing file."""
    if weights in (None, "none", "None"):
        return None
    if weights == "imagenet":
        local_dir = os.environ.get("CATDOG_WEIGHTS_DIR")
        if local_dir:
            pattern = WEIGHT_PATTERNS[arch].format(alpha=alpha)
            matches = sorted(Path(local_dir).glob(pattern))
            if matches:
                return str(matches[0])
        return "imagenet"
    if not Path(weights).is_file():
        raise ModelError(f"weights file not found: {weights}")
    return str(weights)


def _load_base(arch: str, size: int, alpha: float, weights: str | None):
    shape = (size, size, 3)
    try:
        with warnings.catch_warnings():  # a file that does not fit makes Keras warn once per layer, then raise
            warnings.simplefilter("ignore", UserWarning)
            if arch == "mobilenetv2":
                return keras.applications.MobileNetV2(
                    input_shape=shape, alpha=alpha, include_top=False, weights=weights
                )
            application = keras.applications.ResNet50 if arch == "resnet50" else keras.applications.ResNet101
            base = application(input_shape=shape, include_top=False, weights=weights)
    except Exception as error:  # Keras raises ValueError, OSError or KeyError for a file that does not fit
        what = f"{arch}" + (f" alpha {alpha}" if arch == "mobilenetv2" else "")
        reason = str(error).splitlines()[0].split(" Example error message")[0][:200]
        if weights == "imagenet" and "URL fetch failure" in reason:  # keras.utils.get_file's words
            raise ModelError(
                f"no ImageNet weights for {what} ({reason}); give --weights FILE or set CATDOG_WEIGHTS_DIR"
            ) from None
        raise ModelError(f"weights {weights} do not fit {what} at {size} px: {reason}") from None
    if weights is not None:
        # Keras' ResNet weights expect BGR; reversing the first kernel's input channels makes them take RGB.
        conv = base.get_layer("conv1_conv")
        kernel, bias = conv.get_weights()
        conv.set_weights([kernel[:, :, ::-1, :], bias])
    return base


def build_model(
    arch: str = "mobilenetv2",
    size: int = 160,
    num_classes: int = 2,
    alpha: float = 1.0,
    weights: str | None = "imagenet",
    dropout: float = 0.2,
    l2: float = 0.0,
):
    """Return (model, base): a classifier on raw RGB 0-255 input with a softmax output, and its
    pretrained base, frozen with its BatchNorm layers in inference mode for the two-phase recipe. Without
    pretrained weights (weights 'none') there is nothing to keep: the whole network, BatchNorm included,
    trains from the first epoch and the base returned is None, as for the from-scratch models."""
    if arch not in ARCHITECTURES:
        raise ModelError(f"unknown model {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if arch == "mobilenetv2" and alpha not in MOBILENET_ALPHAS:
        raise ModelError(f"MobileNetV2 alpha must be one of {MOBILENET_ALPHAS}, not {alpha}")
    if not 32 <= size <= 512:
        raise ModelError(f"input size {size} is out of range (32-512; MobileNetV2 is made for 96-224)")
    inputs = keras.Input((size, size, 3), name="pixels")
    regularizer = keras.regularizers.L2(l2) if l2 else None
    if arch == "cnn":
        warnings.warn("--model cnn is now called cnn4 (the old name still works)", FutureWarning, stacklevel=2)
        arch = "cnn4"
    if arch == "mlp":
        return _mlp(inputs, num_classes), None
    if arch in FROM_SCRATCH:
        return _cnn(arch, inputs, num_classes, dropout or 0.5, regularizer), None
    resolved = resolve_weights(arch, alpha, weights)
    base = _load_base(arch, size, alpha, resolved)
    if resolved is not None:
        base.trainable = False
        freeze_batchnorm(base)
    if arch == "mobilenetv2":
        x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale_to_unit")(inputs)
    else:
        # An offset, not a Normalization layer: tf2onnx made Normalization's constants graph inputs.
        offset = [-mean for mean in RESNET_RGB_MEAN]
        x = keras.layers.Rescaling(1.0, offset=offset, name="subtract_mean")(inputs)
    # Pretrained: BatchNorm keeps its ImageNet statistics. From scratch: it learns them like any layer.
    x = base(x, training=False) if resolved is not None else base(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", kernel_regularizer=regularizer, name="probabilities"
    )(x)
    return keras.Model(inputs, outputs, name=f"{arch}_{size}"), base if resolved is not None else None


def from_scratch(arch: str, weights: str | None) -> bool:
    """Whether the model trains from random weights: the from-scratch architectures, and the pretrained
    ones with weights 'none'. Such a model trains whole from the first epoch, with no fine-tune phase."""
    return arch not in PRETRAINED or weights in (None, "none", "None")


def mlp_pool(size: int) -> int:
    """The average-pooling factor that takes a `size` input down to about MLP_SIDE pixels a side."""
    return max(1, size // MLP_SIDE)


def _mlp(inputs, num_classes: int):
    """The Keras twin of catdog.train.mlp's numpy network: average-pool, scale to 0-1, flatten,
    dense ReLU, dense softmax. Its weights come from the numpy training."""
    size = inputs.shape[1]
    x = keras.layers.AveragePooling2D(mlp_pool(size), name="downscale")(inputs)
    x = keras.layers.Rescaling(1 / 255, name="scale_to_unit")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(MLP_HIDDEN, activation="relu", name="hidden")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mlp")


# Filters per convolution block; cnn8 has two convolutions per block, each with batch normalisation.
CNN_BLOCKS = {"cnn2": (32, 64), "cnn4": (32, 64, 128, 128), "cnn8": (16, 32, 64, 128)}


def _cnn(arch: str, inputs, num_classes: int, dropout: float, regularizer):
    """From-scratch CNNs: cnn2 (two conv + max-pool blocks, dropout, dense 128), cnn4 (the classic Keras
    cats-vs-dogs baseline: four blocks, dropout, dense 512), cnn8 (four blocks of two conv + batch norm,
    global average pooling, dropout)."""
    x = keras.layers.Rescaling(1 / 255, name="scale_to_unit")(inputs)
    for filters in CNN_BLOCKS[arch]:
        if arch == "cnn8":
            for _ in range(2):
                x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=regularizer)(x)
                x = keras.layers.BatchNormalization()(x)
                x = keras.layers.ReLU()(x)
        else:
            x = keras.layers.Conv2D(filters, 3, activation="relu", kernel_regularizer=regularizer)(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x) if arch == "cnn8" else keras.layers.Flatten()(x)
    x = keras.layers.Dropout(dropout)(x)
    if arch != "cnn8":
        x = keras.layers.Dense(128 if arch == "cnn2" else 512, activation="relu", kernel_regularizer=regularizer)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=arch)


def all_layers(model) -> list:
    """Every layer of `model`, those of nested models included."""
    return [
        inner
        for layer in model.layers
        for inner in ([layer] + all_layers(layer) if hasattr(layer, "layers") else [layer])
    ]


def freeze_batchnorm(base) -> None:
    """Keep every BatchNorm layer in inference mode (Keras 3 ignores training=False under fit)."""
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def unfreeze_top(base, layers: int) -> int:
    """Make the top `layers` layers of the base trainable (BatchNorm stays frozen); return how many
    layers now train."""
    base.trainable = True
    cut = max(0, len(base.layers) - layers)
    for i, layer in enumerate(base.layers):
        layer.trainable = i >= cut
    freeze_batchnorm(base)
    return sum(1 for layer in base.layers if layer.trainable and layer.weights)


def augmentation(seed: int = 42, strength: float = 1.0, everyday: bool = True, hide_source: bool = False):
    """The batch augmentation of the input pipeline, or None if it has nothing to do: `everyday` random flip,
    rotation, zoom, translation, contrast and brightness; with `hide_source`, also saturation, hue and blur, so
    that a photo's source (its camera, its colours, its sharpness) says less about its class (the rest of that
    disguise, JPEG quality and resolution, is `train.data.source_disguise`). `strength` scales every range (1: the
    ranges below)."""
    k = strength
    chosen = []
    if everyday:
        chosen += [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.08 * k, fill_mode="reflect", seed=seed),
            keras.layers.RandomZoom((-0.2 * k, 0.1 * k), fill_mode="reflect", seed=seed),
            keras.layers.RandomTranslation(0.08 * k, 0.08 * k, fill_mode="reflect", seed=seed),
            keras.layers.RandomContrast(0.2 * k, seed=seed),
            keras.layers.RandomBrightness(0.15 * k, value_range=(0, 255), seed=seed),
        ]
    if hide_source:
        chosen += [
            keras.layers.RandomSaturation((0.5 - 0.25 * k, 0.5 + 0.25 * k), seed=seed),
            keras.layers.RandomHue(0.05 * k, value_range=(0, 255), seed=seed),
            keras.layers.RandomGaussianBlur(k, kernel_size=5, sigma=(0.1, 1.5), value_range=(0, 255), seed=seed),
        ]
    return keras.Sequential(chosen, name="augmentation") if chosen else None
