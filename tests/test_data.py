"""Data set discovery on real photos: every layout, unreadable files, the stratified split."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from catdog.train.data import DataError, labelled_items, load_dataset
from support import DATA, make_class_folders


def test_train_and_validation_folders(tiny_data):
    dataset = load_dataset(tiny_data)
    assert dataset.labels == ["cats", "dogs"]
    assert len(dataset.train) == 80 and len(dataset.validation) == 48
    assert all(Path(path).parent.name == dataset.labels[label] for path, label in dataset.train + dataset.validation)
    assert dataset.skipped == []


def test_class_folders_get_a_stratified_seeded_split(tmp_path):
    root = tmp_path / "pets"
    make_class_folders(root, 30)
    (root / "cats").rename(root / "cat")  # singular names work as well
    (root / "dogs").rename(root / "dog")
    first = load_dataset(root, validation_fraction=0.2, seed=7)
    assert first.labels == ["cat", "dog"]
    for label in (0, 1):
        assert sum(1 for _, y in first.validation if y == label) == 6
        assert sum(1 for _, y in first.train if y == label) == 24
    assert not {p for p, _ in first.train} & {p for p, _ in first.validation}
    assert load_dataset(root, validation_fraction=0.2, seed=7).validation == first.validation
    assert load_dataset(root, validation_fraction=0.2, seed=8).validation != first.validation


def test_kaggle_flat_layout(tmp_path):
    flat = tmp_path / "train"
    flat.mkdir()
    for name in ("cats", "dogs"):
        for source in sorted((DATA / "train" / name).iterdir())[:10]:
            (flat / source.name).symlink_to(source)  # cat.0.jpg, dog.0.jpg ...
    dataset = load_dataset(tmp_path, validation_fraction=0.3)
    assert dataset.labels == ["cat", "dog"]
    assert len(dataset.train) + len(dataset.validation) == 20
    assert sorted(y for _, y in dataset.validation) == [0, 0, 0, 1, 1, 1]


def test_unreadable_files_are_skipped_and_counted(tmp_path):
    root = make_class_folders(tmp_path / "pets", 8)
    real = sorted((DATA / "train" / "cats").iterdir())[20]
    (root / "cats" / "empty.jpg").write_bytes(b"")
    (root / "cats" / "truncated.jpg").write_bytes(real.read_bytes()[:300])
    (root / "dogs" / "notes.jpg").write_text("not a picture at all")
    dataset = load_dataset(root, validation_fraction=0.25)
    assert sorted(Path(p).name for p in dataset.skipped) == ["empty.jpg", "notes.jpg", "truncated.jpg"]
    assert len(dataset.train) + len(dataset.validation) == 16


def test_one_class_only_is_refused(tmp_path):
    root = make_class_folders(tmp_path / "pets", 5)
    shutil.rmtree(root / "dogs")
    with pytest.raises(DataError, match="at least two classes.*only 'cats'"):
        load_dataset(root)


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset(tmp_path / "nowhere")


def test_labelled_items_use_the_validation_split_and_the_model_label_order(tiny_data):
    labels, items = labelled_items(tiny_data, ["dogs", "cats"])
    assert labels == ["dogs", "cats"] and len(items) == 48
    assert all("validation" in path and Path(path).parent.name == labels[y] for path, y in items)
