"""catdog-train --resume: a run interrupted in phase 2 (Ctrl-C, `kill`, or killed outright) goes on at its last
finished epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import TINY, WEIGHTS

TRAIN = [str(Path(sys.executable).parent / "catdog-train")]
ENV = {**os.environ, "CATDOG_WEIGHTS_DIR": str(WEIGHTS), "TF_CPP_MIN_LOG_LEVEL": "3"}


def interrupt_in_phase_two(runs: Path, data: Path, signal_number: int) -> tuple[subprocess.Popen, str, dict]:
    """Start a tiny run (1 head epoch, 3 fine-tuning epochs) and send it `signal_number` once a fine-tuning
    epoch has finished; the process, its stderr and the resume point it had saved by then."""
    options = ["--data", str(data), *TINY, "--fine-tune-epochs", "3", "--runs-dir", str(runs)]
    process = subprocess.Popen(
        [*TRAIN, *options, "--name", "cut"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    state_file = runs / f".cut.partial-{process.pid}" / "resume.json"
    deadline, state = time.time() + 600, {}
    while time.time() < deadline and process.poll() is None:
        if state_file.is_file() and (state := json.loads(state_file.read_text()))["epochs_done"] >= 2:
            process.send_signal(signal_number)
            break
        time.sleep(0.2)
    _, stderr = process.communicate(timeout=300)
    assert "Traceback" not in stderr, stderr
    return process, stderr, state


def resume_and_check(run: Path, interrupted: dict) -> subprocess.CompletedProcess:
    """catdog-train --resume RUN ends the run as an uninterrupted one would have: 4 epochs, the first ones kept,
    and their training time counted."""
    resumed = subprocess.run([*TRAIN, "--resume", str(run), "--quiet"], env=ENV, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 4 and history["head_epochs"] == 1  # 1 head + 3 fine-tuning epochs in all
    assert history["loss"][: interrupted["epochs_done"]] == interrupted["history"]["loss"]  # kept as they were
    assert json.loads((run / "metrics.json").read_text())["wall_seconds"] > interrupted["seconds"] > 0
    assert {p.name for p in run.iterdir()} >= {"model.keras", "metrics.json", "reliability.png"}
    assert not {"resume.json", "resume.keras", "checkpoint-best.keras"} & {p.name for p in run.iterdir()}
    assert json.loads((run / "config.json").read_text())["hyperparameters"]["fine_tune_epochs"] == 3
    return resumed


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_run_interrupted_in_phase_two_resumes_at_its_last_epoch(tmp_path, tiny_data, signal_number):
    process, stderr, _ = interrupt_in_phase_two(tmp_path, tiny_data, signal_number)
    run = tmp_path / "cut"
    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] == (
        f"catdog-train: interrupted; {run} keeps the best checkpoint so far; go on with catdog-train --resume {run}"
    )
    state = json.loads((run / "resume.json").read_text())
    assert state["phase"] == 2 and state["head_epochs"] == 1 and 2 <= state["epochs_done"] <= 3
    assert not (run / "model.keras").exists() and (run / "checkpoint-best.keras").is_file()
    assert not (run / "config.json").exists()  # written once, at the end: until then the resume point's recipe
    assert state["recipe"]["hyperparameters"]["fine_tune_epochs"] == 3 and "layout" in json.loads(
        (run / "split.json").read_text()
    )
    resume_and_check(run, state)


def test_run_killed_outright_in_phase_two_resumes_from_its_hidden_folder(tmp_path, tiny_data):
    process, _, state = interrupt_in_phase_two(tmp_path, tiny_data, signal.SIGKILL)
    run, hidden = tmp_path / "cut", tmp_path / f".cut.partial-{process.pid}"
    assert process.returncode == -signal.SIGKILL and not run.exists() and hidden.is_dir()
    resumed = resume_and_check(run, state)
    assert f"catdog-train: {run} put in place from {hidden.name}, left by a run that was killed" in resumed.stderr
    assert not hidden.exists()


def test_resume_of_a_folder_with_no_resume_point(tmp_path):
    result = subprocess.run([*TRAIN, "--resume", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"catdog-train: error: --resume {tmp_path}: nothing to resume (no resume.json in it; a run writes one "
        "after every epoch until it ends)"
    )
