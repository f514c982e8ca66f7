"""`Classifier`: an exported artifact plus its sidecar, taking BGR frames or image files."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdog.runtime.backends import make_interpreter
from catdog.runtime.images import prepare, read_image
from catdog.runtime.metadata import MismatchError, Sidecar, sidecar_path
from catdog.runtime.metrics import decide


@dataclass
class Prediction:
    """The label the decision rule gives, its probability, the whole distribution, how long inference took,
    and the label as people read it ("no cats or dogs" for the background class)."""

    label: str
    probability: float
    probabilities: dict[str, float]
    inference_ms: float
    text: str = ""

    def __post_init__(self):
        self.text = self.text or self.label

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "text": self.text,
            "probability": round(self.probability, 6),
            "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
            "inference_ms": round(self.inference_ms, 3),
        }


def quantize(values: np.ndarray, dtype: np.dtype, scale: float | None, zero_point: int | None) -> np.ndarray:
    """Real values to an integer tensor (q = round(x / scale) + zero_point), or a plain cast for float."""
    if not np.issubdtype(dtype, np.integer):
        return values.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, scale: float | None, zero_point: int | None) -> np.ndarray:
    """An integer tensor back to real values; float tensors pass through."""
    if not np.issubdtype(values.dtype, np.integer):
        return values.astype(np.float32)
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


class Classifier:
    """Classify images with an exported model. `threads` sets the interpreter's CPU threads.
    On load the artifact is checked against its sidecar: its SHA-256, then the input shape and dtype the
    model takes and the number of outputs it gives (one inference on a blank image) against the labels;
    a mismatch is a MismatchError naming both values."""

    def __init__(self, artifact: str | Path, threads: int | None = None):
        self.path = Path(artifact)
        self.sidecar = Sidecar.read(self.path)
        if self.path.is_file():  # else make_interpreter says it is missing
            self.sidecar.check_sha256(self.path)
        self.backend = make_interpreter(self.path, threads)
        self.labels: list[str] = self.sidecar.labels
        self.input, self.output = self.sidecar.input, self.sidecar.output
        self.size = tuple(self.input.shape[1:3])
        self.threads: int = self.backend.threads  # as resolved: every usable CPU unless given
        self.background: str | None = self.sidecar.background_label
        self.min_probability: float = self.sidecar.min_probability or 0.0
        self.check_model()

    def set_min_probability(self, value: float | None) -> None:
        """Use `value` as the decision rule instead of the sidecar's (None: keep it); ValueError for a model
        without a background class, which has nothing to report instead of an unsure label."""
        if value is None:
            return
        if self.background is None:
            raise ValueError(
                f"--min-probability needs a model with a background class; {self.path.name} has only "
                f"{', '.join(self.labels)} (train one with --negatives)"
            )
        self.min_probability = value

    def describe_rule(self) -> str:
        """The decision rule in words, for the "using ..." line ("" without a background class)."""
        if self.background is None:
            return ""
        chosen = "chosen on the selection split" if self.min_probability == self.sidecar.min_probability else "given"
        if not self.min_probability:
            return f"{self.background!r} ({self.background_text}) when most probable, no minimum probability ({chosen})"
        return (
            f"{self.background!r} ({self.background_text}) also when the top label is under "
            f"{self.min_probability:g} ({chosen})"
        )

    @property
    def background_text(self) -> str:
        """How the background label reads: 'no cats or dogs'."""
        return "no " + " or ".join(label for label in self.labels if label != self.background)

    def decide(self, probabilities: np.ndarray, inference_ms: float) -> Prediction:
        """The Prediction of a distribution over the labels, by the decision rule (catdog.runtime.metrics.decide)."""
        best = int(decide(probabilities[np.newaxis], self.labels, self.background, self.min_probability)[0])
        label = self.labels[best]
        return Prediction(
            label,
            float(probabilities[best]),
            dict(zip(self.labels, map(float, probabilities))),
            inference_ms,
            self.background_text if label == self.background else label,
        )

    def check_model(self) -> None:
        """MismatchError unless the model takes the input and gives the outputs its sidecar says."""
        sidecar, artifact = sidecar_path(self.path).name, self.path.name
        declared, actual = self.input.shape, list(self.backend.input_shape)
        if declared != actual:
            raise MismatchError(f"{sidecar} says input shape {declared} but {artifact} takes {actual}")
        if self.input.dtype != self.backend.input_dtype.name:
            raise MismatchError(
                f"{sidecar} says input dtype {self.input.dtype} but {artifact} takes {self.backend.input_dtype.name}"
            )
        outputs = self.backend.run(np.zeros(actual, self.backend.input_dtype)).shape[-1]
        if outputs != len(self.labels):
            raise MismatchError(
                f"{sidecar} has {len(self.labels)} labels ({', '.join(self.labels)}) "
                f"but {artifact} gives {outputs} outputs"
            )

    @property
    def name(self) -> str:
        """e.g. 'tflite int8 (ai_edge_litert)'."""
        return f"{self.sidecar.format} {self.sidecar.precision} ({self.backend.engine})"

    def probabilities(self, rgb: np.ndarray) -> np.ndarray:
        """Class probabilities for one prepared RGB uint8 image of the model's input size."""
        batch = rgb[np.newaxis]
        scale, zero_point = self.input.scale, self.input.zero_point
        if not (
            batch.dtype == self.backend.input_dtype and scale == 1 and zero_point == 0
        ):  # raw pixels in as they are
            batch = quantize(batch.astype(np.float32), self.backend.input_dtype, scale, zero_point)
        raw = self.backend.run(batch)
        return dequantize(raw, self.output.scale, self.output.zero_point)[0]

    def classify(self, rgb: np.ndarray) -> Prediction:
        """Classify one prepared RGB image (see `prepare`); inference_ms covers quantize, invoke, dequantize."""
        started = time.perf_counter()
        probabilities = self.probabilities(rgb)
        return self.decide(probabilities, (time.perf_counter() - started) * 1000)

    def prepare(self, bgr: np.ndarray) -> np.ndarray:
        """A BGR frame as OpenCV gives it (any size) as this model's input: RGB at the input size."""
        return prepare(bgr, self.size)

    def classify_frame(self, bgr: np.ndarray) -> Prediction:
        """Classify a BGR frame as OpenCV gives it (any size): prepare, invoke, dequantize."""
        return self.classify(self.prepare(bgr))

    def classify_file(self, path: str | Path) -> Prediction:
        """Classify an image file."""
        return self.classify_frame(read_image(path))

    def classify_files(self, paths) -> list[Prediction]:
        """Classify many image files, one by one (edge models run batch 1): Python API (docs/python-api.md)."""
        return [self.classify_file(path) for path in paths]
