"""Run and export folders, and the one rule for "the newest export" that catdog-predict and catdog-cam use."""

from __future__ import annotations

import os

import pytest

from catdog.runtime.auto import ModelChoiceError, is_model, load_model
from catdog.runtime.folders import PARITY, RunFolder, default_export, is_export, newest_export
from catdog.runtime.kinds import KINDS


def fake_export(folder, parity_time: float | None):
    """An export folder's file names (content is not looked at here); parity.json with that time, if any."""
    folder.mkdir(parents=True)
    for kind in KINDS[:2]:
        (folder / kind.filename).write_bytes(b"")
        (folder / f"{kind.filename}.json").write_text("{}")
    if parity_time is not None:
        (folder / PARITY).write_text("{}")
        os.utime(folder / PARITY, (parity_time, parity_time))
    return folder


def test_the_newest_export_is_the_complete_one_written_last(tmp_path):
    runs = tmp_path / "runs"
    older = fake_export(runs / "a" / "export", 1_000)
    newer = fake_export(runs / "b" / "export", 2_000)
    fake_export(runs / "c" / "export", None)  # no parity.json: not complete
    (runs / "d" / "export").mkdir(parents=True)  # no artifacts
    assert newest_export(runs) == newer
    os.utime(older / PARITY, (3_000, 3_000))
    assert newest_export(runs) == older
    assert newest_export(tmp_path / "nothing") is None


def test_the_default_run_is_chosen_over_a_newer_experiment(tmp_path):
    runs = tmp_path / "runs"
    fake_export(runs / "experiment" / "export", 2_000)
    assert default_export(runs) == (
        runs / "experiment" / "export",
        f"no complete {runs}/default/export: the newest export",
    )
    fake_export(runs / "default" / "export", 1_000)  # older, but the default model
    assert default_export(runs) == (runs / "default" / "export", "the default model")
    assert default_export(tmp_path / "nothing") == (None, "")


def test_no_model_and_no_export_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelChoiceError, match=r"^no --model given and no complete runs/\*/export folder here"):
        load_model(None)


def test_what_counts_as_a_model_on_the_command_line(tmp_path):
    export = fake_export(tmp_path / "export", 1_000)
    assert is_export(export) and is_model(export) and is_model(tmp_path / "x.tflite") and is_model("y.onnx")
    assert not is_model(tmp_path) and not is_model(tmp_path / "photo.jpg")


def test_a_run_folder_reads_its_files_and_names_a_broken_one(tmp_path):
    run = RunFolder.of_model(tmp_path / "model.keras")
    assert run.path == tmp_path and run.config() == {} and run.split() is None
    (tmp_path / "config.json").write_text('{"labels": ["cats", "dogs"]}')
    (tmp_path / "split.json").write_text("{not json")
    assert run.config() == {"labels": ["cats", "dogs"]}
    with pytest.raises(ValueError, match="split.json is not valid JSON"):
        run.split()
