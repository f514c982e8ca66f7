"""The README's measured tables are the benchmark report's (benchmarks/readme_figures.py), not typed."""

from __future__ import annotations

import importlib.util
import json

from support import ROOT

spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "benchmarks" / "readme_figures.py")
figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(figures)


def test_every_report_block_of_the_readme_is_up_to_date():
    readme = figures.README.read_text()
    assert {match.group(2) for match in figures.BLOCK.finditer(readme)} == set(figures.TABLES)
    assert figures.main(["--check"]) == 0, "run: python benchmarks/readme_figures.py"


def test_a_changed_figure_is_caught():
    report = json.loads(figures.REPORT.read_text())
    readme = figures.README.read_text()
    report["latency"][1]["median_ms"] += 1.0  # one measurement changes
    assert figures.render(readme, report) != readme


def test_a_results_block_is_the_table_of_its_results_file(tmp_path, monkeypatch):
    (tmp_path / "tradeoff.md").write_text("# Title\n\nsome words\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nafter\n")
    monkeypatch.setattr(figures, "RESULTS", tmp_path)
    readme = "text\n<!-- results:tradeoff -->\nold table\n<!-- /results -->\nmore\n"
    assert (
        figures.render(readme, {})
        == "text\n<!-- results:tradeoff -->\n| a | b |\n|---|---|\n| 1 | 2 |\n<!-- /results -->\nmore\n"
    )
