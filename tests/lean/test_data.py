"""Data set discovery on real photos: every layout, unreadable files, the stratified split."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from support import DATA, NEGATIVES, OTHER_PETS, make_class_folders

from catdog.runtime.datasets import BACKGROUND, OUTSIDE, UNNAMED, DataError, labelled_items, load_dataset
from catdog.runtime.images import NOT_AN_IMAGE, TOO_SMALL, UNREADABLE


def test_train_and_validation_folders(tiny_data):
    dataset = load_dataset(tiny_data)
    assert dataset.labels == ["cats", "dogs"]
    assert len(dataset.train) == 80 and len(dataset.validation) == 48
    assert all(Path(path).parent.name == dataset.labels[label] for path, label in dataset.train + dataset.validation)
    assert dataset.skipped == {}
    assert dataset.layout == "class folders in train/ and validation/ splits"


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


def kaggle_flat(root: Path, per_class: int = 10) -> Path:
    """ROOT/train/cat.0.jpg ... dog.N.jpg, linked from the real photos."""
    flat = root / "train"
    flat.mkdir(parents=True)
    for name in ("cats", "dogs"):
        for source in sorted((DATA / "train" / name).iterdir())[:per_class]:
            (flat / source.name).symlink_to(source)  # cat.0.jpg, dog.0.jpg ...
    return flat


def test_kaggle_flat_layout(tmp_path):
    kaggle_flat(tmp_path)
    dataset = load_dataset(tmp_path, validation_fraction=0.3)
    assert dataset.labels == ["cat", "dog"]
    assert len(dataset.train) + len(dataset.validation) == 20
    assert sorted(y for _, y in dataset.validation) == [0, 0, 0, 1, 1, 1]
    assert dataset.layout == f"Kaggle file names in {tmp_path / 'train'}, stratified 30% validation split, seed 42"


def test_kaggle_class_without_a_training_image_is_refused(tmp_path):
    flat = kaggle_flat(tmp_path)
    (flat / "bird.1.jpg").symlink_to(DATA / "train" / "cats" / "cat.500.jpg")
    (flat / "dog.jpg").symlink_to(DATA / "train" / "dogs" / "dog.500.jpg")
    with pytest.raises(DataError) as error:
        load_dataset(tmp_path)
    assert str(error.value) == (
        f"class 'bird' has no training image (1 went to the validation split); add images of it to {flat} or remove it"
    )
    assert error.value.skipped == {UNNAMED: [flat / "dog.jpg"]}  # reported with the error, not lost


def test_kaggle_names_without_a_class_or_number_are_reported(tmp_path):
    flat = kaggle_flat(tmp_path)
    (flat / "cat..jpg").symlink_to(DATA / "train" / "cats" / "cat.500.jpg")
    (flat / "dog.jpg").symlink_to(DATA / "train" / "dogs" / "dog.500.jpg")
    dataset = load_dataset(tmp_path)
    assert len(dataset.train) + len(dataset.validation) == 20
    assert {reason: [p.name for p in paths] for reason, paths in dataset.skipped.items()} == {
        UNNAMED: ["cat..jpg", "dog.jpg"]
    }


def test_selection_split_is_stratified_seeded_and_disjoint(tiny_data):
    dataset = load_dataset(tiny_data)
    dataset.carve_selection(0.1, seed=3)
    train, selection, validation = (
        {p for p, _ in items} for items in (dataset.train, dataset.selection, dataset.validation)
    )
    assert not train & selection and not train & validation and not selection & validation
    assert len(train | selection) == 80  # every training image is in exactly one of the two
    assert sorted(y for _, y in dataset.selection) == [0] * 4 + [1] * 4
    assert all(Path(p).parent.name == dataset.labels[y] for p, y in dataset.selection)
    again = load_dataset(tiny_data)
    again.carve_selection(0.1, seed=3)
    assert again.selection == dataset.selection and again.train == dataset.train
    other = load_dataset(tiny_data)
    other.carve_selection(0.1, seed=4)
    assert other.selection != dataset.selection
    assert dataset.summary().startswith("72 train, 8 selection, 48 validation images (")


def test_selection_fraction_zero_keeps_every_training_image(tiny_data):
    dataset = load_dataset(tiny_data)
    dataset.carve_selection(0.0, seed=3)
    assert dataset.selection == [] and len(dataset.train) == 80


def test_selection_that_would_leave_no_training_image_is_refused(tmp_path):
    dataset = load_dataset(make_class_folders(tmp_path / "pets", 3), validation_fraction=0.34)
    with pytest.raises(DataError, match=r"^class 'cats' has 2 training image\(s\): too few to set 90% aside"):
        dataset.carve_selection(0.9, seed=1)


def test_unusable_files_are_skipped_and_counted_by_reason(tmp_path):
    import cv2
    import numpy as np

    root = make_class_folders(tmp_path / "pets", 8)
    real = sorted((DATA / "train" / "cats").iterdir())[20]
    (root / "cats" / "empty.jpg").write_bytes(b"")
    (root / "cats" / "truncated.jpg").write_bytes(real.read_bytes()[:300])
    (root / "dogs" / "notes.jpg").write_text("not a picture at all")
    (root / "dogs" / "readme.txt").write_text("dogs")
    cv2.imwrite(str(root / "dogs" / "pixel.png"), np.zeros((1, 1, 3), np.uint8))
    (root / "stray.jpg").symlink_to(real)
    dataset = load_dataset(root, validation_fraction=0.25)
    assert {reason: sorted(p.name for p in paths) for reason, paths in dataset.skipped.items()} == {
        UNREADABLE: ["empty.jpg", "notes.jpg", "truncated.jpg"],
        NOT_AN_IMAGE: ["readme.txt"],
        TOO_SMALL: ["pixel.png"],
        OUTSIDE: ["stray.jpg"],
    }
    assert len(dataset.train) + len(dataset.validation) == 16


def test_a_gif_is_read_in_a_folder_as_when_named_alone(tmp_path):
    """One rule for GIFs: listed as an image in a folder and decoded (its first frame) by read_image, in a folder
    or named alone; a tiny one is too small both ways."""
    import cv2

    from catdog.runtime.images import read_image, scan_images

    photo = cv2.resize(cv2.imread(str(sorted((DATA / "train" / "cats").iterdir())[0])), (64, 48))
    (tmp_path / "cats").mkdir()
    gif, tiny = tmp_path / "cats" / "photo.gif", tmp_path / "cats" / "TINY.GIF"
    gif.write_bytes(cv2.imencode(".gif", photo)[1].tobytes())
    tiny.write_bytes(cv2.imencode(".gif", photo[:8, :8])[1].tobytes())
    assert scan_images(tmp_path) == ([tiny, gif], {})
    assert read_image(gif).shape == (48, 64, 3)
    with pytest.raises(ValueError, match="too small to be a photo"):
        read_image(tiny)


def test_one_class_only_is_refused(tmp_path):
    root = make_class_folders(tmp_path / "pets", 5)
    shutil.rmtree(root / "dogs")
    with pytest.raises(DataError, match="at least two classes.*only 'cats'"):
        load_dataset(root)


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset(tmp_path / "nowhere")


def test_labelled_items_use_the_validation_split_and_the_model_label_order(tiny_data):
    labels, items, skipped = labelled_items(tiny_data, ["dogs", "cats"])
    assert skipped == {}
    assert labels == ["dogs", "cats"] and len(items) == 48
    assert all("validation" in path and Path(path).parent.name == labels[y] for path, y in items)


def test_negatives_become_the_background_class_split_like_every_class(tiny_data, tmp_path):
    negatives = tmp_path / "negatives" / "nested"  # any nesting
    negatives.mkdir(parents=True)
    for source in sorted(NEGATIVES.iterdir())[:20]:
        (negatives / source.name).symlink_to(source)
    dataset = load_dataset(tiny_data, negatives=negatives.parent, seed=3)
    assert dataset.labels == ["cats", "dogs", BACKGROUND]
    held = [p for p, y in dataset.validation if y == 2]
    assert len(held) == 4 and len([p for p, y in dataset.train if y == 2]) == 16  # 20% held out
    assert held == [p for p, y in load_dataset(tiny_data, negatives=negatives.parent, seed=3).validation if y == 2]
    assert held != [p for p, y in load_dataset(tiny_data, negatives=negatives.parent, seed=4).validation if y == 2]
    assert f"20 none from {negatives.parent}" in dataset.layout
    dataset.carve_selection(0.25, 3)
    assert sum(1 for _, y in dataset.selection if y == 2) == 4  # stratified: the background too


def test_other_source_pets_mix_into_their_classes(tiny_data):
    dataset = load_dataset(tiny_data, extras=[OTHER_PETS])
    assert dataset.labels == ["cats", "dogs"]
    mixed = [(Path(p).parent.name, y) for p, y in dataset.train + dataset.validation if OTHER_PETS.name in p]
    assert sorted(mixed) == [("cats", 0)] * 2 + [("dogs", 1)] * 59


def unusable_negatives(tmp: Path, kind: str) -> Path:
    """A negatives folder that is missing, empty, or holds only a file that is not an image."""
    folder = tmp / kind
    if kind != "missing":
        folder.mkdir()
    if kind == "junk":
        (folder / "a.jpg").write_text("not a JPEG")
    return folder


@pytest.mark.parametrize(
    "kind, says",
    [
        ("missing", "negatives folder not found: {folder}"),
        ("empty", "negatives folder {folder} holds no readable image"),
        ("junk", "negatives folder {folder} holds no readable image"),
    ],
)
def test_unusable_negatives_are_one_clear_error(tiny_data, tmp_path, kind, says):
    folder = unusable_negatives(tmp_path, kind)
    with pytest.raises(DataError) as error:
        load_dataset(tiny_data, negatives=folder)
    assert str(error.value) == says.format(folder=folder)


def test_negatives_and_a_background_class_folder_are_refused_together(tmp_path):
    root = make_class_folders(tmp_path / "pets", 10)
    (root / BACKGROUND).mkdir()
    for source in sorted(NEGATIVES.iterdir())[:10]:
        (root / BACKGROUND / source.name).symlink_to(source)
    assert load_dataset(root).labels == ["cats", "dogs", BACKGROUND]  # a class folder of its own works
    with pytest.raises(DataError) as error:
        load_dataset(root, negatives=NEGATIVES)
    assert str(error.value) == (
        f"{root} already has a 'none' class folder, the background class: give it --negatives or that folder, not both"
    )


def test_a_folder_to_mix_in_with_an_unknown_class_is_refused(tiny_data, tmp_path):
    (tmp_path / "birds").mkdir()
    (tmp_path / "birds" / "a.jpg").symlink_to(sorted(NEGATIVES.iterdir())[0])
    with pytest.raises(DataError) as error:
        load_dataset(tiny_data, extras=[tmp_path])
    assert str(error.value) == (
        f"{tmp_path} has class folders the data set does not have: birds (its classes: cats, dogs, or none for "
        "photos with none of them)"
    )


def test_a_photo_given_twice_is_refused_whichever_folder_repeats_it(tiny_data, tmp_path):
    cats = tiny_data / "train" / "cats"
    with pytest.raises(DataError) as error:
        load_dataset(tiny_data, negatives=cats)  # the cats, as photos of no cat
    photos = len(list(cats.iterdir()))
    said = re.fullmatch(
        rf"{photos} photo\(s\) given twice, e.g. (.+) \(as cats and as none\): a folder mixed in \(--negatives, "
        r"--other-pets, --add\) overlaps the data set or another folder mixed in",
        str(error.value),
    )
    assert said and Path(said[1]).parent == cats
    (tmp_path / "again" / "dogs").mkdir(parents=True)  # another path to one photo: still the same photo
    (tmp_path / "again" / "dogs" / "dog.jpg").symlink_to(sorted((tiny_data / "validation" / "dogs").iterdir())[0])
    with pytest.raises(DataError, match=r"^1 photo\(s\) given twice, e.g. .* \(as dogs\)"):
        load_dataset(tiny_data, extras=[tmp_path / "again"])


def test_the_imagenet_samples_sort_into_negatives_and_other_source_pets(tmp_path):
    from catdog.train.data import sort_imagenet_samples

    archive = tmp_path / "imagenet-sample-images-master"  # the download's layout: one flat folder
    archive.mkdir()
    for source in [*NEGATIVES.iterdir(), *OTHER_PETS.rglob("*.JPEG")]:
        (archive / source.name).symlink_to(source)
    sort_imagenet_samples(archive, tmp_path / "sorted")
    found = {
        folder: sorted(p.name for p in (tmp_path / "sorted" / folder).iterdir())
        for folder in ("negatives", "other_source_pets/cats", "other_source_pets/dogs")
    }
    assert found["negatives"] == sorted(p.name for p in NEGATIVES.iterdir())
    for kind in ("cats", "dogs"):
        assert found[f"other_source_pets/{kind}"] == sorted(p.name for p in (OTHER_PETS / kind).iterdir())
