"""Finding the images of a data set folder, checking them, splitting them, streaming them with tf.data.

Layouts understood (class names are whatever the folders or file names say):
  ROOT/train/<class>/*.jpg + ROOT/validation/<class>/*.jpg   (also val/, valid/)
  ROOT/<class>/*.jpg                                         (a stratified validation split is made)
  ROOT/cat.123.jpg, ROOT/dog.45.jpg                          (Kaggle "Dogs vs. Cats", flat; also under ROOT/train/)
"""
from __future__ import annotations

import os
import random
import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from catdog.runtime.images import ImageError, list_images, read_image

DATA_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
VALIDATION_FOLDERS = ("validation", "val", "valid")
KAGGLE_NAME = re.compile(r"^([A-Za-z][A-Za-z _-]*?)[._]\d+\.")


class DataError(ValueError):
    """A data set folder that cannot be used for training."""


@dataclass
class Dataset:
    """Labelled image paths: `train` and `validation` are lists of (path, class index)."""

    labels: list[str]
    train: list[tuple[str, int]]
    validation: list[tuple[str, int]]
    layout: str
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line saying what was found."""
        counts = ", ".join(
            f"{label} {sum(1 for _, y in self.train if y == i)}/{sum(1 for _, y in self.validation if y == i)}"
            for i, label in enumerate(self.labels)
        )
        return f"{len(self.train)} training, {len(self.validation)} validation images ({self.layout}; train/val per class: {counts})"


def default_data_dir() -> Path:
    """$CATDOG_DATA if set, else TensorFlow's cats_and_dogs_filtered download (cached by Keras)."""
    if os.environ.get("CATDOG_DATA"):
        return Path(os.environ["CATDOG_DATA"])
    import keras

    archive = keras.utils.get_file("cats_and_dogs_filtered.zip", origin=DATA_URL, extract=True)
    found = [p for p in Path(archive).parent.rglob("cats_and_dogs_filtered") if (p / "train").is_dir()]
    if not found:
        raise DataError(f"downloaded {DATA_URL} but found no cats_and_dogs_filtered/train in it")
    return found[0]


def find_classes(folder: Path) -> dict[str, list[Path]]:
    """Map class name to image files: from sub-folders if there are any, else from Kaggle-style file names."""
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    classes = {p.name: list_images(p) for p in subfolders}
    classes = {name: files for name, files in classes.items() if files}
    if classes:
        return classes
    by_prefix: dict[str, list[Path]] = defaultdict(list)
    for path in list_images(folder):
        match = KAGGLE_NAME.match(path.name)
        if match:
            by_prefix[match.group(1).lower()].append(path)
    return dict(by_prefix)


def stratified_split(classes: dict[str, list[Path]], validation_fraction: float, seed: int):
    """Split each class alike with a seeded shuffle; return (train, validation) dicts."""
    train, validation = {}, {}
    for name, files in classes.items():
        files = sorted(files)
        random.Random(f"{seed}-{name}").shuffle(files)
        n_val = max(1, round(len(files) * validation_fraction))
        validation[name], train[name] = files[:n_val], files[n_val:]
    return train, validation


def _is_readable(path: Path) -> bool:
    try:
        read_image(path)
        return True
    except ImageError:
        return False


def drop_unreadable(classes: dict[str, list[Path]], workers: int = 4) -> tuple[dict[str, list[Path]], list[str]]:
    """Decode every file once; return the readable ones and the paths skipped."""
    everything = [p for files in classes.values() for p in files]
    with ThreadPoolExecutor(workers) as pool:  # OpenCV releases the GIL while decoding
        readable = dict(zip(everything, pool.map(_is_readable, everything)))
    kept = {name: [p for p in files if readable[p]] for name, files in classes.items()}
    return kept, [str(p) for p, ok in readable.items() if not ok]


def load_dataset(root: str | Path, validation_fraction: float = 0.2, seed: int = 42) -> Dataset:
    """Discover, check and split the data set under `root`; raise DataError with one clear sentence."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    train_dir = root / "train" if (root / "train").is_dir() else root
    val_dir = next((root / v for v in VALIDATION_FOLDERS if (root / v).is_dir()), None)
    train_classes = find_classes(train_dir)
    val_classes = find_classes(val_dir) if val_dir else None
    train_classes, skipped = drop_unreadable(train_classes)
    if val_classes is not None:
        val_classes, skipped_val = drop_unreadable(val_classes)
        skipped += skipped_val
    labels = sorted(name for name, files in train_classes.items() if files)
    if len(labels) < 2:
        found = f"only {labels[0]!r}" if labels else "no class with images"
        raise DataError(f"need at least two classes of images in {root}, found {found} "
                        "(use one sub-folder per class, e.g. cats/ and dogs/, or Kaggle names like cat.1.jpg)")
    if val_classes is None:
        train_classes, val_classes = stratified_split(train_classes, validation_fraction, seed)
        layout = f"class folders in {train_dir}, stratified {validation_fraction:.0%} validation split, seed {seed}"
    else:
        extra = sorted(set(val_classes) - set(labels))
        if extra:
            raise DataError(f"validation folder {val_dir} has classes not in training: {', '.join(extra)}")
        layout = f"{train_dir.name}/ and {val_dir.name}/ splits"

    def pairs(classes):
        return [(str(p), labels.index(name)) for name in labels for p in classes.get(name, [])]

    return Dataset(labels, pairs(train_classes), pairs(val_classes), layout, skipped)


def skipped_line(skipped: list[str]) -> str:
    """The one summary line about unreadable files."""
    example = f", e.g. {skipped[0]}" if skipped else ""
    return f"skipped {len(skipped)} unreadable files (corrupt, empty or not images){example}"


def make_tf_dataset(items, size: int, batch_size: int, shuffle: bool = False, augment=None, seed: int = 42):
    """Stream (pixels 0-255 float32, class index) batches from disk, decoding with the runtime's `prepare`."""
    import numpy as np
    import tensorflow as tf

    from catdog.runtime.images import load_prepared

    def load(path):
        return load_prepared(path.decode(), size)

    paths = [p for p, _ in items]
    labels = np.array([y for _, y in items], dtype=np.int32)
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle:
        ds = ds.shuffle(len(items), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(
        lambda p, y: (tf.ensure_shape(tf.numpy_function(load, [p], tf.uint8), (size, size, 3)), y),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def labelled_items(root: str | Path, labels: list[str] | None = None) -> tuple[list[str], list[tuple[str, int]]]:
    """Every readable labelled image under `root` for evaluation (its validation/ folder if it has one),
    with class indices in the order of `labels` (default: sorted class names)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    val_dir = next((root / v for v in VALIDATION_FOLDERS if (root / v).is_dir()), root)
    classes, _ = drop_unreadable(find_classes(val_dir))
    labels = labels or sorted(classes)
    unknown = sorted(set(classes) - set(labels))
    if unknown or not classes:
        raise DataError(f"{val_dir} has classes the model does not know: {', '.join(unknown)}" if unknown
                        else f"no labelled images found in {val_dir}")
    return labels, [(str(p), labels.index(name)) for name in labels for p in classes.get(name, [])]
