"""`catdog-predict [--model MODEL] PATH...`: classify image files and folders with an exported model.

Output: one line per image on stdout (path, label, probability, inference ms; tab-separated), or with
--json one JSON object per line. --csv FILE also writes a Kaggle "Dogs vs. Cats Redux" submission
(`id,label`, label = probability of the dog class). What was loaded and a summary go to stderr, and every file
that was not classified, one line per reason (not an image, not found, dangling link, unreadable, smaller than
MIN_IMAGE_SIDE pixels: catdog.runtime.images) with a count and the first few names.
Exit status: 0, 1 if any file was skipped or no image classified, 2 if the model or the arguments are unusable.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from pathlib import Path

from catdog.runtime.arguments import clip_margin, refuse_orphans
from catdog.runtime.auto import LOAD_ERRORS, ModelChoiceError, add_model_arguments, is_model, load_model
from catdog.runtime.files import atomic_path
from catdog.runtime.images import ImageError, scan_images, skipped_lines
from catdog.runtime.metrics import latency_stats


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="catdog-predict", description="Classify images with an exported model.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    add_model_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per image instead of text lines")
    parser.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="also write a Kaggle submission: id,label (P(dog); with a background class, renormalised over cat and "
        "dog: P(dog) / (P(cat) + P(dog)); clipped, see --clip); from a folder, by its most precise artifact (fp32 "
        "first: --backend precise) unless --backend says otherwise",
    )
    parser.add_argument(
        "--clip",
        type=clip_margin,
        default=0.005,
        metavar="EPS",
        help="--csv: P(dog) clipped to [EPS, 1 - EPS] (default 0.005), so that one confident mistake does not cost a "
        "log loss of 34 (an int8 model gives 0 and 1 on 256 levels); 0: not clipped",
    )
    args = parser.parse_args(argv)
    refuse_orphans(parser, args, {"clip": "csv"})
    if args.model is None and len(args.paths) > 1 and is_model(args.paths[0]):  # the spelling before 0.2
        args.model = args.paths.pop(0)
        print(
            f"catdog-predict: note: the model as first argument is deprecated and goes in 0.3; use --model "
            f"{args.model}",
            file=sys.stderr,
        )
    return args


def expand_paths(paths) -> tuple[list[Path], dict[str, list[Path]]]:
    """Files as given and the images in folders (recursively), in order; and the folders' other files by reason."""
    files, skipped = [], {}
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(path)
            continue
        images, others = scan_images(path)
        files += images
        for reason, found in others.items():
            skipped.setdefault(reason, []).extend(found)
    return files, skipped


def kaggle_id(path: Path) -> str:
    """The number in a Kaggle-style file name (123.jpg, dog.123.jpg -> 123); otherwise the file stem."""
    match = re.search(r"(?:^|\.)(\d+)$", path.stem)
    return match.group(1) if match else path.stem


def dog_label(labels: list[str]) -> str:
    """The one label containing 'dog'; ModelChoiceError if there is none or more than one."""
    found = [label for label in labels if "dog" in label.lower()]
    if len(found) != 1:
        raise ModelChoiceError(f"--csv needs exactly one label containing 'dog'; this model's labels are {labels}")
    return found[0]


def dog_probability(prediction, dog: str, background: str | None) -> float:
    """P(dog) for the Kaggle file: with a background class, renormalised over the other classes (cat and dog)."""
    pets = {label: p for label, p in prediction.probabilities.items() if label != background}
    return pets[dog] / sum(pets.values())


def classify_all(classifier, paths, as_json: bool, dog: str | None, clip: float = 0.0):
    """Classify and print each image; return its Kaggle rows (with a dog label), inference times, and the
    files not classified by reason."""
    rows, times = [], []
    files, skipped = expand_paths(paths)
    for path in files:
        try:
            prediction = classifier.classify_file(path)
        except ImageError as error:
            skipped.setdefault(error.reason, []).append(path)
            continue
        times.append(prediction.inference_ms)
        if as_json:
            # "path" is the name before 0.2, kept until 0.3; "source" as in catdog-cam
            print(json.dumps({"source": str(path), "path": str(path), **prediction.to_dict()}), flush=True)
        else:
            print(
                f"{path}\t{prediction.label}\t{prediction.probability:.4f}\t{prediction.inference_ms:.2f} ms",
                flush=True,
            )
        if dog:
            p_dog = min(max(dog_probability(prediction, dog, classifier.background), clip), 1 - clip)
            rows.append((kaggle_id(path), f"{p_dog:.6f}"))
    return rows, times, skipped


def main(argv=None) -> int:
    """Entry point of catdog-predict."""
    args = parse_args(argv)
    try:
        folder = args.model is None or Path(args.model).is_dir()
        backend = args.backend or ("precise" if args.csv and folder else None)  # P(dog): the finest levels
        classifier, note = load_model(args.model, backend, args.threads, args.min_probability)
        dog = dog_label(classifier.labels) if args.csv else None
    except LOAD_ERRORS as error:
        print(f"catdog-predict: error: {error}", file=sys.stderr)
        return 2
    print(f"catdog-predict: {note}", file=sys.stderr)
    try:
        rows, times, skipped = classify_all(classifier, args.paths, args.json, dog, args.clip)
    except BrokenPipeError:  # stdout closed by its reader (e.g. `| head`): stop quietly, write no CSV
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    if args.csv:
        try:
            with atomic_path(args.csv) as temp, open(temp, "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(("id", "label"))
                writer.writerows(rows)
        except OSError as error:
            print(f"catdog-predict: error: cannot write {args.csv}: {error.strerror}", file=sys.stderr)
            return 2
    for line in skipped_lines(skipped):
        print(f"catdog-predict: {line}", file=sys.stderr)
    timing = f", inference median {latency_stats(times)['median_ms']:.2f} ms" if times else ""
    clipped = f", clipped to [{args.clip:g}, {1 - args.clip:g}]" if args.clip else ", not clipped"
    written = f"; wrote {args.csv} (P(dog) from {classifier.path.name}{clipped})" if args.csv else ""
    not_used = sum(map(len, skipped.values()))
    counts = f"{len(times)} image{'s' * (len(times) != 1)} classified, {not_used} file{'s' * (not_used != 1)} skipped"
    print(f"catdog-predict: {counts}{timing}{written}", file=sys.stderr)
    return 1 if not_used or not times else 0


if __name__ == "__main__":
    sys.exit(main())
