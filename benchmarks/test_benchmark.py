"""The benchmark cases, one per run x artifact (x thread count): each measures through the library
(measure.Bench), which records the row for the report, and asserts what must hold. Skipped without
--benchmark / --pi-emulated; conftest.py makes the cases from the options. No timing is ever asserted."""

from __future__ import annotations

import math
from pathlib import Path

import measure
import pytest


def assert_timed(row: dict, case: measure.Case, bench, settings) -> None:
    """A latency row: recorded, with the artifact's real size, its engine and the rounds the budget allows."""
    assert row in bench.results.latency
    assert row["size_mb"] == bench.path(case.run, case.artifact).stat().st_size / 1e6
    assert row["engine"] and settings.min_rounds <= row["rounds"] <= settings.max_rounds
    assert 0 < row["min_ms"] <= row["median_ms"] <= row["p90_ms"] and math.isfinite(row["p90_ms"])
    assert row["fps"] == pytest.approx(1000 / row["median_ms"])


@pytest.mark.catdog_benchmark
def test_accuracy(quality_case, bench):
    """Every validation image through the artifact; within --max-drop points of float and at least
    --min-agreement percent label agreement (the reference itself included: it must give finite numbers)."""
    row = bench.quality(quality_case)
    assert row["images"] == len(bench.validation(quality_case.run).paths)
    assert sum(map(sum, row["confusion_matrix"])) == row["images"]
    assert row["parity"] in ("ok", "reference"), row.get("parity_problem", row["parity"])


@pytest.mark.catdog_benchmark
def test_latency(latency_case, bench, settings):
    """Median and p90 latency of one prepared image, per artifact and thread count, all cores allowed."""
    assert_timed(bench.latency(latency_case), latency_case, bench, settings)


@pytest.mark.catdog_benchmark
def test_latency_one_core(proxy_case, bench, settings):
    """Raspberry Pi-class proxy: the interpreter and all its threads confined to one CPU, 1 and 4 threads."""
    row = bench.proxy(proxy_case)
    assert_timed(row, proxy_case, bench, settings)
    assert row["threads_confined"], f"{proxy_case.id}: some interpreter threads escaped CPU {row['cpu']}"


@pytest.mark.catdog_benchmark
def test_cam_loop(cam_case, bench, settings):
    """End to end: `catdog-cam --no-display --source VIDEO --max-frames N` on a video of validation photos."""
    row = bench.cam(cam_case)
    assert row["frames"] == settings.cam_frames, f"{cam_case.id}: catdog-cam classified {row['frames']} frames"
    assert row["json_lines"] == row["frames"], f"{cam_case.id}: {row['json_lines']} JSON lines for {row['frames']}"
    assert row["loop_fps"] > 0 and 0 < row["p50_ms"] <= row["p90_ms"]


@pytest.mark.pi_emulated
def test_pi_emulated(emulated_case, bench, settings):
    """int8 artifacts through catdog.runtime on emulated aarch64 (Debian bookworm / trixie): the same labels
    as x86 on every sampled validation image."""
    rows = bench.emulated(*emulated_case)
    assert rows and all(
        row["images"] == min(settings.pi_images, len(bench.validation(row["run"]).paths)) for row in rows
    )
    problems = [
        f"{row['artifact']} on {row['suite']} (Python {row['python']}, {row['machine']}): labels differ from x86 "
        f"on {len(row['mismatches'])} of {row['images']} images (indices {row['mismatches']})"
        for row in rows
        if row["mismatches"]
    ]
    assert not problems, "; ".join(problems)


@pytest.mark.catdog_benchmark
def test_the_library_measures_a_run_without_pytest(bench, settings):
    """measure.benchmark() on the smoke run's export folder and images gives what the pytest cases give: the
    same accuracy per artifact, and a latency row per artifact."""
    if not settings.smoke:
        pytest.skip("checked in --smoke mode (it measures the run again)")
    run, paths = bench.run("smoke"), bench.validation("smoke").paths
    data = Path(paths[0]).parents[1]  # the folder with one folder per label
    results = measure.benchmark([run.export], kinds=("quality", "latency"), smoke=True, data=str(data))
    (name,) = results.runs
    artifacts = run.artifacts()  # the export inside its run folder: the Keras row too
    assert sorted(row["artifact"] for row in results.latency) == sorted(artifacts)
    for artifact in artifacts:
        row, here = results.quality[f"{name}/{artifact}"], bench.quality(measure.Case("smoke", artifact))
        assert (row["images"], row["accuracy"]) == (here["images"], here["accuracy"]), artifact
