"""Model builders. Every model takes raw RGB pixels 0-255 and does its own scaling, so exported
int8 models can be fed camera pixels directly."""
from __future__ import annotations

import os
from pathlib import Path

import keras

ARCHITECTURES = ("mobilenetv2", "resnet50", "resnet101", "cnn")
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
        if arch == "mobilenetv2":
            return keras.applications.MobileNetV2(input_shape=shape, alpha=alpha, include_top=False, weights=weights)
        application = keras.applications.ResNet50 if arch == "resnet50" else keras.applications.ResNet101
        base = application(input_shape=shape, include_top=False, weights=weights)
    except Exception as error:  # Keras raises ValueError, OSError or KeyError for a file that does not fit
        what = f"{arch}" + (f" alpha {alpha}" if arch == "mobilenetv2" else "")
        raise ModelError(f"weights {weights} do not fit {what} at {size} px: {str(error).splitlines()[0][:200]}") from None
    if weights is not None:
        # Keras' ResNet weights expect BGR; reversing the first kernel's input channels makes them take RGB.
        conv = base.get_layer("conv1_conv")
        kernel, bias = conv.get_weights()
        conv.set_weights([kernel[:, :, ::-1, :], bias])
    return base


def build_model(arch: str = "mobilenetv2", size: int = 160, num_classes: int = 2, alpha: float = 1.0,
                weights: str | None = "imagenet", dropout: float = 0.2, l2: float = 0.0):
    """Return (model, base): a classifier on raw RGB 0-255 input with a softmax output, and its
    pretrained base (None for the from-scratch `cnn`). The base's BatchNorm layers are frozen."""
    if arch not in ARCHITECTURES:
        raise ModelError(f"unknown model {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if arch == "mobilenetv2" and alpha not in MOBILENET_ALPHAS:
        raise ModelError(f"MobileNetV2 alpha must be one of {MOBILENET_ALPHAS}, not {alpha}")
    if not 32 <= size <= 512:
        raise ModelError(f"input size {size} is out of range (32-512; MobileNetV2 is made for 96-224)")
    inputs = keras.Input((size, size, 3), name="pixels")
    regularizer = keras.regularizers.L2(l2) if l2 else None
    if arch == "cnn":
        return _small_cnn(inputs, num_classes, dropout or 0.5, regularizer), None
    base = _load_base(arch, size, alpha, resolve_weights(arch, alpha, weights))
    base.trainable = False
    freeze_batchnorm(base)
    if arch == "mobilenetv2":
        x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale_to_unit")(inputs)
    else:
        x = keras.layers.Normalization(mean=RESNET_RGB_MEAN, variance=[1.0, 1.0, 1.0], name="subtract_mean")(inputs)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", kernel_regularizer=regularizer, name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"{arch}_{size}"), base


def _small_cnn(inputs, num_classes: int, dropout: float, regularizer):
    """The classic Keras cats-vs-dogs baseline: four conv + max-pool blocks, dropout, dense 512."""
    x = keras.layers.Rescaling(1 / 255, name="scale_to_unit")(inputs)
    for filters in (32, 64, 128, 128):
        x = keras.layers.Conv2D(filters, 3, activation="relu", kernel_regularizer=regularizer)(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(512, activation="relu", kernel_regularizer=regularizer)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cnn")


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


def augmentation(seed: int = 42):
    """Random flip, rotation, zoom, translation, contrast and brightness, applied in the input pipeline."""
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.08, fill_mode="reflect", seed=seed),
        keras.layers.RandomZoom((-0.2, 0.1), fill_mode="reflect", seed=seed),
        keras.layers.RandomTranslation(0.08, 0.08, fill_mode="reflect", seed=seed),
        keras.layers.RandomContrast(0.2, seed=seed),
        keras.layers.RandomBrightness(0.15, value_range=(0, 255), seed=seed),
    ], name="augmentation")
