"""What an exported artifact can be, defined once: its file format (and so its suffix and engine), its
precision, and the catdog-export flag that asks for it. The runtime picks and loads artifacts by these
entries, catdog-export attaches a converter to each (export/formats.py), and the benchmark and the tests
list them from here: adding a kind is one line here and one converter there."""

from __future__ import annotations

from dataclasses import dataclass

SUFFIXES = {"tflite": ".tflite", "onnx": ".onnx"}  # file format -> suffix
PRECISIONS = ("int8", "fp16", "fp32")  # in an export folder, the first that passed parity is used


@dataclass(frozen=True)
class ArtifactKind:
    """One kind of artifact: file format, precision, and the catdog-export flag that asks for it (None:
    always exported)."""

    format: str
    precision: str
    flag: str | None = None

    @property
    def suffix(self) -> str:
        return SUFFIXES[self.format]

    @property
    def filename(self) -> str:
        return f"model_{self.precision}{self.suffix}"

    @property
    def preference(self) -> tuple[int, int]:
        """Sort key in an export folder: int8 first (what the board is for), then TFLite before ONNX."""
        return PRECISIONS.index(self.precision), list(SUFFIXES).index(self.format)


KINDS = (
    ArtifactKind("tflite", "fp32"),
    ArtifactKind("tflite", "fp16", "fp16"),
    ArtifactKind("tflite", "int8", "int8"),
    ArtifactKind("onnx", "fp32"),
    ArtifactKind("onnx", "int8", "int8"),
)
FLAGS = tuple(dict.fromkeys(kind.flag for kind in KINDS if kind.flag))  # catdog-export's --int8, --fp16


def format_of(suffix: str) -> str | None:
    """The file format of a suffix ('.tflite' -> 'tflite'), None if no artifact kind has it."""
    return next((name for name, known in SUFFIXES.items() if known == suffix), None)
