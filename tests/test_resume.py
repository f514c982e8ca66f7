"""catdog-train --resume: a run interrupted in phase 2 goes on at its last finished epoch."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import TINY, WEIGHTS

TRAIN = [str(Path(sys.executable).parent / "catdog-train")]
ENV = {"CATDOG_WEIGHTS_DIR": str(WEIGHTS), "TF_CPP_MIN_LOG_LEVEL": "3"}


def test_run_interrupted_in_phase_two_resumes_at_its_last_epoch(tmp_path, tiny_data):
    import os

    options = ["--data", str(tiny_data), *TINY, "--fine-tune-epochs", "3", "--runs-dir", str(tmp_path)]
    process = subprocess.Popen(
        [*TRAIN, *options, "--name", "cut"],
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state_file = tmp_path / f".cut.partial-{process.pid}" / "resume.json"
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None:
        if state_file.is_file() and json.loads(state_file.read_text())["epochs_done"] >= 2:  # 1 head + 1 fine-tune
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.2)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    run = tmp_path / "cut"
    assert stderr.strip().splitlines()[-1] == (
        f"catdog-train: interrupted; {run} keeps the best checkpoint so far; go on with catdog-train --resume {run}"
    )
    state = json.loads((run / "resume.json").read_text())
    assert state["phase"] == 2 and state["head_epochs"] == 1 and 2 <= state["epochs_done"] <= 3
    assert not (run / "model.keras").exists() and (run / "checkpoint-best.keras").is_file()
    interrupted_losses = state["history"]["loss"]

    resumed = subprocess.run(
        [*TRAIN, "--resume", str(run), "--quiet"],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 4 and history["head_epochs"] == 1  # 1 head + 3 fine-tuning epochs in all
    assert history["loss"][: len(interrupted_losses)] == interrupted_losses  # the finished epochs are kept as they were
    assert {p.name for p in run.iterdir()} >= {"model.keras", "metrics.json", "reliability.png"}
    assert not {"resume.json", "resume.keras", "checkpoint-best.keras"} & {p.name for p in run.iterdir()}
    assert json.loads((run / "config.json").read_text())["hyperparameters"]["fine_tune_epochs"] == 3


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    result = subprocess.run([*TRAIN, "--resume", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"catdog-train: error: --resume {tmp_path}: not a run folder (no config.json in it)"
    )
