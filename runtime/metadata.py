"""The metadata sidecar written beside every artifact: all the board needs to know to use it.

`model_int8.tflite` has `model_int8.tflite.json` beside it with, among others:
  labels, input {shape, dtype, scale, zero_point, preparation}, output {dtype, scale, zero_point},
  format, precision, source model hash, calibration, tool versions, parity (passed or not).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

SCHEMA_VERSION = 1


class MetadataError(ValueError):
    """A missing or incomplete sidecar."""


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
        metadata = json.loads(path.read_text())
        missing = [k for k in ("labels", "input", "output", "format", "precision") if k not in metadata]
    except (json.JSONDecodeError, TypeError) as error:
        raise MetadataError(f"unreadable metadata {path}: {error}") from None
    if missing:
        raise MetadataError(f"metadata {path} lacks {', '.join(missing)}")
    return metadata


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
