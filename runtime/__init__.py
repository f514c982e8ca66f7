"""The lean runtime: numpy, OpenCV and an interpreter (LiteRT or onnxruntime). Never TensorFlow."""

from catdog.runtime.backends import BackendError, make_interpreter
from catdog.runtime.classifier import Classifier, Prediction
from catdog.runtime.images import ImageError, prepare, read_image
from catdog.runtime.metadata import MetadataError, Sidecar

__all__ = [
    "BackendError",
    "Classifier",
    "ImageError",
    "MetadataError",
    "Prediction",
    "make_interpreter",
    "prepare",
    "read_image",
    "Sidecar",
]
