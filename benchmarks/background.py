"""No cat, no dog: how often a model with a background class calls a photo without a pet a pet, and what it
costs the pets, at its own decision rule and other --min-probability values, per artifact (default: the int8
ones), on each run's validation photos grouped by source (and --extra NAME=DIR class folders, e.g. pets from a
source no run trained on; --extra-only: those alone). --compare RUN scores a two-class model on the same pet
photos. Writes OUT/NAME.md and NAME.json (NAME: --name, default background).

    python benchmarks/background.py runs/default [RUN ...] [--compare runs/two-class]
        [--extra NAME=DIR ... [--extra-only]] [--artifacts FILE ...] [--out DIR (default runs/benchmark)]
        [--name NAME]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import numpy as np
from baselines import INT8
from bench_core import machine_info, machine_line, one_line_errors, unexported, write_results

from catdog.runtime.classifier import Classifier
from catdog.runtime.datasets import labelled_items
from catdog.runtime.files import read_json
from catdog.runtime.images import read_image, skipped_lines
from catdog.runtime.metrics import decide, share_interval, shown_share

RULES = (None, 0.5, 0.7, 0.9)  # None: the sidecar's own


def used(split: dict, folder: Path) -> bool:
    """Whether the run of `split` (its split.json) trained or chose on a photo from `folder`."""
    inside = os.path.abspath(folder)
    return any(Path(os.path.abspath(path)).is_relative_to(inside) for path, _ in split["train"] + split["selection"])


def groups(run: Path, extra: dict[str, Path], extra_only: bool = False) -> dict[str, list[tuple[str, str]]]:
    """(path, label name) per group of the run's validation split (by the folder the photo came from; none with
    `extra_only`), plus the extra labelled folders the run did not train or choose on."""
    split = read_json(run / "split.json")
    config = read_json(run / "config.json")
    found: dict[str, list[tuple[str, str]]] = {}
    for path, label in [] if extra_only else split["validation"]:
        name = split["labels"][label]
        if name == config.get("background"):
            group = "negatives"
        elif config.get("other_pets") not in (None, "none") and path.startswith(str(Path(config["other_pets"]))):
            group = "other-source pets (same source as some training pets)"
        else:
            group = "cats_and_dogs_filtered pets"
        found.setdefault(group, []).append((path, name))
    for group, folder in extra.items():
        if used(split, folder):
            continue  # a run is scored only on folders it has no photo from: its cell stays empty
        labels, items, skipped = labelled_items(folder, split["labels"])
        for line in skipped_lines(skipped):
            print(f"{group}: {line}", file=sys.stderr)
        found[group] = [(path, labels[label]) for path, label in items]
    return found


def probabilities_of(classifier: Classifier, items) -> np.ndarray:
    """The classifier's probabilities for every photo of a group."""
    return np.stack([classifier.probabilities(classifier.prepare(read_image(path))) for path, _ in items])


def score(classifier: Classifier, items, probabilities: np.ndarray, rule: float | None) -> dict:
    """Share right (pets) or share called a pet (negatives) at the rule (None: the classifier's own), with its
    count and 95% interval."""
    rule = classifier.min_probability if rule is None else rule
    decided = [classifier.labels[i] for i in decide(probabilities, classifier.labels, classifier.background, rule)]
    truth = [name for _, name in items]
    right = sum(d == t for d, t in zip(decided, truth))
    negatives = all(name == classifier.background for name in truth)
    count = len(items) - right if negatives else right
    share = "false_pet_rate" if negatives else "accuracy"
    interval = share_interval(count, len(items))
    return {"rule": rule, "images": len(items), share: count / len(items), "count": count, "interval95": interval}


def named_folder(text: str) -> tuple[str, Path]:
    """An --extra value, NAME=DIR."""
    name, equals, folder = text.partition("=")
    if not (name and equals and folder):
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, not {text!r}")
    return name, Path(folder)


@one_line_errors
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders with export/ (models with a background class)")
    parser.add_argument("--compare", type=Path, help="a two-class run folder with export/, scored on the pets")
    parser.add_argument(
        "--extra", action="append", default=[], type=named_folder, metavar="NAME=DIR", help="more labelled photos"
    )
    parser.add_argument(
        "--extra-only", action="store_true", help="score the --extra folders alone, not the runs' splits"
    )
    parser.add_argument("--artifacts", nargs="+", default=list(INT8), metavar="FILE", help="default: the int8 ones")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"), help="default runs/benchmark (untracked)")
    parser.add_argument("--name", default="background", help="the results' file name (default background)")
    args = parser.parse_args(argv)
    if problem := unexported(args.runs + ([args.compare] if args.compare else []), "background.py"):
        print(problem, file=sys.stderr)
        return 2
    if args.extra_only and not args.extra:
        parser.error("--extra-only needs --extra NAME=DIR")
    extra = dict(args.extra)
    photos_of = {run: groups(run, extra, args.extra_only) for run in args.runs}
    photos = {group: items for found in photos_of.values() for group, items in found.items()}  # the columns
    compare_split = read_json(args.compare / "split.json") if args.compare else None
    rows = []
    for artifact in args.artifacts:
        for run, found in photos_of.items():
            classifier = Classifier(run / "export" / artifact)
            outputs = {group: probabilities_of(classifier, items) for group, items in found.items()}
            for rule in RULES:
                for group, items in found.items():
                    scored = score(classifier, items, outputs[group], rule)
                    rows.append({"model": run.name, "artifact": artifact, "group": group, **scored})
        if args.compare:
            two = Classifier(args.compare / "export" / artifact)
            for group, items in photos.items():
                known = [(path, name) for path, name in items if name in two.labels]  # its pets, not `none`
                if known and not (group in extra and used(compare_split, extra[group])):
                    scored = score(two, known, probabilities_of(two, known), None)
                    rows.append({"model": args.compare.name, "artifact": artifact, "group": group, **scored})
        print(f"{artifact}: done", file=sys.stderr)
    machine = machine_line(machine_info())
    lines = [
        "# No cat, no dog",
        "",
        f"`python benchmarks/background.py {shlex.join(map(str, argv or sys.argv[1:]))}` on {machine}.",
        "",
        "| model | artifact | min probability | " + " | ".join(photos) + " |",
        "|---|---|---:|" + "---:|" * len(photos),
    ]
    cells = {(r["model"], r["artifact"], r["rule"], r["group"]): r for r in rows}
    for model, artifact, rule in dict.fromkeys(key[:3] for key in cells):
        found = [cells.get((model, artifact, rule, group)) for group in photos]
        shown = [shown_share(r["count"], r["images"]) if r else "" for r in found]
        lines.append(f"| {model} | {artifact} | {rule:g} | " + " | ".join(shown) + " |")
    lines += [
        "",
        "Pets: the share given their own label (called `none` is wrong); negatives: the share called a cat or a "
        "dog (false pets). The first rule of each artifact is its sidecar's, chosen on the selection split; the "
        "validation photos here chose nothing. In brackets: the photos, and the 95% interval (Wilson's) of the "
        "share on photos like them.",
    ]
    write_results(args.out, args.name, "\n".join(lines) + "\n", {"machine": machine, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
