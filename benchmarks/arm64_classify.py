#!/usr/bin/env python3
"""The emulated aarch64 check, both sides. In the guest (benchmarks/pi/arm64_python.sh SUITE THIS REQUEST.json
--json OUT.json) and on the host: the request's prepared images through catdog.runtime's Classifier, as JSON;
the guest also prepares the image files with its own OpenCV (how many are pixel-identical, and their labels). On
the host: build the emulated root, run the guest, compare its labels on the host's pixels, a row per artifact.

REQUEST.json: {"artifacts": [paths], "images": "batch.npy" (N, H, W, 3) uint8, "paths": [N files], "threads": 1}
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

PI_DIR = Path(__file__).resolve().parent / "pi"
SUITES = {"bookworm": "3.11", "trixie": "3.13"}  # emulated Debian arm64 roots -> the Python they ship
PACKAGES = ("numpy", "opencv-python-headless", "opencv-python", "ai-edge-litert", "onnxruntime")


def classify(request: dict) -> dict:
    """Labels and probabilities of the request's images through every artifact, here."""
    import numpy as np

    from catdog.runtime.classifier import Classifier
    from catdog.runtime.images import load_prepared
    from catdog.runtime.metadata import package_versions

    batch = np.load(request["images"])
    own = [load_prepared(path, image.shape[:2]) for path, image in zip(request["paths"], batch)]
    differences = [int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) for a, b in zip(own, batch)]
    results = {}
    for artifact in request["artifacts"]:
        classifier = Classifier(artifact, request["threads"])
        started = time.perf_counter()
        probabilities = np.stack([classifier.probabilities(image) for image in batch])
        seconds = time.perf_counter() - started
        results[Path(artifact).name] = {
            "engine": classifier.backend.engine,
            "labels": probabilities.argmax(1).tolist(),
            "probabilities": probabilities.tolist(),
            "seconds": seconds,
            # the same images as this machine's OpenCV prepares them (where they differ from the host's)
            "own_labels": [
                int(classifier.probabilities(image).argmax()) if difference else int(label)
                for image, difference, label in zip(own, differences, probabilities.argmax(1))
            ],
        }
    return {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "versions": package_versions(PACKAGES),
        "results": results,
        "prepared": {"identical": sum(d == 0 for d in differences), "max_abs_difference": max(differences, default=0)},
    }


def run_emulated(suite: str, request: Path, timeout: float = 1800) -> dict:
    """Build (or find cached) the emulated root of a suite and run classify() there on the request: its
    answer, with the seconds the setup took."""
    from bench_core import BenchError

    started = time.perf_counter()
    setup = subprocess.run([str(PI_DIR / "setup_arm64_root.sh"), suite], capture_output=True, text=True)
    if setup.returncode != 0:
        tail = "\n".join(setup.stderr.strip().splitlines()[-10:])
        raise BenchError(f"benchmarks/pi/setup_arm64_root.sh {suite} failed ({setup.returncode}):\n{tail}")
    setup_seconds = time.perf_counter() - started
    out = request.with_name(f"{request.stem}.{suite}.json")
    command = [str(PI_DIR / "arm64_python.sh"), suite, __file__, str(request), "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0 or not out.is_file():
        tail = "\n".join(result.stderr.strip().splitlines()[-10:])
        raise BenchError(f"emulated {suite} run failed ({result.returncode}): {' '.join(command)}\n{tail}")
    return {**json.loads(out.read_text()), "setup_seconds": setup_seconds}


def differing(labels: list[int], others: list[int]) -> list[int]:
    return [index for index, (a, b) in enumerate(zip(labels, others)) if a != b]


def compare(run: str, suite: str, host: dict, guest: dict) -> list[dict]:
    """One report row per artifact: the guest's labels against the host's on the same pixels (and, for
    information, on the pixels the guest prepared itself)."""
    rows, prepared = [], guest["prepared"]
    for artifact, here in host["results"].items():
        there, images = guest["results"][artifact], len(here["labels"])
        mismatches, own = differing(here["labels"], there["labels"]), differing(here["labels"], there["own_labels"])
        difference = max(
            abs(a - b) for p, q in zip(here["probabilities"], there["probabilities"]) for a, b in zip(p, q)
        )
        row = {"run": run, "suite": suite, "python": guest["python"], "machine": guest["machine"]}
        row.update(artifact=artifact, engine=there["engine"], images=images)
        row.update(agreement=100.0 * (images - len(mismatches)) / images, mismatches=mismatches)
        row.update(max_probability_difference=float(difference), guest_prepared_identical=prepared["identical"])
        row.update(guest_prepared_max_abs_difference=prepared["max_abs_difference"])
        row.update(guest_prepared_label_agreement=100.0 * (images - len(own)) / images, guest_prepared_mismatches=own)
        row.update(seconds=there["seconds"], x86_seconds=here["seconds"], setup_seconds=guest["setup_seconds"])
        rows.append({**row, "versions": guest["versions"]})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("request", help="request JSON (artifacts, images .npy, paths, threads)")
    parser.add_argument("--json", help="write the result here (default: stdout)")
    args = parser.parse_args(argv)
    result = json.dumps(classify(json.loads(Path(args.request).read_text())))
    if args.json:
        Path(args.json).write_text(result + "\n")
    else:
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
