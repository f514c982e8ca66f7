"""The measured tables of README.md and docs/*.md, generated from the benchmark's results so that they cannot
drift: each block between `<!-- report:TABLE:RUN -->` and `<!-- /report -->` is the TABLE of run RUN in
benchmarks/results/report.json; each block between `<!-- results:NAME -->` and `<!-- /results -->` is the table
of benchmarks/results/NAME.md (written by benchmarks/NAME.py). Standard library only (the lean tests check it).

    python benchmarks/readme_figures.py            # rewrite the blocks of README.md and docs/*.md from the results
    python benchmarks/readme_figures.py --check    # exit 1, naming the files and blocks, if one is not up to date
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README, REPORT = ROOT / "README.md", RESULTS / "report.json"
DOCS = ROOT / "docs"
BLOCK = re.compile(r"(<!-- report:(\w+):([\w.-]+) -->\n)(.*?)(<!-- /report -->)", re.S)
INCLUDE = re.compile(r"(<!-- (results):(\w+) -->\n)(.*?)(<!-- /results -->)", re.S)  # the same groups as BLOCK


def _latency(report: dict, run: str, label: str, profile: str, threads: int) -> str:
    """The median ms of that latency row, or "" if there is none."""
    for row in report["latency"]:
        if (row["run"], row["label"], row["profile"], row["threads"]) == (run, label, profile, threads):
            return f"{row['median_ms']:.2f}"
    return ""


def _quality(report: dict, run: str) -> list[dict]:
    """The quality rows of a run's artifacts."""
    return [row for key, row in report["quality"].items() if key.startswith(f"{run}/")]


def speed(report: dict, run: str) -> list[str]:
    """Median ms per image at 1 and 2 threads, the 1-core proxy, and the catdog-cam loop at 1 thread."""
    lines = [
        "| artifact | 1 thread | 2 threads | 1-core proxy, 1 thread | catdog-cam loop FPS, 1 thread (share of "
        "inference-only FPS) |",
        "|---|---:|---:|---:|---:|",
    ]
    for label in [row["label"] for row in _quality(report, run)]:
        cam = next(
            (row for row in report["cam"] if (row["run"], row["label"], row["threads"]) == (run, label, 1)), None
        )
        loop = f"{cam['loop_fps']:.0f} ({cam['loop_fps'] * cam['mean_ms'] / 1000:.0%})" if cam else ""
        name = f"{label} (TensorFlow)" if label.startswith("keras") else label
        lines.append(
            f"| {name} | {_latency(report, run, label, 'all cores', 1)} | "
            f"{_latency(report, run, label, 'all cores', 2)} | "
            f"{_latency(report, run, label, '1-core proxy', 1)} | {loop} |"
        )
    return lines


def parity(report: dict, run: str) -> list[str]:
    """Size, accuracy, (with a background class: pet accuracy and false-pet rate at the decision rule,) log loss,
    ECE (15 bins), delta and label agreement against the float model, on the validation split."""
    rows = _quality(report, run)
    background = any(row.get("false_pet_rate") is not None for row in rows)
    extra = " pet accuracy | false pets |" if background else ""
    lines = [
        f"| artifact | size MB | accuracy |{extra} log loss | ECE | Δ vs float (pts) | label agreement |",
        "|---|---:|---:|" + "---:|" * (2 * background) + "---:|---:|---:|---:|",
    ]
    for row in rows:
        reference = row["format"] == "keras"
        name = row["artifact"] + (" (reference)" if reference else "")
        delta, agreement = (0.0, 100.0) if reference else (row["delta_points"] + 0.0, row["agreement"])
        bold = "**" if row["precision"] == "int8" else ""  # the artifact the board runs
        rates = f" {row['pet_accuracy']:.2%} | {row['false_pet_rate']:.2%} |" if background else ""
        lines.append(
            f"| {bold}{name}{bold} | {row['size_mb']:.2f} | {bold}{row['accuracy']:.2%}{bold} |{rates} "
            f"{row['log_loss']:.4f} | {row['ece']:.4f} | {bold}{delta:+.2f}{bold} | {agreement:.2f}% |"
        )
    return lines


def emulated(report: dict, run: str) -> list[str]:
    """The int8 artifacts in the emulated arm64 roots against x86."""
    lines = [
        "| suite | Python | artifact | images | same label as x86 | max probability difference |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in report["emulated"]:
        if row["run"] == run:
            lines.append(
                f"| {row['suite']} | {row['python']} | {row['artifact']} | {row['images']} | "
                f"{row['agreement']:.0f}% | {row['max_probability_difference']:.2g} |"
            )
    return lines


def headline(report: dict, run: str) -> list[str]:
    """The README's summary: per artifact its size, accuracy (and false-pet rate) on the validation split and its
    median ms per image at 1 thread, from the same report as the full parity and speed tables."""
    rows = _quality(report, run)
    background = any(row.get("false_pet_rate") is not None for row in rows)
    lines = [
        "| artifact | size MB | accuracy |" + (" false pets |" if background else "") + " ms per image, 1 thread |",
        "|---|---:|---:|" + "---:|" * background + "---:|",
    ]
    for row in rows:
        rates = f" {row['false_pet_rate']:.2%} |" if background else ""
        ms = _latency(report, run, row["label"], "all cores", 1) or "n/a"
        lines.append(f"| {row['artifact']} | {row['size_mb']:.2f} | {row['accuracy']:.2%} |{rates} {ms} |")
    return lines


TABLES = {"speed": speed, "parity": parity, "emulated": emulated, "headline": headline}


def pages() -> list[Path]:
    """The files whose blocks are generated: README.md and every Markdown page of docs/."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def results_table(name: str) -> str:
    """The first markdown table of benchmarks/results/NAME.md."""
    lines = (RESULTS / f"{name}.md").read_text().splitlines()
    from_table = itertools.dropwhile(lambda line: not line.startswith("|"), lines)
    return "\n".join(itertools.takewhile(lambda line: line.startswith("|"), from_table))


def render(page: str, report: dict) -> str:
    """The page with every report block and every results block regenerated."""

    def block(match: re.Match) -> str:
        opening, table, name, _, closing = match.groups()
        body = results_table(name) if table == "results" else "\n".join(TABLES[table](report, name))
        return f"{opening}{body}\n{closing}"

    return INCLUDE.sub(block, BLOCK.sub(block, page))


def stale_blocks(text: str, rendered: str) -> list[str]:
    """The names of the blocks of `text` that `rendered` changes."""
    return [
        f"{new.group(2)}:{new.group(3)}"
        for pattern in (BLOCK, INCLUDE)
        for old, new in zip(pattern.finditer(text), pattern.finditer(rendered))
        if old.group(4) != new.group(4)
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether every page is up to date")
    args = parser.parse_args(argv)
    report = json.loads(REPORT.read_text())
    stale = []
    for page in pages():
        text = page.read_text()
        rendered = render(text, report)
        if args.check:
            stale += [f"{page.relative_to(ROOT)} {name}" for name in stale_blocks(text, rendered)]
        elif rendered != text:
            page.write_text(rendered)
    if stale:
        print(
            f"not what benchmarks/results says: {', '.join(stale)}; run python benchmarks/readme_figures.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
