"""The metadata sidecar written beside every artifact: all the board needs to know to use it.

`model_int8.tflite` has `model_int8.tflite.json` beside it with, among others:
  labels, input {shape, dtype, scale, zero_point, preparation}, output {dtype, scale, zero_point},
  format, precision, the artifact's own SHA-256, source model hash, calibration, tool versions,
  parity (passed or not).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from catdog.runtime.files import read_json

SCHEMA_VERSION = 1  # raised when a reader of the old sidecars could misread the new ones
REQUIRED = ("labels", "input", "output", "format", "precision", "sha256")


class MetadataError(ValueError):
    """A missing, unreadable or incomplete sidecar."""


class MismatchError(MetadataError):
    """A sidecar that does not describe the artifact beside it."""


def sidecar_path(artifact: str | Path) -> Path:
    """Where an artifact's metadata lives: the artifact's name plus .json."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def read_metadata(artifact: str | Path) -> dict:
    """The sidecar of an artifact, checked for the fields the runtime relies on."""
    path = sidecar_path(artifact)
    if not path.is_file():
        raise MetadataError(f"no metadata beside {artifact} (expected {path.name}; made by catdog-export)")
    try:
        metadata = read_json(path)
    except ValueError as error:
        raise MetadataError(f"unreadable metadata: {error}") from None
    if not isinstance(metadata, dict):
        raise MetadataError(f"unreadable metadata: {path} is not a JSON object")
    schema = metadata.get("schema", 1)
    if schema != SCHEMA_VERSION:
        older = isinstance(schema, int) and schema < SCHEMA_VERSION
        made_by = "an older catdog-export: export it again" if older else "a newer catdog: upgrade"
        raise MetadataError(
            f"metadata {path} has schema {schema}, this runtime reads {SCHEMA_VERSION} (made by {made_by})"
        )
    missing = [key for key in REQUIRED if key not in metadata]
    if missing == ["sha256"]:  # the sidecars of catdog 0.1, before the artifact's hash was recorded
        raise MetadataError(
            f"metadata {path} records no SHA-256 of its artifact (made by an older catdog-export: export it again)"
        )
    if missing:
        raise MetadataError(f"metadata {path} lacks {', '.join(missing)}")
    shape, labels = (metadata["input"] or {}).get("shape"), metadata["labels"]
    if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(d, int) for d in shape)):
        raise MetadataError(f"metadata {path}: input shape {shape!r} is not [batch, height, width, channels]")
    if not (isinstance(labels, list) and labels and all(isinstance(label, str) for label in labels)):
        raise MetadataError(f"metadata {path}: labels {labels!r} is not a list of names")
    return metadata


def check_sha256(artifact: str | Path, metadata: dict) -> None:
    """MismatchError unless the artifact's SHA-256 is the one its sidecar records."""
    actual = file_sha256(artifact)
    if actual != metadata["sha256"]:
        raise MismatchError(
            f"{artifact} is not the file its sidecar describes: SHA-256 {actual[:12]}..., "
            f"{sidecar_path(artifact).name} says {str(metadata['sha256'])[:12]}... "
            "(copy an artifact and its sidecar together, or export again)"
        )


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
