#!/usr/bin/env python3
"""Classify a fixed batch of prepared images with artifacts through the lean runtime (catdog.runtime
Classifier) and write the results as JSON. Runs on x86 in the venv and, unchanged, inside the emulated arm64
roots (benchmarks/pi/arm64_python.sh SUITE benchmarks/arm64_classify.py REQUEST.json --json OUT.json).

REQUEST.json: {"artifacts": [paths], "images": "batch.npy" (N, H, W, 3) uint8 prepared on the host,
               "paths": [the N image files], "threads": 1}
Besides the labels on the host's pixels, the guest prepares the image files itself with its own OpenCV and
says how many come out pixel-identical and classifies those too (the label check that counts uses the
host's pixels: same input, other machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path


def classify(request: dict) -> dict:
    import numpy as np

    from catdog.runtime.classifier import Classifier
    from catdog.runtime.images import load_prepared

    batch = np.load(request["images"])
    own = [load_prepared(path, image.shape[:2]) for path, image in zip(request.get("paths", []), batch)]
    differences = [int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) for a, b in zip(own, batch)]
    versions = {"numpy": np.__version__}
    results = {}
    for artifact in request["artifacts"]:
        classifier = Classifier(artifact, request.get("threads") or None)
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
    for module in ("cv2", "onnxruntime", "ai_edge_litert"):
        try:
            imported = __import__(module)
            versions[module] = getattr(imported, "__version__", "?")
        except ImportError:
            pass
    return {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "suite": os.environ.get("CATDOG_ARM64_SUITE", "host"),
        "versions": versions,
        "results": results,
        "prepared": {
            "images": len(own),
            "identical": sum(d == 0 for d in differences),
            "max_abs_difference": max(differences, default=0),
        },
    }


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
