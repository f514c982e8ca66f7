"""Fast checks of the benchmark's own machinery (no training, no TensorFlow): these run in plain
`pytest benchmarks`, in CI, and on a Pi."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time

import bench_core as core
import bench_report as report
import cv2
import measure
import numpy as np
import pytest
import readme_figures as figures


def fake_export(folder, names=("model_int8.tflite", "model_fp32.onnx"), labels=("cats", "dogs")):
    """Files named like artifacts, with the sidecars the benchmark reads (not loadable models)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")
        precision = name.split("_")[1].split(".")[0]
        (folder / f"{name}.json").write_text(
            json.dumps(
                {
                    "labels": list(labels),
                    "format": name.rsplit(".", 1)[1],
                    "precision": precision,
                    "input": {"shape": [1, 8, 8, 3]},
                    "output": {},
                    "sha256": "0" * 64,
                    "source": {"architecture": "mobilenetv2", "alpha": 0.35},
                }
            )
        )
    return folder


def image_folders(root, labels=("cats", "dogs"), per_class=2):
    for label in labels:
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            cv2.imwrite(str(root / label / f"{label}.{i}.png"), np.full((40, 48, 3), 40 * i, np.uint8))
    return root


def test_threads_default_and_dedup():
    assert core.parse_threads(None, cpus=2) == [1, 2]
    assert core.parse_threads(None, cpus=4) == [1, 2, 4]
    assert core.parse_threads("4, 1,4") == [4, 1]
    with pytest.raises(core.BenchError, match="thread count"):
        core.parse_threads("1,x")


def test_settings_and_cases(tmp_path):
    smoke = measure.make_settings(smoke=True, max_drop=2.0)
    assert (smoke.threads, smoke.proxy_threads, smoke.max_drop, smoke.min_agreement) == ([1], (1,), 2.0, 0.0)
    settings = measure.make_settings(threads="1,2", cam_frames=None)
    assert (settings.max_drop, settings.min_agreement, settings.cam_frames) == (1.0, 98.0, 200)
    with pytest.raises(core.BenchError, match="--cam-frames 0: give at least 1"):
        measure.make_settings(cam_frames=0)
    run = tmp_path / "r1"
    fake_export(run / "export")
    (run / "model.keras").write_bytes(b"k")
    slots = [measure.Slot("r1", core.find_run(run)), measure.Slot("new", make=lambda mktemp: None)]
    latency = [case.id for case in measure.cases("latency", slots[:1], settings)]
    assert latency == [
        "r1-model.keras-t2",
        *(f"r1-{a}-t{t}" for a in ("model_int8.tflite", "model_fp32.onnx") for t in (1, 2)),
    ]
    assert len(measure.cases("quality", slots, settings)) == 3 + len(core.ARTIFACTS)  # a run still to be made: all
    assert [case.profile for case in measure.cases("proxy", slots[:1], settings)] == [report.PROXY] * 4
    assert measure.cases("emulated", slots[:1], settings) == [("r1", "bookworm"), ("r1", "trixie")]


def test_find_run_accepts_run_and_export_folders(tmp_path):
    run = tmp_path / "runs" / "r1"
    fake_export(run / "export")
    (run / "model.keras").write_bytes(b"k")
    (run / "export" / "parity.json").write_text("{}")  # a complete export
    found = core.find_run(run)
    assert (found.name, found.folder.path, found.export) == ("r1", run, run / "export")
    assert found.artifacts() == ["model.keras", "model_int8.tflite", "model_fp32.onnx"]
    assert core.find_run(run / "export").folder.path == run  # the export folder inside a run: the run is found
    copied = fake_export(tmp_path / "pi-copy")  # an export folder alone, as copied to a Pi
    alone = core.find_run(copied)
    assert (alone.name, alone.folder) == ("pi-copy", None)
    assert alone.artifacts() == ["model_int8.tflite", "model_fp32.onnx"]
    assert core.newest_run(tmp_path / "runs").export == run / "export"
    assert core.newest_run(tmp_path / "nothing") is None
    assert [r.name for r in core.find_runs([run, run / "export", copied])] == ["r1", "r1-2", "pi-copy"]


def test_stamps_notice_a_re_export(tmp_path):
    run = core.find_run(fake_export(tmp_path / "export"))
    before = run.stamps()
    assert len(before) == 4 and run.stamps() == before
    (tmp_path / "export" / "model_int8.tflite").write_bytes(b"new model")
    assert run.stamps() != before


def test_find_run_says_what_is_missing(tmp_path):
    (tmp_path / "trained").mkdir()
    (tmp_path / "trained" / "model.keras").write_bytes(b"k")
    with pytest.raises(core.BenchError, match="catdog-export .* --int8 --fp16"):
        core.find_run(tmp_path / "trained")
    with pytest.raises(core.BenchError, match="not a run folder"):
        core.find_run(tmp_path / "absent")


def test_validation_from_data_folder_split_and_parity(tmp_path):
    labels = ["cats", "dogs"]
    data = image_folders(tmp_path / "set" / "validation")
    export = fake_export(tmp_path / "export")
    run = core.find_run(export)
    from_data = core.validation_set(run, labels, tmp_path / "set")  # a data set root: validation/ is used
    assert from_data.truth == [0, 0, 1, 1] and len(from_data.paths) == 4
    with pytest.raises(core.BenchError, match="no validation images"):
        core.validation_set(run, labels)
    paths = [str(p) for p in sorted(data.rglob("*.png"))]
    (export / "parity.json").write_text(json.dumps({"labels": labels, "images": paths, "true": [0, 0, 1, 1]}))
    assert core.validation_set(run, labels).paths == paths
    (export / "parity.json").write_text(json.dumps({"labels": labels, "images": ["/gone/cat.1.jpg"], "true": [0]}))
    with pytest.raises(core.BenchError, match="missing .* give --data DIR"):
        core.validation_set(run, labels)
    with pytest.raises(core.BenchError, match="no images of dogs"):
        core.validation_set(run, labels, image_folders(tmp_path / "only", labels=("cats",)))


def test_exported_predictions_match_copied_images():
    parity = {
        "images": ["/train/box/validation/cats/c1.jpg", "/train/box/validation/dogs/d1.jpg"],
        "results": {"model.keras": {"predicted": [0, 1]}},
    }
    on_pi = ["/home/pi/val/dogs/d1.jpg", "/home/pi/val/cats/c1.jpg"]
    assert core.exported_predictions(parity, "model.keras", on_pi).tolist() == [1, 0]
    assert core.exported_predictions(parity, "model.keras", on_pi + ["/home/pi/val/cats/c2.jpg"]) is None
    assert core.exported_predictions(parity, "model_int8.tflite", on_pi) is None


def test_quality_rows_hold_artifacts_against_the_float_model(tmp_path):
    """The row and the parity verdict, from probabilities already computed (check_parity's own numbers are
    tested in tests/lean)."""
    fake_export(tmp_path / "export")
    data = image_folders(tmp_path / "data")
    settings = measure.make_settings(threads="1", data=str(data), max_drop=1.0, min_agreement=98.0)
    results = report.Results(command="test", settings={}, machine={})
    bench = measure.Bench(settings, [measure.Slot("r1", core.find_run(tmp_path / "export"))], results)
    reference = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])  # 100% right
    bench.cache[("reference", "r1")] = (True, measure.Reference("keras fp32", reference, "model.keras"))
    int8, fp32 = "model_int8.tflite", "model_fp32.onnx"
    bench.cache[("probabilities", "r1", int8)] = (True, np.array([[0.6, 0.4], [0.2, 0.8], [0.3, 0.7], [0, 1]]))
    bench.cache[("probabilities", "r1", fp32)] = (True, reference)
    row = bench.quality(measure.Case("r1", int8))
    assert (row["images"], row["accuracy"], row["delta_points"], row["agreement"]) == (4, 0.75, -25.0, 75.0)
    assert row["parity"] == "FAILED" and row["confusion_matrix"] == [[1, 1], [0, 2]]
    assert "r1/model_int8.tflite: accuracy 75.00% vs float 100.00% (keras fp32) on 4 images" in row["parity_problem"]
    assert "lost 25.00 accuracy points" in row["parity_problem"] and "label agreement 75.00%" in row["parity_problem"]
    assert bench.quality(measure.Case("r1", fp32))["parity"] == "ok" and len(results.quality) == 2
    assert results.runs["r1"]["validation"] == {"images": 4, "source": f"--data {data}"}


def test_latency_rounds_fit_the_budget(tmp_path):
    """Bench times through catdog.runtime.auto.time_calls: between min_rounds and max_rounds, as the budget allows."""
    settings = measure.make_settings(threads="1", latency_budget_s=0.05, min_rounds=5, max_rounds=40, warmup_rounds=2)
    bench = measure.Bench(settings, [], report.Results(command="test", settings={}, machine={}))
    case, path = measure.Case("r1", "model_int8.tflite", 1), fake_export(tmp_path) / "model_int8.tflite"
    quick = bench._latency_row(case, path, "none", lambda: None)
    assert quick["rounds"] == 40 and quick["fps"] == pytest.approx(1000 / quick["median_ms"])
    slow = bench._latency_row(case, path, "none", lambda: time.sleep(0.02))  # the budget allows 2.5 rounds
    assert slow["rounds"] == 5 and slow["min_ms"] >= 20 and slow["median_ms"] <= slow["p90_ms"]
    assert bench.results.latency == [quick, slow] and quick["label"] == "tflite int8"
    assert core.sample_indices(100, 4) == [0, 33, 66, 99] and core.sample_indices(3, 24) == [0, 1, 2]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")
def test_one_cpu_confines_threads_started_inside():
    allowed = os.sched_getaffinity(0)
    seen = {}
    with core.one_cpu() as (cpu, confined):
        worker = threading.Thread(
            target=lambda: (seen.update(cpus=os.sched_getaffinity(0)), threading.Event().wait(0.2))
        )
        worker.start()
        assert confined()
        worker.join()
    assert seen["cpus"] == {cpu} and os.sched_getaffinity(0) == allowed


def test_cam_summary_record_is_what_its_line_says():
    from catdog.runtime import cam

    stats = cam.Stats(frames=20, dropped=0, seconds=0.5, inference_ms=[1.0, 2.0, 3.0], age_ms=[2.0, 3.0, 4.0])
    record = stats.as_record()
    assert (record["frames"], record["loop_fps"], record["inference"]["median_ms"]) == (20, 40.0, 2.0)
    assert stats.summary().startswith("20 frames, 0 dropped, loop 40.0 FPS, inference p50 2.00 ms p90 2.80 ms")


def committed_results(**sections) -> report.Results:
    """The committed report (benchmarks/results/report.json) as the Results it was written from."""
    data = json.loads((core.HERE / "results" / "report.json").read_text())
    for run in data["runs"].values():
        run["reliability"] = None
    fields = {field.name for field in dataclasses.fields(report.Results)}
    return report.Results(**{**{k: v for k, v in data.items() if k in fields}, **sections})


def test_report_files_keep_what_the_readme_tables_read(tmp_path):
    results = committed_results()
    written = report.write_report(results, tmp_path / "out")
    plotted = ["latency_vs_accuracy.png"] if importlib.util.find_spec("matplotlib") else []
    assert sorted(p.name for p in written) == sorted(["report.json", "report.md", *plotted])
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [data[section] for section in report.SECTIONS] == [getattr(results, s) for s in report.SECTIONS]
    readme = figures.README.read_text()
    assert figures.render(readme, data) == figures.render(readme, dataclasses.asdict(results))
    text, machine = (tmp_path / "out" / "report.md").read_text(), results.machine
    proxy, emulated = next(r for r in results.latency if r["profile"] == report.PROXY), results.emulated[0]
    assert f"| {proxy['run']} | {proxy['label']} | {proxy['engine']} | {report.PROXY} | {proxy['threads']} |" in text
    assert f"| {emulated['run']} | {emulated['suite']} | {emulated['python']} | {emulated['machine']} |" in text
    assert f"- command: `{results.command}`" in text and f"{machine['cpu']} ({machine['machine']})" in text
    assert not list((tmp_path / "out").glob(".*partial*"))


def test_report_keeps_sections_measured_earlier(tmp_path):
    report.write_report(committed_results(emulated=[]), tmp_path)
    emulated = committed_results().emulated
    only = committed_results(
        command="pytest benchmarks --pi-emulated", latency=[], quality={}, cam=[], emulated=emulated
    )
    report.write_report(only, tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert (data["latency"], data["emulated"]) == (committed_results().latency, emulated)
    assert set(data["carried"]) == {"latency", "quality", "cam"}
    assert (
        "- latency rows carried over from an earlier session: `pytest benchmarks --benchmark"
        in (tmp_path / "report.md").read_text()
    )


def test_benchmark_without_a_run_says_how_to_make_one(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(core.HERE), "--benchmark", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 4, result.stdout + result.stderr
    assert "no run to benchmark" in result.stderr and "--build" in result.stderr and "--smoke" in result.stderr


def test_report_names_the_split_chosen_on_and_shows_the_reliability_diagram(tmp_path):
    diagram = tmp_path / "reliability.png"
    diagram.write_bytes(b"\x89PNG\r\n\x1a\n")
    results = committed_results()
    results.runs = {"r1": {**next(iter(results.runs.values())), "temperature": 1.7, "reliability": str(diagram)}}
    results.runs["old"] = {**results.runs["r1"], "chosen_on": "validation", "temperature": None, "reliability": None}
    written = report.write_report(results, tmp_path / "out")
    assert (tmp_path / "out" / "reliability_r1.png").read_bytes() == diagram.read_bytes()
    assert tmp_path / "out" / "reliability_r1.png" in written
    text = (tmp_path / "out" / "report.md").read_text()
    assert (
        "  - early stopping and checkpoint chosen on the selection split, the validation split only measured; "
        "temperature 1.700 folded into the model"
    ) in text
    assert (
        "  - early stopping and checkpoint chosen on the validation split (so its validation figures are "
        "optimistic); no temperature"
    ) in text
    assert "![reliability of r1](reliability_r1.png)" in text and "reliability_old" not in text


def test_tradeoff_table_shows_pets_and_false_pets_only_for_three_class_runs():
    import tradeoff

    def row(run, size, false_pets):
        int8 = {"accuracy": 0.9, "log_loss": 0.2, "size_mb": 0.65, "parity": "ok", "ms": {"1": 1.0, "2": 0.6}}
        int8 |= {"pet_accuracy": 0.92, "false_pet_rate": false_pets}
        return {"run": run, "alpha": 0.35, "size": size, "selection_accuracy": 0.9, "float_accuracy": 0.91,
                "float_log_loss": 0.19, "int8_tflite": int8}  # fmt: skip

    report = {"threads": [1, 2], "pi_estimates": {}, "pareto_front": ["a"]}
    three = tradeoff.markdown({**report, "rows": [row("a", 96, 0.0568), row("b", 128, 0.1477)]}).splitlines()
    assert "int8 TFLite pets / false pets" in three[0] and "| 92.00% / 14.77% |" in three[3]
    assert len({line.count("|") for line in three}) == 1, "every row has the header's columns"
    two = tradeoff.markdown({**report, "rows": [row("a", 96, None)]}).splitlines()
    assert "false pets" not in two[0] and len({line.count("|") for line in two}) == 1


def test_unexported_names_each_run_folder_a_results_script_cannot_read(tmp_path):
    done, half = tmp_path / "done", tmp_path / "half"
    for run in (done, half):
        (run / "export").mkdir(parents=True)
        (run / "split.json").write_text("{}")
    (done / "export" / "parity.json").write_text("{}")
    assert core.unexported([done], "segments.py") is None
    assert core.unexported([done, half, tmp_path / "nope"], "segments.py") == (
        f"segments.py: no split.json or export/parity.json in {half}, {tmp_path / 'nope'}: run catdog-export RUN --int8"
    )


def test_one_line_errors_says_what_a_user_can_get_wrong_in_one_line_and_leaves_bugs_loud(capsys):
    @core.one_line_errors
    def main(argv=None):
        raise argv

    assert main(FileNotFoundError(2, "No such file or directory", "/nope")) == 2
    assert main(core.DataError("data folder not found: /nope")) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith(": error: [Errno 2] No such file or directory: '/nope'")
    assert lines[1].endswith(": error: data folder not found: /nope") and len(lines) == 2
    with pytest.raises(KeyError):  # a bug, not a user's mistake: its traceback stays
        main(KeyError("rows"))
