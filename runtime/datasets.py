"""Labelled image folders, read the same way by every command (catdog-train, catdog-eval, catdog-export, the
benchmark): finding the images of a data set folder, checking them, splitting them. numpy-free, so the
board can score itself on a folder too.

Layouts understood (class names are whatever the folders or file names say):
  ROOT/train/<class>/*.jpg + ROOT/validation/<class>/*.jpg   (also val/, valid/)
  ROOT/<class>/*.jpg                                         (a stratified validation split is made)
  ROOT/cat.123.jpg, ROOT/dog.45.jpg                          (Kaggle "Dogs vs. Cats", flat; also under ROOT/train/)

A class named BACKGROUND ("none") means "no cat or dog": photos with none of the other classes in them. It is a
class folder like any other, or a folder of such photos mixed in (`negatives`). Folders of class folders can be
mixed into the classes of the same name (`extras`); mixed-in images are split train / validation like a data
set without a validation folder.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from catdog.runtime.files import read_json
from catdog.runtime.images import ImageError, read_image, scan_images

VALIDATION_FOLDERS = ("validation", "val", "valid")
BACKGROUND = "none"  # the label meaning "no cat or dog" (any class the model knows, absent)
KAGGLE_NAME = re.compile(r"^([A-Za-z][A-Za-z _-]*?)[._]\d+\.")
# Why a file was not used, besides the runtime's reasons (not an image, dangling link, unreadable, too small).
OUTSIDE = "outside any class folder"
UNNAMED = "not named like cat.1.jpg: class, dot, number"


class DataError(ValueError):
    """A data set folder that cannot be used for training; `skipped`: the files left out before it was found
    unusable, by reason, so that they are reported with the error."""

    def __init__(self, message: str, skipped: dict[str, list[Path]] | None = None):
        super().__init__(message)
        self.skipped = skipped or {}


@dataclass
class Dataset:
    """Labelled image paths: `train`, `selection` and `validation` are lists of (path, class index).
    `selection` is carved from the training images to choose on (early stopping, best checkpoint,
    calibration), so that `validation` is only measured. `skipped` maps a reason to the files it covers."""

    labels: list[str]
    train: list[tuple[str, int]]
    validation: list[tuple[str, int]]
    layout: str
    skipped: dict[str, list[Path]] = field(default_factory=dict)
    selection: list[tuple[str, int]] = field(default_factory=list)

    def carve_selection(self, fraction: float, seed: int) -> None:
        """Move a stratified, seeded `fraction` of each class's training images to `selection`."""
        if fraction <= 0:
            return
        by_class = {i: sorted(item for item in self.train if item[1] == i) for i in range(len(self.labels))}
        self.train, self.selection = [], []
        for i, items in by_class.items():
            random.Random(f"{seed}-selection-{self.labels[i]}").shuffle(items)
            n_selection = max(1, round(len(items) * fraction))
            if n_selection >= len(items):
                raise DataError(
                    f"class {self.labels[i]!r} has {len(items)} training image(s): too few to set "
                    f"{fraction:.0%} aside for selection (lower --selection-fraction, or 0 for none)"
                )
            self.selection += items[:n_selection]
            self.train += items[n_selection:]

    def summary(self) -> str:
        """One line saying what was found."""
        splits = [
            ("train", self.train),
            *([("selection", self.selection)] if self.selection else []),
            ("validation", self.validation),
        ]
        counts = ", ".join(
            f"{label} " + "/".join(str(sum(1 for _, y in items if y == i)) for _, items in splits)
            for i, label in enumerate(self.labels)
        )
        return (
            ", ".join(f"{len(items)} {name}" for name, items in splits) + f" images ({self.layout}; "
            f"{'/'.join(name for name, _ in splits)} per class: {counts})"
        )


def add_skipped(skipped: dict[str, list[Path]], more: dict[str, list[Path]]) -> None:
    """Merge skipped files by reason into `skipped`."""
    for reason, paths in more.items():
        skipped.setdefault(reason, []).extend(paths)


def find_classes(folder: Path, skipped: dict[str, list[Path]]) -> tuple[dict[str, list[Path]], str]:
    """Map class name to image files: from sub-folders if there are any, else from Kaggle-style file names.
    Returns the classes and the layout's name; files not used are added to `skipped` by reason."""
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    scanned = {p.name: scan_images(p) for p in subfolders}
    classes = {name: images for name, (images, _) in scanned.items() if images}
    if classes:
        for _, found in scanned.values():
            add_skipped(skipped, found)
        loose = [p for p in folder.iterdir() if not p.is_dir()]
        if loose:
            add_skipped(skipped, {OUTSIDE: sorted(loose)})
        return classes, "class folders"
    images, found = scan_images(folder)
    add_skipped(skipped, found)
    by_prefix: dict[str, list[Path]] = defaultdict(list)
    for path in images:
        match = KAGGLE_NAME.match(path.name)
        if match:
            by_prefix[match.group(1).lower()].append(path)
        else:
            skipped.setdefault(UNNAMED, []).append(path)
    return dict(by_prefix), "Kaggle file names"


def stratified_split(classes: dict[str, list[Path]], validation_fraction: float, seed: int):
    """Split each class alike with a seeded shuffle; return (train, validation) dicts."""
    train, validation = {}, {}
    for name, files in classes.items():
        files = sorted(files)
        random.Random(f"{seed}-{name}").shuffle(files)
        n_val = max(1, round(len(files) * validation_fraction))
        validation[name], train[name] = files[:n_val], files[n_val:]
    return train, validation


def _unusable(path: Path) -> str | None:
    """Why an image file cannot be used (the runtime's reason), or None if it can."""
    try:
        read_image(path)
        return None
    except ImageError as error:
        return error.reason


def drop_unreadable(
    classes: dict[str, list[Path]], skipped: dict[str, list[Path]], workers: int = 4
) -> dict[str, list[Path]]:
    """Decode every file once; return the usable ones and add the others to `skipped` by reason."""
    everything = [p for files in classes.values() for p in files]
    with ThreadPoolExecutor(workers) as pool:  # OpenCV releases the GIL while decoding
        checked = tqdm(
            pool.map(_unusable, everything),
            total=len(everything),
            desc="checking images",
            unit="image",
            leave=False,
            disable=None,
        )  # None: a bar on a terminal only
        reasons = dict(zip(everything, checked))
    for path, reason in reasons.items():
        if reason:
            skipped.setdefault(reason, []).append(path)
    return {name: [p for p in files if not reasons[p]] for name, files in classes.items()}


def load_dataset(
    root: str | Path,
    validation_fraction: float = 0.2,
    seed: int = 42,
    negatives: str | Path | None = None,
    extras: tuple[str | Path, ...] = (),
) -> Dataset:
    """Discover, check and split the data set under `root`, with the photos of `negatives` as the BACKGROUND
    class and the class folders of each of `extras` mixed in; raise DataError with one clear sentence."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    train_dir = root / "train" if (root / "train").is_dir() else root
    val_dir = next((root / v for v in VALIDATION_FOLDERS if (root / v).is_dir()), None)
    skipped: dict[str, list[Path]] = {}
    train_classes, kind = find_classes(train_dir, skipped)
    val_classes = drop_unreadable(find_classes(val_dir, skipped)[0], skipped) if val_dir else None
    train_classes = drop_unreadable(train_classes, skipped)
    labels = sorted(name for name, files in train_classes.items() if files)
    if len(labels) < 2:
        found = f"only {labels[0]!r}" if labels else "no class with images"
        raise DataError(
            f"need at least two classes of images in {root}, found {found} "
            "(use one sub-folder per class, e.g. cats/ and dogs/, or Kaggle names like cat.1.jpg)",
            skipped,
        )
    if val_classes is None:
        train_classes, val_classes = stratified_split(train_classes, validation_fraction, seed)
        layout = f"{kind} in {train_dir}, stratified {validation_fraction:.0%} validation split, seed {seed}"
    else:
        extra = sorted(set(val_classes) - set(labels))
        if extra:
            raise DataError(f"validation folder {val_dir} has classes not in training: {', '.join(extra)}", skipped)
        layout = f"{kind} in {train_dir.name}/ and {val_dir.name}/ splits"
    for name in labels:
        if not train_classes.get(name):
            held = len(val_classes.get(name, []))
            raise DataError(
                f"class {name!r} has no training image ({held} went to the validation split); "
                f"add images of it to {train_dir} or remove it",
                skipped,
            )
    mixed_in = [(folder, mixed_in_classes(folder, labels, skipped)) for folder in map(Path, extras)]
    if negatives is not None:
        if BACKGROUND in labels:
            raise DataError(
                f"{root} already has a {BACKGROUND!r} class folder, the background class: give it --negatives "
                "or that folder, not both",
                skipped,
            )
        mixed_in.append((Path(negatives), {BACKGROUND: read_negatives(Path(negatives), skipped)}))
    for folder, classes in mixed_in:
        more_train, more_validation = stratified_split(classes, validation_fraction, seed)
        for name in classes:
            train_classes[name] = train_classes.get(name, []) + more_train[name]
            val_classes[name] = val_classes.get(name, []) + more_validation[name]
        layout += f"; {', '.join(f'{len(files)} {name}' for name, files in classes.items())} from {folder}"
    check_each_photo_once(train_classes, val_classes, skipped=skipped)
    labels = sorted(set(labels) | {name for _, classes in mixed_in for name in classes})

    def pairs(classes):
        return [(str(p), labels.index(name)) for name in labels for p in classes.get(name, [])]

    return Dataset(labels, pairs(train_classes), pairs(val_classes), layout, skipped)


def check_each_photo_once(*splits: dict[str, list[Path]], skipped: dict[str, list[Path]]) -> None:
    """DataError if one file is in the data set twice (a folder mixed in that overlaps the data set or another
    folder mixed in): it would be learnt under two labels, or trained and validated on both."""
    seen: dict[Path, str] = {}
    twice: list[tuple[Path, str, str]] = []
    for classes in splits:
        for name, files in classes.items():
            for path in files:
                real = Path(path).resolve()
                if real in seen:
                    twice.append((path, seen[real], name))
                else:
                    seen[real] = name
    if twice:
        path, first, second = twice[0]
        labels = first if first == second else f"{first} and as {second}"
        raise DataError(
            f"{len(twice)} photo(s) given twice, e.g. {path} (as {labels}): a folder mixed in "
            "(--negatives, --other-pets, --add) overlaps the data set or another folder mixed in",
            skipped,
        )


def read_negatives(folder: Path, skipped: dict[str, list[Path]]) -> list[Path]:
    """The readable photos under a folder of negatives (any nesting); DataError if there are none."""
    if not folder.is_dir():
        raise DataError(f"negatives folder not found: {folder}", skipped)
    images, found = scan_images(folder)
    add_skipped(skipped, found)
    readable = drop_unreadable({BACKGROUND: images}, skipped)[BACKGROUND]
    if not readable:
        raise DataError(f"negatives folder {folder} holds no readable image", skipped)
    return readable


def mixed_in_classes(folder: Path, labels: list[str], skipped: dict[str, list[Path]]) -> dict[str, list[Path]]:
    """The readable images of a folder of class folders to mix in; DataError if it has none, or a class that
    is neither one of `labels` nor the background."""
    if not folder.is_dir():
        raise DataError(f"folder to mix in not found: {folder}", skipped)
    classes = {name: files for name, files in find_classes(folder, skipped)[0].items()}
    unknown = sorted(set(classes) - set(labels) - {BACKGROUND})
    if unknown:
        raise DataError(
            f"{folder} has class folders the data set does not have: {', '.join(unknown)} "
            f"(its classes: {', '.join(labels)}, or {BACKGROUND} for photos with none of them)",
            skipped,
        )
    classes = {name: files for name, files in drop_unreadable(classes, skipped).items() if files}
    if not classes:
        raise DataError(f"{folder} holds no readable image in a class folder", skipped)
    return classes


def dataset_from_split(run_dir: Path) -> Dataset:
    """The data set of a run folder, exactly as its split.json recorded it (its layout: in config.json for run
    folders written before split.json held it)."""
    split = read_json(run_dir / "split.json")
    layout = split["layout"] if "layout" in split else read_json(run_dir / "config.json")["layout"]

    def pairs(key):
        return [(path, int(label)) for path, label in split.get(key, [])]

    return Dataset(
        split["labels"],
        pairs("train"),
        pairs("validation"),
        f"as in {run_dir}: {layout}",
        selection=pairs("selection"),
    )


def labelled_items(
    root: str | Path, labels: list[str] | None = None
) -> tuple[list[str], list[tuple[str, int]], dict[str, list[Path]]]:
    """Every readable labelled image under `root` for evaluation (its validation/ folder if it has one),
    with class indices in the order of `labels` (default: sorted class names), and the files not used, by
    reason (for the caller to report)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    val_dir = next((root / v for v in VALIDATION_FOLDERS if (root / v).is_dir()), root)
    skipped: dict[str, list[Path]] = {}
    classes = drop_unreadable(find_classes(val_dir, skipped)[0], skipped)
    labels = labels or sorted(classes)
    unknown = sorted(set(classes) - set(labels))
    if unknown or not classes:
        raise DataError(
            f"{val_dir} has classes the model does not know: {', '.join(unknown)}"
            if unknown
            else f"no labelled images found in {val_dir}"
        )
    return labels, [(str(p), labels.index(name)) for name in labels for p in classes.get(name, [])], skipped
