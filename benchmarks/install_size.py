"""What `pip install .` puts into a fresh venv: site-packages in MB as `du` counts it, in total and per entry, for
the base install (what goes on the board) and with `.[window]` (opencv-python with its GUI). Standard library
and catdog's atomic writes; needs PyPI or pip's cache. Writes benchmarks/results/install_size.md and .json, each whole.

    python benchmarks/install_size.py [--python python3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from catdog.runtime.files import atomic_path, write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
VARIANTS = {"base": str(ROOT), "window": f"{ROOT}[window]"}  # what `pip install` is given
MIB = 2**20
SHOWN_MB = 5.0  # entries smaller than this are summed in one row
TEXT = {"capture_output": True, "text": True, "check": True}  # subprocess.run: the output, as text
GUI = "import cv2, re; print(re.search(r'GUI:\\s*(\\S+)', cv2.getBuildInformation()).group(1))"


def du(path: Path) -> int:
    """Bytes on disk of a file or a folder and everything in it, as `du` counts them (links not followed)."""
    total = path.lstat().st_blocks * 512
    if path.is_dir() and not path.is_symlink():
        for folder, dirs, files in os.walk(path):
            total += sum(os.lstat(os.path.join(folder, name)).st_blocks * 512 for name in dirs + files)
    return total


def owners(site: Path) -> dict[str, list[str]]:
    """Each top-level entry of site-packages and the distributions whose RECORD lists files in it."""
    found: dict[str, set[str]] = {}
    for info in site.glob("*.dist-info"):
        name = next(line.split(":", 1)[1].strip() for line in (info / "METADATA").open() if line.startswith("Name:"))
        with (info / "RECORD").open(newline="") as record:
            for row in csv.reader(record):
                top = Path(row[0]).parts[0]
                if top != ".." and not top.endswith(".dist-info"):
                    found.setdefault(top.removesuffix(".py"), set()).add(name)
    return {top: sorted(names) for top, names in found.items()}


def measure(venv: Path) -> dict:
    """Total size, the size of each top-level entry with its owners, and what pip installed."""
    (site,) = venv.glob("lib/python*/site-packages")
    owned = owners(site)
    entries = []
    for path in site.iterdir():
        stem = path.name.removesuffix(".py")
        if path.name.endswith(".dist-info") or path.name == "__pycache__":
            continue
        entries.append({"entry": path.name, "from": owned.get(stem, []), "mb": du(path) / MIB})
    listing = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"], **TEXT).stdout
    return {
        "total_mb": du(site) / MIB,
        "entries": sorted(entries, key=lambda entry: -entry["mb"]),
        "packages": {row["name"]: row["version"] for row in json.loads(listing)},
    }


def make_venv(python: str, where: Path, install: str | None) -> Path:
    """A fresh venv (`python -m venv`), with `pip install <install>` in it unless None."""
    subprocess.run([python, "-m", "venv", str(where)], check=True)
    if install:
        pip = [str(where / "bin" / "python"), "-m", "pip", "install", "--quiet", install]
        subprocess.run(pip, check=True, stderr=subprocess.DEVNULL)
    return where


def table(results: dict) -> list[str]:
    """Markdown: totals first, then every entry of SHOWN_MB or more, by size in the base install."""
    base, window, empty = results["base"], results["window"], results["empty"]
    sizes = [{e["entry"]: e["mb"] for e in r["entries"]} for r in (base, window)]
    shown = {entry for size in sizes for entry, mb in size.items() if mb >= SHOWN_MB}
    rest = [sum(mb for entry, mb in size.items() if entry not in shown) for size in sizes]

    lines = [
        "| site-packages | from | base MB | with `[window]` MB |",
        "|---|---|---:|---:|",
        f"| **total** | | **{base['total_mb']:.0f}** | **{window['total_mb']:.0f}** |",
        f"| added by `pip install` (total less the fresh venv's {empty['total_mb']:.0f}: pip, setuptools) | | "
        f"{base['total_mb'] - empty['total_mb']:.0f} | {window['total_mb'] - empty['total_mb']:.0f} |",
    ]
    owners_of = {e["entry"]: e["from"] for r in (window, base) for e in r["entries"]}  # the base's where both
    for entry in sorted(shown, key=lambda entry: tuple(-size.get(entry, 0.0) for size in sizes)):
        cells = " | ".join(f"{size[entry]:.0f}" if entry in size else "" for size in sizes)
        lines.append(f"| `{entry}` | {', '.join(owners_of[entry])} | {cells} |")
    lines.append(f"| everything else | | {rest[0]:.0f} | {rest[1]:.0f} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the Python to make the venvs with")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="catdog-install-size-") as temp:
        results["empty"] = measure(make_venv(args.python, Path(temp) / "empty", None))
        for name, install in VARIANTS.items():
            venv = make_venv(args.python, Path(temp) / name, install)
            results[name] = measure(venv)
            gui = [str(venv / "bin" / "python"), "-c", GUI]
            results[name]["opencv_gui"] = subprocess.run(gui, capture_output=True, text=True).stdout.strip()
    python = subprocess.run([args.python, "-c", "import platform; print(platform.python_version())"], **TEXT)
    results["setup"] = {
        "python": python.stdout.strip(),
        "platform": f"{platform.system()} {platform.machine()}",
        "pip": results["empty"]["packages"].get("pip"),
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/install_size.py",
    }
    write(results)
    print("\n".join(table(results)))
    return 0


def write(results: dict) -> None:
    """benchmarks/results/install_size.json and .md."""
    setup, base, window = results["setup"], results["base"], results["window"]
    versions = ", ".join(f"{name} {version}" for name, version in sorted(base["packages"].items()))
    table_text = "\n".join(table(results))
    text = f"""# Install size: `pip install .` in a fresh venv

Python {setup["python"]} on {setup["platform"]}, a venv made by `python -m venv` (pip {setup["pip"]}), PyPI as of \
{setup["date"]}; MB as `du -m` counts them (MiB on disk). Command: `{setup["command"]}`

{table_text}

Base install: {versions}. OpenCV's GUI (from `cv2.getBuildInformation()`): base {base["opencv_gui"]}, with \
`[window]` {window["opencv_gui"]} (opencv-python installed after opencv-python-headless, so its `cv2` is the one \
in place; both wheels stay installed, each with its own bundled libraries).
"""
    write_json(RESULTS / "install_size.json", results)
    with atomic_path(RESULTS / "install_size.md") as temp:
        temp.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
