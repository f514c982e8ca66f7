"""The metadata sidecar written beside every artifact: all the board needs to know to use it.

`model_int8.tflite` has `model_int8.tflite.json` beside it: a `Sidecar`, whose fields are the JSON's keys.
catdog-export writes it (`Sidecar.write`), the runtime reads it (`Sidecar.read`, which checks its schema version
and the fields the runtime relies on).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

from catdog.runtime.files import read_json, write_json

SCHEMA_VERSION = 1  # raised when a reader of the old sidecars could misread the new ones


class MetadataError(ValueError):
    """A missing, unreadable or incomplete sidecar."""


class MismatchError(MetadataError):
    """A sidecar that does not describe the artifact beside it."""


@dataclass(frozen=True, kw_only=True)
class Tensor:
    """The model's input or output as the artifact takes or gives it. Integer tensors are quantized:
    real = (q - zero_point) * scale; scale and zero_point are None for float tensors."""

    name: str | None = None
    shape: list[int] | None = None
    dtype: str | None = None
    scale: float | None = None
    zero_point: int | None = None


@dataclass(frozen=True, kw_only=True)
class Input(Tensor):
    """The input, and how pixels are prepared for it (catdog.runtime.images.PREPARATION)."""

    preparation: dict | None = None


@dataclass(frozen=True, kw_only=True)
class Output(Tensor):
    """The output, and what it holds ("probabilities")."""

    kind: str | None = None


@dataclass(frozen=True, kw_only=True)
class SourceModel:
    """The Keras model an artifact was exported from."""

    model: str | None = None
    sha256: str | None = None
    architecture: str | None = None
    alpha: float | None = None
    temperature: float | None = None  # folded into the model by catdog-train


@dataclass(frozen=True, kw_only=True)
class Sidecar:
    """An artifact's sidecar. The fields without a default are required on read; the JSON keys are these
    fields' names, in this order."""

    schema: int = SCHEMA_VERSION
    labels: list[str]
    background_label: str | None = None  # the label meaning "no cat or dog", if the model has one
    min_probability: float | None = None  # the decision rule: another label below it is reported as the background
    source: SourceModel | None = None
    tools: dict[str, str] | None = None  # installed versions of the export's tools
    format: str
    precision: str
    artifact: str | None = None  # the artifact's file name
    sha256: str  # of the artifact
    size_bytes: int | None = None
    input: Input
    output: Output
    calibration: dict | None = None  # int8 only: how many images, from where, seed
    parity: dict | None = None  # catdog.runtime.metrics.check_parity against the float model

    @classmethod
    def read(cls, artifact: str | Path) -> Sidecar:
        """The sidecar of an artifact; MetadataError, one line, if it is missing, of another schema version,
        or lacks or garbles a field the runtime relies on."""
        path = sidecar_path(artifact)
        if not path.is_file():
            raise MetadataError(f"no metadata beside {artifact} (expected {path.name}; made by catdog-export)")
        try:
            data = read_json(path)
        except ValueError as error:
            raise MetadataError(f"unreadable metadata: {error}") from None
        if not isinstance(data, dict):
            raise MetadataError(f"unreadable metadata: {path} is not a JSON object")
        schema = data.get("schema", 1)  # the first sidecars had no "schema"
        if schema != SCHEMA_VERSION:
            older = isinstance(schema, int) and schema < SCHEMA_VERSION
            made_by = "an older catdog-export: export it again" if older else "a newer catdog: upgrade"
            raise MetadataError(
                f"metadata {path} has schema {schema}, this runtime reads {SCHEMA_VERSION} (made by {made_by})"
            )
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        missing = [name for name in required if data.get(name) is None]
        if missing == ["sha256"]:  # the sidecars of catdog 0.1, before the artifact's hash was recorded
            raise MetadataError(
                f"metadata {path} records no SHA-256 of its artifact (made by an older catdog-export: export it again)"
            )
        if missing:
            raise MetadataError(f"metadata {path} lacks {', '.join(missing)}")
        values = known_fields(cls, data)
        for name, kind in (("input", Input), ("output", Output), ("source", SourceModel)):
            value = values.get(name)
            if value is not None and not isinstance(value, dict):
                raise MetadataError(f"metadata {path}: {name} {value!r} is not a JSON object")
            if value is not None:
                values[name] = kind(**known_fields(kind, value))
        sidecar = cls(**values)
        sidecar.check_types(path)
        return sidecar

    def check_types(self, path: Path) -> None:
        """MetadataError unless the values the runtime relies on have their types."""
        shape, labels = self.input.shape, self.labels
        if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(d, int) for d in shape)):
            raise MetadataError(f"metadata {path}: input shape {shape!r} is not [batch, height, width, channels]")
        if not (isinstance(labels, list) and labels and all(isinstance(label, str) for label in labels)):
            raise MetadataError(f"metadata {path}: labels {labels!r} is not a list of names")
        if len(set(labels)) < len(labels):
            raise MetadataError(f"metadata {path}: labels {labels!r} names a label twice")
        if self.background_label is not None and self.background_label not in labels:
            raise MetadataError(f"metadata {path}: background_label {self.background_label!r} is not one of the labels")
        rule = self.min_probability
        if rule is not None and not (isinstance(rule, (int, float)) and 0 <= rule < 1):
            raise MetadataError(f"metadata {path}: min_probability {rule!r} is not a number in [0, 1)")
        for name in ("format", "precision", "sha256"):
            if not isinstance(getattr(self, name), str):
                raise MetadataError(f"metadata {path}: {name} {getattr(self, name)!r} is not a string")

    def to_dict(self) -> dict:
        """The sidecar as the JSON object on disk (every field; None as null)."""
        return dataclasses.asdict(self)

    def write(self, artifact: str | Path) -> None:
        """Write this sidecar beside an artifact."""
        write_json(sidecar_path(artifact), self.to_dict())

    @property
    def parity_passed(self) -> bool:
        """Whether the export's parity check passed for this artifact."""
        return (self.parity or {}).get("passed") is True

    def check_sha256(self, artifact: str | Path) -> None:
        """MismatchError unless the artifact's SHA-256 is the one this sidecar records."""
        actual = file_sha256(artifact)
        if actual != self.sha256:
            raise MismatchError(
                f"{artifact} is not the file its sidecar describes: SHA-256 {actual[:12]}..., "
                f"{sidecar_path(artifact).name} says {self.sha256[:12]}... "
                "(copy an artifact and its sidecar together, or export again)"
            )


def known_fields(cls, data: dict) -> dict:
    """The entries of a JSON object that are fields of a dataclass (a newer export's extra keys are left out)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {key: value for key, value in data.items() if key in names}


def sidecar_path(artifact: str | Path) -> Path:
    """Where an artifact's metadata lives: the artifact's name plus .json."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions(packages) -> dict[str, str]:
    """The installed version of each of these distributions that is installed (the sidecar's "tools", the
    benchmark's machine description)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in packages:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    return versions
