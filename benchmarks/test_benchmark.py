"""The benchmark cases: per run x artifact (x thread count) accuracy and int8 parity, latency on all cores and
on one core, the catdog-cam loop, and the emulated aarch64 label check. Skipped without --benchmark /
--pi-emulated; the cases are made from the options by conftest.py (pytest_generate_tests)."""

from __future__ import annotations

import json

import bench_core as core
import numpy as np
import pytest

from catdog.runtime.classifier import Classifier


def measure(benchmark, target, settings, case, extra: dict) -> dict:
    """Time target() with pytest-benchmark (pedantic: warm-up rounds, then as many rounds as fit the budget)."""
    if benchmark.disabled:
        pytest.skip("pytest-benchmark is disabled (--benchmark-disable): nothing timed")
    rounds = core.plan_rounds(target, settings.budget_s, settings.min_rounds, settings.max_rounds)
    benchmark.group = f"{case.run} {case.profile}"
    benchmark.name = f"{case.label} t{case.threads}"
    benchmark.extra_info.update(extra)
    benchmark.pedantic(target, rounds=rounds, warmup_rounds=settings.warmup_rounds, iterations=1)
    return core.latency_stats(benchmark.stats.stats.data)


def latency_row(case, artifact: core.Artifact, engine: str, stats: dict, **extra) -> dict:
    return {
        "run": case.run,
        "artifact": case.artifact,
        "label": case.label,
        "format": case.format,
        "precision": case.precision,
        "engine": engine,
        "profile": case.profile,
        "threads": case.threads,
        "size_mb": artifact.path.stat().st_size / 1e6,
        **stats,
        **extra,
    }


@pytest.mark.catdog_benchmark
def test_accuracy(quality_case, bench, settings):
    """Accuracy and log loss on every validation image; int8 within --max-drop points of float and at least
    --min-agreement percent label agreement."""
    case = quality_case
    artifact = bench.artifact(case)
    validation, reference = bench.validation(case.run), bench.reference(case.run)
    row = core.score(validation.labels, validation.truth, bench.probabilities(case.run, artifact), reference)
    row.update(
        label=case.label,
        format=case.format,
        precision=case.precision,
        run=case.run,
        artifact=case.artifact,
        size_mb=artifact.path.stat().st_size / 1e6,
        parity="reference" if reference and reference.name.startswith(case.label) else "—",
    )
    key = f"{case.run}/{case.artifact}"
    bench.results.quality[key] = row
    if case.precision != "int8":
        return
    if reference is None:
        row["parity"] = "no float reference"
        pytest.fail(
            f"{key}: no float reference to check parity against (no Keras model, parity.json or fp32 artifact)",
            pytrace=False,
        )
    problem = core.parity_problem(case.run, case.artifact, row, settings.max_drop, settings.min_agreement)
    row["parity"] = "ok" if problem is None else "FAILED"
    if problem:
        row["parity_problem"] = problem
    assert problem is None, problem


@pytest.mark.catdog_benchmark
def test_latency(latency_case, bench, settings, benchmark):
    """Median and p90 latency of one prepared image, per artifact and thread count, all cores allowed."""
    case = latency_case
    artifact = bench.artifact(case)
    image = bench.images(case.run)[0]
    if artifact.lean:
        classifier = Classifier(artifact.path, case.threads)
        engine, extra = classifier.backend.engine, {}
        target = lambda: classifier.probabilities(image)  # noqa: E731
    else:
        model, intra = bench.keras(case.run)
        import tensorflow as tf

        engine = f"tensorflow {tf.__version__}"
        extra = {"tf_intra_op_threads": intra}
        if not intra:
            bench.results.note(
                f"{case.run}: Keras row with TensorFlow's default thread pool (all cores): TensorFlow "
                "was already running in this process before the benchmark could set it"
            )
        elif intra != case.threads:
            bench.results.note(
                f"{case.run}: Keras row at TensorFlow's {intra} intra-op threads, not {case.threads} "
                "(its pool is fixed once per process)"
            )
        target = core.keras_target(model, image)
    stats = measure(benchmark, target, settings, case, {"engine": engine, **extra})
    bench.results.latency.append(latency_row(case, artifact, engine, stats, **extra))


@pytest.mark.catdog_benchmark
def test_latency_one_core(proxy_case, bench, settings, benchmark):
    """Raspberry Pi-class proxy: the interpreter and all its threads confined to one CPU, 1 and 4 threads."""
    case = proxy_case
    artifact = bench.artifact(case)
    image = bench.images(case.run)[0]
    try:
        with core.one_cpu() as (cpu, confined):
            classifier = Classifier(artifact.path, case.threads)
            target = lambda: classifier.probabilities(image)  # noqa: E731
            stats = measure(benchmark, target, settings, case, {"cpu": cpu})
            all_confined = confined()
    except core.BenchError as error:
        bench.skip(f"1-core proxy skipped: {error}")
    bench.results.latency.append(
        latency_row(case, artifact, classifier.backend.engine, stats, cpu=cpu, threads_confined=all_confined)
    )
    assert all_confined, f"{case.id}: some interpreter threads escaped CPU {cpu}: {core.thread_cpus()}"


@pytest.mark.catdog_benchmark
def test_cam_loop(cam_case, bench, settings):
    """End to end: `catdog-cam --no-display --source VIDEO --max-frames N` on a video of validation photos."""
    case = cam_case
    artifact = bench.artifact(case)
    command = core.cam_command()
    if command is None:
        bench.skip("catdog-cam case skipped: catdog.runtime.cam does not exist yet")
    video = bench.video(case.run)
    try:
        row = core.run_cam(command, artifact.path, video, settings.cam_frames, case.threads)
    except core.BenchError as error:
        pytest.fail(str(error), pytrace=False)
    bench.results.cam.append(
        {
            "run": case.run,
            "artifact": case.artifact,
            "label": case.label,
            "threads": case.threads,
            "video": video.name,
            **row,
        }
    )
    assert row["frames"] == settings.cam_frames, f"{case.id}: catdog-cam classified {row['frames']} frames"
    assert row["json_lines"] == row["frames"], f"{case.id}: {row['json_lines']} JSON lines for {row['frames']} frames"


@pytest.mark.pi_emulated
def test_pi_emulated(emulated_case, bench, settings, tmp_path_factory):
    """int8 artifacts through catdog.runtime on emulated aarch64 (Debian bookworm / trixie): same labels as
    x86 on every sampled validation image."""
    name, suite = emulated_case
    run = bench.run(name)
    int8 = [a for a in run.artifacts(keras=False) if a.precision == "int8"]
    if not int8:
        bench.skip(f"{name}: no int8 artifact to check on emulated aarch64")
    request_path = bench._cached(
        ("emulated request", name), lambda: _emulated_request(bench, name, int8, tmp_path_factory)
    )
    host = bench._cached(("emulated host", name), lambda: _classify_here(request_path))
    try:
        setup_seconds = core.setup_suite(suite)
        guest = core.run_emulated(suite, request_path)
    except core.BenchError as error:
        pytest.fail(str(error), pytrace=False)
    problems = []
    for artifact in int8:
        here, there = host["results"][artifact.name], guest["results"][artifact.name]
        mismatches = [i for i, (a, b) in enumerate(zip(here["labels"], there["labels"])) if a != b]
        difference = float(np.abs(np.asarray(here["probabilities"]) - np.asarray(there["probabilities"])).max())
        images = len(here["labels"])
        own = [i for i, (a, b) in enumerate(zip(here["labels"], there["own_labels"])) if a != b]
        bench.results.emulated.append(
            {
                "run": name,
                "suite": suite,
                "python": guest["python"],
                "machine": guest["machine"],
                "artifact": artifact.name,
                "engine": there["engine"],
                "images": images,
                "agreement": 100.0 * (images - len(mismatches)) / images,
                "mismatches": mismatches,
                "max_probability_difference": difference,
                "guest_prepared_identical": guest["prepared"]["identical"],
                "guest_prepared_max_abs_difference": guest["prepared"]["max_abs_difference"],
                "guest_prepared_label_agreement": 100.0 * (images - len(own)) / images,
                "guest_prepared_mismatches": own,
                "seconds": there["seconds"],
                "x86_seconds": here["seconds"],
                "setup_seconds": setup_seconds,
                "versions": guest["versions"],
            }
        )
        if mismatches:
            problems.append(
                f"{artifact.name} on {suite} (Python {guest['python']}, {guest['machine']}): labels "
                f"differ from x86 on {len(mismatches)} of {images} images (indices {mismatches})"
            )
    assert not problems, "; ".join(problems)


def _emulated_request(bench, name, int8, tmp_path_factory):
    """The sampled, host-prepared images (.npy) and the request file the emulated runs read."""
    paths = bench.validation(name).paths
    picked = core.sample_indices(len(paths), bench.settings.pi_images)
    folder = tmp_path_factory.mktemp("emulated")
    np.save(folder / "images.npy", bench.images(name)[picked])
    request = {
        "artifacts": [str(a.path) for a in int8],
        "images": str(folder / "images.npy"),
        "paths": [paths[i] for i in picked],
        "threads": 1,
    }
    (folder / "request.json").write_text(json.dumps(request))
    return folder / "request.json"


def _classify_here(request_path):
    import arm64_classify

    return arm64_classify.classify(json.loads(request_path.read_text()))
