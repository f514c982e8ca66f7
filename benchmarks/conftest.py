"""pytest as a thin shell on the benchmark library (measure.py): the options, the cases as test parameters, the
session's Bench, one line for a benchmark error, and the report when the session ends. Without --benchmark (or
--pi-emulated) every measuring case is skipped: plain `pytest benchmarks` runs only the unit tests.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import bench_core as core
import bench_report as report
import measure
import pytest

from catdog.runtime.arguments import comma_separated

SHARED, DATA = core.SHARED, core.DATA
# --smoke: a MobileNetV2 (alpha 0.35, 96 px, one epoch per phase) trained in a minute.
TINY = "--model mobilenetv2 --alpha 0.35 --size 96 --epochs 1 --fine-tune-epochs 1 --batch-size 16 --quiet".split()

BENCH = pytest.StashKey[measure.Bench]()
REPORT_DIR = pytest.StashKey[Path]()
WRITTEN = pytest.StashKey[list]()
OPTIONS = {  # flag -> the keywords of addoption
    "--benchmark": dict(action="store_true", help="run the measuring cases (skipped without it)"),
    "--runs": dict(metavar="PATH[,PATH]", help="run or export folders (default: runs/default, else the newest)"),
    "--data": dict(metavar="DIR", help="validation images (default: the run's split.json, else parity.json)"),
    "--build": dict(action="store_true", help="no run yet: train and export the default model first"),
    "--smoke": dict(action="store_true", help="a tiny model trained first, 1 thread, few rounds (what CI runs)"),
    "--pi-emulated": dict(action="store_true", help="int8 labels on emulated aarch64 (benchmarks/pi) against x86"),
    "--max-drop": dict(type=float, help="most accuracy points an artifact may lose vs float (1.0; --smoke: 100)"),
    "--min-agreement": dict(type=float, help="least label agreement with float, percent (98; --smoke: 0)"),
    "--threads": dict(metavar="N[,N]", help="interpreter thread counts (default 1,2,<cpu count>; --smoke: 1)"),
    "--report-dir": dict(metavar="DIR", help="default runs/benchmark (--smoke: runs/benchmark/smoke), untracked"),
    "--pi-images": dict(type=int, metavar="N", help="validation images per emulated check (default 100)"),
    "--cam-frames": dict(type=int, metavar="N", help="frames of the catdog-cam case (default 200; --smoke: 20)"),
}
NO_RUN = (
    "no run to benchmark: no runs/*/export folder under {where}. Make one with "
    "`catdog-train --name default && catdog-export runs/default --int8 --fp16`, or add --build to do that "
    "first, or give --runs RUN_OR_EXPORT_DIR, or use --smoke for a tiny one"
)


def pytest_addoption(parser):
    group = parser.getgroup("catdog", "catdog benchmark (benchmarks/, see benchmarks/README.md)")
    for flag, options in OPTIONS.items():
        group.addoption(flag, **options)


def console(*args) -> None:
    """Run one of the project's console scripts (beside this Python); BenchError with its output if it fails."""
    env = {"CATDOG_WEIGHTS_DIR": str(SHARED / "weights"), **os.environ}
    command = [Path(sys.executable).with_name(args[0]), *args[1:]]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise core.BenchError(f"{' '.join(map(str, args))} failed ({result.returncode}):\n{result.stderr[-3000:]}")


def smoke_run(mktemp) -> core.Run:
    """The tiny model (TINY on 40 training and 24 validation photos per class), trained and exported."""
    data, runs = mktemp("tiny_data"), mktemp("runs")
    for split, count in (("train", 40), ("validation", 24)):
        for label in ("cats", "dogs"):
            (data / split / label).mkdir(parents=True)
            for photo in sorted((DATA / split / label).iterdir())[:count]:
                (data / split / label / photo.name).symlink_to(photo)
    console("catdog-train", "--data", data, *TINY, "--runs-dir", runs, "--name", "smoke")
    relaxed = ["--max-drop", "100", "--min-agreement", "0", "--calibration-size", "32"]  # barely trained
    console("catdog-export", runs / "smoke", "--int8", "--fp16", *relaxed)
    return core.find_run(runs / "smoke")


def build_default(runs_dir: Path) -> core.Run:
    """--build: train (unless runs/default/model.keras exists) and export the default model."""
    if not (runs_dir / "default" / "model.keras").is_file():
        console("catdog-train", "--runs-dir", runs_dir, "--name", "default")
    console("catdog-export", runs_dir / "default", "--int8", "--fp16")
    return core.find_run(runs_dir / "default")


def slots(config) -> list[measure.Slot]:
    """The runs the options name: --smoke's, --runs, else runs/default or the newest under runs/, else --build's."""
    option, here = config.option, Path(config.invocation_params.dir)
    if option.smoke:
        if option.runs:
            raise core.BenchError("--smoke measures a tiny model of its own: leave out --runs")
        if not DATA.is_dir():
            raise core.BenchError(f"--smoke needs the real photos in {DATA} (set CATDOG_SHARED)")
        return [measure.Slot("smoke", make=smoke_run)]
    if option.runs:
        runs = core.find_runs([here / path for path in comma_separated(option.runs)])
        return [measure.Slot(run.name, run) for run in runs]
    newest = core.newest_run(here / "runs")
    if newest:
        return [measure.Slot(newest.name, newest)]
    if option.build:
        return [measure.Slot("default", make=lambda mktemp: build_default(here / "runs"))]
    raise core.BenchError(NO_RUN.format(where=here))


def pytest_configure(config):
    config.addinivalue_line("markers", "catdog_benchmark: a benchmark case, run with --benchmark")
    config.addinivalue_line("markers", "pi_emulated: an emulated aarch64 check, run with --pi-emulated")
    option = config.option
    if not (getattr(option, "benchmark", False) or getattr(option, "pi_emulated", False)):
        return
    try:
        names = ("data", "max_drop", "min_agreement", "pi_images", "cam_frames")
        settings = measure.make_settings(option.smoke, option.threads, **{k: getattr(option, k) for k in names})
        runs = slots(config)
    except core.BenchError as error:
        raise pytest.UsageError(f"catdog benchmark: {error}") from None
    command = shlex.join(["pytest", *config.invocation_params.args])
    results = report.Results(command=command, settings=measure.asdict(settings))
    if settings.smoke:
        results.note("smoke mode: a tiny, barely trained model; parity limits relaxed unless given")
    config.stash[BENCH] = measure.Bench(settings, runs, results)
    folder = Path(option.report_dir or Path("runs") / "benchmark" / ("smoke" if settings.smoke else ""))
    config.stash[REPORT_DIR] = Path(config.invocation_params.dir) / folder


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("catdog_benchmark") and not config.option.benchmark:
            reason = "benchmark case: run `pytest benchmarks --benchmark` (--smoke for a tiny one)"
            item.add_marker(pytest.mark.skip(reason=reason))
        if item.get_closest_marker("pi_emulated") and not config.option.pi_emulated:
            item.add_marker(pytest.mark.skip(reason="emulated aarch64 check: run with --pi-emulated"))


def pytest_generate_tests(metafunc):
    bench = metafunc.config.stash.get(BENCH, None)
    for kind in measure.MEASURES:
        if f"{kind}_case" not in metafunc.fixturenames:
            continue
        option = metafunc.config.option
        enabled = bench and (option.pi_emulated if kind == "emulated" else option.benchmark)
        found = measure.cases(kind, bench.slots.values(), bench.settings) if enabled else []
        ids = [case.id if isinstance(case, measure.Case) else "-".join(case) for case in found]
        metafunc.parametrize(f"{kind}_case", found or [None], ids=ids or ["off"])


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """A case the library skips is skipped; a BenchError fails its case in one line, without a traceback."""
    try:
        return (yield)
    except measure.Skipped as skip:
        pytest.skip(str(skip))
    except core.BenchError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def bench(request, tmp_path_factory) -> measure.Bench:
    bench = request.config.stash[BENCH]
    bench.mktemp = tmp_path_factory.mktemp
    return bench


@pytest.fixture(scope="session")
def settings(bench) -> measure.Settings:
    return bench.settings


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    bench = config.stash.get(BENCH, None)
    if bench is None or not bench.results.has_data() or hasattr(config, "workerinput"):
        return
    bench.check_stamps()
    config.stash[WRITTEN] = report.write_report(bench.results, config.stash[REPORT_DIR])


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    written = config.stash.get(WRITTEN, None)
    if not written:
        if config.stash.get(BENCH, None) is not None and not config.option.collectonly:
            terminalreporter.write_line("catdog benchmark: nothing was measured, no report written", yellow=True)
        return
    terminalreporter.section("catdog benchmark report")
    terminalreporter.write(written[1].read_text())
    for path in written:
        terminalreporter.write_line(f"written: {os.path.relpath(path)}")
