"""Thread counts: with no --threads, both interpreters use every CPU this process may run on, and choosing
the fastest artifact of an export folder times every artifact at that same count."""

from __future__ import annotations

import os
import re

import pytest
from support import run_cli

from catdog.runtime import Classifier


@pytest.mark.parametrize("name", ["model_int8.tflite", "model_int8.onnx"])
def test_the_default_is_every_usable_cpu(tiny_export, name):
    classifier = Classifier(tiny_export / name)
    assert classifier.threads == len(os.sched_getaffinity(0))
    if name.endswith(".onnx"):
        assert classifier.backend.session.get_session_options().intra_op_num_threads == classifier.threads
    assert Classifier(tiny_export / name, threads=1).threads == 1


def one_cpu():
    """Run the child on one CPU, as `taskset -c 0` would."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def test_the_using_line_names_the_thread_count(tiny_export, camera_photos):
    result = run_cli("catdog-predict", "--model", tiny_export, camera_photos, check=True)
    cpus = len(os.sched_getaffinity(0))
    using = rf"catdog-predict: using {re.escape(str(tiny_export))}/model_\w+\.\w+: \w+ \w+ \(\w+\), "
    assert re.search(using + f"{cpus} thread{'s' if cpus > 1 else ''}; ", result.stderr), result.stderr
    pinned = run_cli("catdog-predict", "--model", tiny_export, camera_photos, preexec_fn=one_cpu, check=True)
    assert re.search(using + "1 thread; ", pinned.stderr), pinned.stderr


def test_auto_times_every_artifact_at_the_same_count(tiny_export, camera_photos):
    result = run_cli(
        "catdog-predict", "--model", tiny_export, camera_photos, "--backend", "auto", preexec_fn=one_cpu, check=True
    )
    line = next(line for line in result.stderr.splitlines() if " using " in line)
    assert re.search(r"using \S+: .+, 1 thread; fastest of 5 that passed parity: [\d.]+ ms median vs ", line), line
    assert len(re.findall(r"\b[\d.]+ ms\b", line)) == 5  # every artifact that passed parity


def test_auto_on_one_file_is_refused(tiny_export, camera_photos):
    model = tiny_export / "model_int8.tflite"
    result = run_cli("catdog-predict", "--model", model, camera_photos, "--backend", "auto")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"catdog-predict: error: --backend auto chooses among an export folder's artifacts; "
        f"{model} is one file (give its folder, {tiny_export})\n"
    )
