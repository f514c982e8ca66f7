"""The measured tables of README.md and docs/ are the benchmark results' (benchmarks/readme_figures.py), not typed,
and every catdog command the README and docs/ show in a code block parses with that command's real parser."""

from __future__ import annotations

import importlib.util
import json

import pytest
from support import ROOT
from test_docs import COMMANDS, pages, parser_of, unreadable, usages

spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "benchmarks" / "readme_figures.py")
figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(figures)


def test_every_report_block_of_the_readme_and_docs_is_up_to_date():
    texts = [page.read_text() for page in figures.pages()]
    assert {match.group(2) for text in texts for match in figures.BLOCK.finditer(text)} == set(figures.TABLES)
    assert figures.BLOCK.search(figures.README.read_text()), "the README's headline table is generated"
    assert figures.main(["--check"]) == 0, "run: python benchmarks/readme_figures.py"


def test_a_changed_figure_is_caught():
    report = json.loads(figures.REPORT.read_text())
    report["latency"][1]["median_ms"] += 1.0  # one measurement changes
    texts = [page.read_text() for page in figures.pages()]
    assert any(figures.render(text, report) != text for text in texts)
    assert figures.stale_blocks(texts[0], figures.render(texts[0], report)) == ["headline:default"]


def test_a_results_block_is_the_table_of_its_results_file(tmp_path, monkeypatch):
    (tmp_path / "tradeoff.md").write_text("# Title\n\nsome words\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nafter\n")
    monkeypatch.setattr(figures, "RESULTS", tmp_path)
    readme = "text\n<!-- results:tradeoff -->\nold table\n<!-- /results -->\nmore\n"
    assert (
        figures.render(readme, {})
        == "text\n<!-- results:tradeoff -->\n| a | b |\n|---|---|\n| 1 | 2 |\n<!-- /results -->\nmore\n"
    )


def test_the_check_names_the_page_and_block(tmp_path, monkeypatch, capsys):
    page = tmp_path / "README.md"
    page.write_text("<!-- report:headline:default -->\n| stale |\n<!-- /report -->\n")
    monkeypatch.setattr(figures, "pages", lambda: [page])
    monkeypatch.setattr(figures, "ROOT", tmp_path)
    assert figures.main(["--check"]) == 1
    assert "README.md headline:default" in capsys.readouterr().err


def test_every_command_in_a_code_block_parses():
    failures = unreadable()
    broken = {line.split(":")[0] for line in failures}
    for page in pages():
        for command, arguments, runnable in usages(page.read_text()):
            if not runnable or command in broken:
                continue
            parser = parser_of(command)
            with pytest.MonkeyPatch.context() as patch:  # argparse reports by exit(2); catch it with its message
                messages = []
                patch.setattr(parser, "error", lambda message, m=messages: m.append(message) or exit(2))
                try:
                    parser.parse_args(arguments)
                except SystemExit:
                    failures.append(f"{page.relative_to(ROOT)}: {command} {' '.join(arguments)}: {messages}")
    assert not failures, "commands shown that their parser refuses:\n" + "\n".join(failures)
    assert {command for page in pages() for command, _, runnable in usages(page.read_text()) if runnable} == set(
        COMMANDS
    )
