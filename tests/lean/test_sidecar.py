"""The metadata sidecar (catdog.runtime.metadata.Sidecar): the JSON that exports write, read back field for
field, and every way a sidecar can be unusable said in one line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from support import run_cli

from catdog.runtime.metadata import (
    SCHEMA_VERSION,
    Input,
    MetadataError,
    MismatchError,
    Output,
    Sidecar,
    SourceModel,
    file_sha256,
    sidecar_path,
)

# A sidecar as catdog-export writes it for a two-class model (parity shortened).
ON_DISK = {
    "schema": 1,
    "labels": ["cats", "dogs"],
    "background_label": None,
    "min_probability": None,
    "source": {
        "model": "/work/main/runs/default/model.keras",
        "sha256": "f09df5e197f281d7ea4bcb57a15513cbde1b03d89a1bef1c02936b0052391f2b",
        "architecture": "mobilenetv2",
        "alpha": 1.0,
        "temperature": 1.3039204549225452,
    },
    "tools": {"tensorflow": "2.21.0", "onnxruntime": "1.32.0", "ai-edge-litert": "2.3.0"},
    "format": "tflite",
    "precision": "int8",
    "artifact": "model_int8.tflite",
    "sha256": "ddba2e742cb78d3bd162119c45a32348b8f8986dc7a9926173e829a4ffccb16a",
    "size_bytes": 2733528,
    "input": {
        "name": "pixels",
        "shape": [1, 160, 160, 3],
        "dtype": "uint8",
        "scale": 1.0,
        "zero_point": 0,
        "preparation": {"color": "RGB", "resize": "squash", "interpolation": "area", "range": [0, 255]},
    },
    "output": {
        "name": "Identity",
        "shape": [1, 2],
        "dtype": "uint8",
        "scale": 0.00390625,
        "zero_point": 0,
        "kind": "probabilities",
    },
    "calibration": {"images": 300, "source": "training split", "seed": 42},
    "parity": {"accuracy": 0.975, "label_agreement": 0.991, "problems": [], "passed": True},
}


def artifact_with(tmp_path, sidecar) -> Path:
    """An artifact file beside a sidecar with this content (a dict as JSON, a str as it is)."""
    artifact = tmp_path / "model_int8.tflite"
    artifact.write_bytes(b"model")
    sidecar_path(artifact).write_text(sidecar if isinstance(sidecar, str) else json.dumps(sidecar))
    return artifact


def error_of(artifact) -> str:
    """The MetadataError message of reading an artifact's sidecar."""
    with pytest.raises(MetadataError) as raised:
        Sidecar.read(artifact)
    return str(raised.value)


def test_an_exported_sidecar_reads_into_typed_fields_and_back_unchanged(tmp_path):
    sidecar = Sidecar.read(artifact_with(tmp_path, ON_DISK))
    assert sidecar.labels == ["cats", "dogs"] and (sidecar.format, sidecar.precision) == ("tflite", "int8")
    assert sidecar.input == Input(
        name="pixels",
        shape=[1, 160, 160, 3],
        dtype="uint8",
        scale=1.0,
        zero_point=0,
        preparation=ON_DISK["input"]["preparation"],
    )
    assert (sidecar.output.scale, sidecar.output.zero_point, sidecar.output.kind) == (0.00390625, 0, "probabilities")
    assert sidecar.source.architecture == "mobilenetv2" and sidecar.source.temperature == 1.3039204549225452
    assert sidecar.parity_passed and sidecar.calibration["images"] == 300
    assert sidecar.to_dict() == ON_DISK
    assert list(sidecar.to_dict()) == list(ON_DISK)  # the same keys in the same order as before the class


def test_a_written_sidecar_reads_back_equal(tmp_path):
    artifact = tmp_path / "model_fp32.onnx"
    artifact.write_bytes(b"model")
    written = Sidecar(
        labels=["cats", "dogs", "birds"],
        source=SourceModel(model="model.keras", sha256="ab" * 32),
        format="onnx",
        precision="fp32",
        sha256=file_sha256(artifact),
        input=Input(shape=[1, 96, 96, 3], dtype="float32"),
        output=Output(shape=[1, 3], dtype="float32", kind="probabilities"),
    )
    written.write(artifact)
    assert json.loads(sidecar_path(artifact).read_text())["schema"] == SCHEMA_VERSION
    read = Sidecar.read(artifact)
    assert read == written and not read.parity_passed
    read.check_sha256(artifact)  # the hash it records is the artifact's


def test_a_sidecar_from_before_the_background_class_reads_as_a_two_class_model(tmp_path):
    older = {key: value for key, value in ON_DISK.items() if key not in ("background_label", "min_probability")}
    sidecar = Sidecar.read(artifact_with(tmp_path, older))
    assert sidecar.background_label is None and sidecar.min_probability is None


def test_fields_of_a_newer_export_in_the_same_schema_are_left_out(tmp_path):
    newer = {**ON_DISK, "signature": "x", "input": {**ON_DISK["input"], "layout": "NHWC"}}
    assert Sidecar.read(artifact_with(tmp_path, newer)).to_dict() == ON_DISK


def test_a_sidecar_without_a_schema_is_of_the_first_one(tmp_path):
    first = {key: value for key, value in ON_DISK.items() if key != "schema"}
    assert Sidecar.read(artifact_with(tmp_path, first)).schema == 1 == SCHEMA_VERSION


@pytest.mark.parametrize(
    "schema, says", [(0, "an older catdog-export: export it again"), (2, "a newer catdog: upgrade")]
)
def test_a_sidecar_of_another_schema_is_one_clear_error(tmp_path, schema, says):
    artifact = artifact_with(tmp_path, {"schema": schema, "labels": ["cats", "dogs"]})
    assert error_of(artifact) == (
        f"metadata {sidecar_path(artifact)} has schema {schema}, this runtime reads {SCHEMA_VERSION} (made by {says})"
    )


@pytest.mark.parametrize(
    "left_out, says",
    [
        (("labels", "precision"), " lacks labels, precision"),
        (("output",), " lacks output"),
        (("sha256",), " records no SHA-256 of its artifact (made by an older catdog-export: export it again)"),
    ],
)
def test_a_sidecar_lacking_a_field_is_one_clear_error(tmp_path, left_out, says):
    without = {key: value for key, value in ON_DISK.items() if key not in left_out}
    for sidecar in (without, {**without, **dict.fromkeys(left_out)}):  # left out, or null
        artifact = artifact_with(tmp_path, sidecar)
        assert error_of(artifact) == f"metadata {sidecar_path(artifact)}{says}"


@pytest.mark.parametrize(
    "change, says",
    [
        (
            {"input": {**ON_DISK["input"], "shape": [160, 160, 3]}},
            "input shape [160, 160, 3] is not [batch, height, width, channels]",
        ),
        ({"input": [1, 160, 160, 3]}, "input [1, 160, 160, 3] is not a JSON object"),
        ({"source": "model.keras"}, "source 'model.keras' is not a JSON object"),
        ({"labels": "cats,dogs"}, "labels 'cats,dogs' is not a list of names"),
        ({"labels": []}, "labels [] is not a list of names"),
        ({"labels": ["cats", "cats"]}, "labels ['cats', 'cats'] names a label twice"),
        ({"format": ["tflite"]}, "format ['tflite'] is not a string"),
        ({"background_label": "birds"}, "background_label 'birds' is not one of the labels"),
        ({"labels": ["cats", "dogs", "none"], "min_probability": 1.5}, "min_probability 1.5 is not a number in [0, 1)"),
        (
            {"labels": ["cats", "dogs", "none"], "min_probability": "high"},
            "min_probability 'high' is not a number in [0, 1)",
        ),
    ],
)
def test_a_sidecar_garbling_a_field_is_one_clear_error(tmp_path, change, says):
    artifact = artifact_with(tmp_path, {**ON_DISK, **change})
    assert error_of(artifact) == f"metadata {sidecar_path(artifact)}: {says}"


@pytest.mark.parametrize(
    "content, says",
    [
        ("[1, 2]", "is not a JSON object"),
        ('{"labels": ', "is not valid JSON (Expecting value: line 1 column 12 (char 11))"),
    ],
)
def test_an_unreadable_sidecar_is_one_clear_error(tmp_path, content, says):
    artifact = artifact_with(tmp_path, content)
    assert error_of(artifact) == f"unreadable metadata: {sidecar_path(artifact)} {says}"


def test_an_artifact_without_a_sidecar_says_which_file_it_expected(tmp_path):
    assert error_of(tmp_path / "model_fp16.tflite") == (
        f"no metadata beside {tmp_path / 'model_fp16.tflite'} (expected model_fp16.tflite.json; made by catdog-export)"
    )


def test_parity_passed_only_when_the_export_said_so(tmp_path):
    sidecar = Sidecar.read(artifact_with(tmp_path, ON_DISK))
    assert sidecar.parity_passed
    for parity in (None, {}, {"passed": False}, {"passed": "yes"}):
        assert not replace(sidecar, parity=parity).parity_passed


def test_an_artifact_that_is_not_the_one_described_is_a_mismatch(tmp_path):
    artifact = artifact_with(tmp_path, ON_DISK)
    with pytest.raises(MismatchError) as raised:
        Sidecar.read(artifact).check_sha256(artifact)
    assert str(raised.value) == (
        f"{artifact} is not the file its sidecar describes: SHA-256 {file_sha256(artifact)[:12]}..., "
        "model_int8.tflite.json says ddba2e742cb7... (copy an artifact and its sidecar together, or export again)"
    )


def test_the_board_commands_say_it_in_one_line(tmp_path):
    artifact = artifact_with(tmp_path, {**ON_DISK, "schema": 2})
    images = {"catdog-predict": [tmp_path], "catdog-cam": ["--source", tmp_path, "--no-display"]}
    for command, arguments in images.items():
        result = run_cli(command, "--model", artifact, *arguments)
        assert result.returncode == 2 and result.stdout == "", result.stderr
        assert result.stderr == (
            f"{command}: error: metadata {sidecar_path(artifact)} has schema 2, this runtime reads {SCHEMA_VERSION} "
            "(made by a newer catdog: upgrade)\n"
        )
