"""Training data: where the default data set comes from, and streaming labelled images with tf.data. Finding,
checking and splitting the images of a data set folder is catdog.runtime.datasets.

The default data set is cats_and_dogs_filtered (Kaggle / Asirra photos) plus, from another source, photos with
no cat or dog (the background class) and more cat and dog photos, so that the model cannot tell a pet by the
look of its photo source: both from the ImageNet sample images (one photo per ImageNet class, collected in
github.com/EliSchwartz/imagenet-sample-images; ImageNet's terms: non-commercial research and education),
split by class into pets (the 118 dog and 5 domestic cat classes) and negatives (every other class).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from catdog.runtime.datasets import DataError
from catdog.runtime.files import atomic_folder

DATA_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
SAMPLES_URL = "https://github.com/EliSchwartz/imagenet-sample-images/archive/refs/heads/master.zip"
# ImageNet's classes are its WordNet ids in sorted order: dogs are classes 151-268, domestic cats 281-285.
PET_WNIDS = {"dogs": ("n02085620", "n02113978"), "cats": ("n02123045", "n02124075")}


def default_data_dir() -> Path:
    """$CATDOG_DATA if set, else TensorFlow's cats_and_dogs_filtered download (cached by Keras); DataError in one
    line when that fails."""
    if os.environ.get("CATDOG_DATA"):
        return Path(os.environ["CATDOG_DATA"])
    import keras

    try:
        archive = keras.utils.get_file("cats_and_dogs_filtered.zip", origin=DATA_URL, extract=True)
    except Exception as error:  # no network, a server error
        raise DataError(f"no default data set ({error}); give --data DIR or set CATDOG_DATA") from None
    found = [p for p in Path(archive).parent.rglob("cats_and_dogs_filtered") if (p / "train").is_dir()]
    if not found:
        raise DataError(f"downloaded {DATA_URL} but found no cats_and_dogs_filtered/train in it")
    return found[0]


def default_sources(negatives_given: bool = False) -> tuple[Path | None, Path | None]:
    """The negatives folder and the other-source pets folder of the default data set: $CATDOG_NEGATIVES and
    $CATDOG_OTHER_PETS if set, else the ImageNet sample images (downloaded once, cached by Keras, and sorted
    into both). (None, None), with one line on stderr saying what is trained without them, when they cannot be
    had: two classes only, unless `negatives_given`."""
    if os.environ.get("CATDOG_NEGATIVES") or os.environ.get("CATDOG_OTHER_PETS"):
        return tuple(Path(os.environ[name]) if os.environ.get(name) else None for name in ENVIRONMENT)
    import keras

    try:
        got = Path(keras.utils.get_file("samples.zip", SAMPLES_URL, extract=True, cache_subdir=SAMPLES_CACHE))
    except Exception as error:  # no network, a server error: train without them, and say so
        without = "other-source pets" if negatives_given else "negatives: training cats and dogs only"
        print(f"catdog-train: no ImageNet sample images ({error}); no {without}", file=sys.stderr)
        return None, None
    samples = got if got.is_dir() else got.parent  # Keras 3 gives the extracted folder, older ones the zip
    sorted_folder = samples.with_name(SAMPLES_CACHE + "-sorted")
    if not sorted_folder.is_dir():
        with atomic_folder(sorted_folder) as building:
            sort_imagenet_samples(samples, building)
    return sorted_folder / "negatives", sorted_folder / "other_source_pets"


ENVIRONMENT = ("CATDOG_NEGATIVES", "CATDOG_OTHER_PETS")
SAMPLES_CACHE = "catdog-imagenet-samples"


def imagenet_pet(wnid: str) -> str | None:
    """'dogs' or 'cats' for the WordNet id of an ImageNet dog or domestic cat class, else None."""
    return next((name for name, (first, last) in PET_WNIDS.items() if first <= wnid <= last), None)


def sort_imagenet_samples(source: Path, target: Path) -> None:
    """Link each ImageNet sample photo (named `<wnid>_<class name>.JPEG`) under `source` into
    target/other_source_pets/{cats,dogs}/ or target/negatives/."""
    for photo in sorted(source.rglob("n*_*.JPEG")):
        pet = imagenet_pet(photo.name.split("_")[0])
        folder = target / ("other_source_pets/" + pet if pet else "negatives")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / photo.name).symlink_to(photo.resolve())


def source_disguise(strength: float = 1.0):
    """Per image, a random loss of resolution (scaled down to between 35% and 100% of its side, then back up)
    and a JPEG round trip at a random quality (95 down to 25; 94 at strength 0): what differs most between one
    photo source and another after colour and blur (`train.models.augmentation`). `strength` scales both."""
    import tensorflow as tf

    low_scale = max(0.1, 1 - 0.65 * strength)
    low_quality = int(min(94, max(5, 95 - 70 * strength)))  # the op needs a range

    def disguise(image, seed):
        scale_seed, quality_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        size = tf.shape(image)[:2]
        scale = tf.random.stateless_uniform([], scale_seed, low_scale, 1.0)
        smaller = tf.cast(tf.round(tf.cast(size, tf.float32) * scale), tf.int32)
        image = tf.image.resize(tf.image.resize(image, smaller, method="area"), size, method="bilinear")
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
        return tf.image.stateless_random_jpeg_quality(image, low_quality, 95, quality_seed)

    return disguise


def make_tf_dataset(
    items,
    size: int,
    batch_size: int,
    shuffle: bool = False,
    augment=None,
    disguise=None,
    seed: int = 42,
    one_hot: int = 0,
):
    """Stream (pixels 0-255 float32, class index) batches from disk, decoding with the runtime's `prepare`;
    `disguise` (`source_disguise`) changes each image, `augment` (`train.models.augmentation`) each batch, both
    anew every epoch; with `one_hot` (the number of classes), one-hot targets instead of class indices."""
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
    if disguise is not None:
        seeds = tf.data.Dataset.random(seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(
            lambda xy, s: (disguise(xy[0], s), xy[1]), num_parallel_calls=tf.data.AUTOTUNE
        )
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), tf.one_hot(y, one_hot) if one_hot else y))
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
