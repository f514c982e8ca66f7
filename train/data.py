"""Training data: where the default data set comes from, and streaming labelled images with tf.data. Finding,
checking and splitting the images of a data set folder is catdog.runtime.datasets."""

from __future__ import annotations

import os
from pathlib import Path

from catdog.runtime.datasets import DataError

DATA_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"


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


def make_tf_dataset(
    items, size: int, batch_size: int, shuffle: bool = False, augment=None, seed: int = 42, one_hot: int = 0
):
    """Stream (pixels 0-255 float32, class index) batches from disk, decoding with the runtime's `prepare`;
    with `one_hot` (the number of classes), one-hot targets instead of class indices."""
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
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), tf.one_hot(y, one_hot) if one_hot else y))
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
