"""The source trap, probed: does a model with a background class learn the photo source instead of the animal,
and what keeps it from doing so? A linear head on frozen MobileNetV2 features (the first phase of catdog's
transfer learning), trained on a run's training split in several variants and scored on its selection split only,
so that what is chosen here is never what the validation split reports. Pets from the other source count as
unseen for the variants that leave them out of training. Writes OUT/source_trap.md and source_trap.json.

    python benchmarks/source_trap.py runs/default [--copies 2] [--out DIR (default runs/benchmark)]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from bench_core import machine_info, machine_line
from tqdm import tqdm

from catdog.runtime.files import atomic_path, read_json, write_json

# name: (background class, other-source pets in training, augmentation: None, "basic" or "disguise")
VARIANTS = {
    "two classes (cats, dogs)": (False, False, None),
    "three classes": (True, False, None),
    "three classes, augmented": (True, False, "basic"),
    "three classes, augmented + source disguise": (True, False, "disguise"),
    "three classes + other-source pets": (True, True, None),
    "three classes + other-source pets, augmented + source disguise": (True, True, "disguise"),
}


def features_of(items, config: dict, augmentation: str | None, copies: int) -> np.ndarray:
    """Pooled frozen-base features of `items` (path, label), `copies` augmented versions each when augmenting."""
    import keras

    from catdog.train.data import make_tf_dataset, source_disguise
    from catdog.train.models import augmentation as batch_augmentation
    from catdog.train.models import resolve_weights

    size, alpha = config["size"], config["alpha"]
    base = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), alpha=alpha, include_top=False, pooling="avg",
        weights=resolve_weights("mobilenetv2", alpha, config["weights"]),
    )  # fmt: skip
    rounds = []
    for copy in range(copies if augmentation else 1):
        disguise = augmentation == "disguise"
        augment = batch_augmentation(copy, hide_source=disguise) if augmentation else None
        ds = make_tf_dataset(
            items, size, 32, augment=augment, disguise=source_disguise() if disguise else None, seed=copy
        )
        batches = [base(keras.applications.mobilenet_v2.preprocess_input(x)).numpy() for x, _ in tqdm(
            ds, total=-(-len(items) // 32), desc=f"features ({augmentation or 'plain'} {copy + 1})", leave=False
        )]  # fmt: skip
        rounds.append(np.concatenate(batches))
    return np.concatenate(rounds)


def probe(run: Path, copies: int) -> dict:
    """Per variant: pet accuracy on the selection split's pets from the data set and from the other source, and
    the false-pet rate on its negatives (argmax of the linear head)."""
    from sklearn.linear_model import LogisticRegression

    split, config = read_json(run / "split.json"), read_json(run / "config.json")
    labels, other = split["labels"], str(Path(config["other_pets"]))
    background = labels.index(config["background"])
    train, chosen = split["train"], split["selection"]
    is_other = np.array([p.startswith(other) for p, _ in train])
    unseen_other = [(p, y) for p, y in train + chosen if p.startswith(other)]
    plain = {name: features_of(items, config, None, 1) for name, items in (("train", train), ("selection", chosen))}
    plain["unseen other"] = features_of(unseen_other, config, None, 1)
    y_train, y_chosen = np.array([y for _, y in train]), np.array([y for _, y in chosen])
    chosen_other = np.array([p.startswith(other) for p, _ in chosen])
    results = {}
    for name, (with_background, with_other, augmentation) in VARIANTS.items():
        keep = (with_background | (y_train != background)) & (with_other | ~is_other)
        kept = [item for item, k in zip(train, keep) if k]
        x = features_of(kept, config, augmentation, copies) if augmentation else plain["train"][keep]
        y = np.tile(y_train[keep], len(x) // keep.sum())
        head = LogisticRegression(max_iter=2000, class_weight="balanced").fit(x, y)
        guess = head.classes_[head.predict_proba(plain["selection"]).argmax(1)]
        pets = y_chosen != background
        other_x, other_y = (
            (plain["selection"][chosen_other], y_chosen[chosen_other])
            if with_other
            else (plain["unseen other"], np.array([y for _, y in unseen_other]))
        )
        results[name] = {
            "data set pets": float((guess == y_chosen)[pets & ~chosen_other].mean()),
            "other-source pets": float((head.predict(other_x) == other_y).mean()),
            "other-source pets seen in training": with_other,
            "other-source pet images": int(len(other_y)),
            "false pets": None if not with_background else float((guess != background)[~pets].mean()),
            "negative images": int((~pets).sum()),
        }
        print(f"{name}: {results[name]}")
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--copies", type=int, default=2, help="augmented copies of each training photo")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"))
    args = parser.parse_args(argv)
    results = probe(args.run, args.copies)
    lines = [
        "# The source trap, probed on frozen MobileNetV2 features",
        "",
        f"{machine_line(machine_info())}. `python benchmarks/source_trap.py {args.run} --copies {args.copies}`: a "
        "linear head per variant on the run's training split, scored on its selection split (pets, negatives) and "
        "on other-source pets (unseen: every one in training and selection, for variants trained without them; "
        "seen: the selection split's, for variants trained with them).",
        "",
        "| variant | data set pets | other-source pets | false pets |",
        "|---|---:|---:|---:|",
    ]
    for name, r in results.items():
        seen = "seen" if r["other-source pets seen in training"] else "unseen"
        false = "100% (no 'none')" if r["false pets"] is None else f"{r['false pets']:.1%}"
        lines.append(
            f"| {name} | {r['data set pets']:.1%} | {r['other-source pets']:.1%} "
            f"({seen}, {r['other-source pet images']}) | {false} (of {r['negative images']}) |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "source_trap.md") as path:
        path.write_text("\n".join(lines) + "\n")
    write_json(args.out / "source_trap.json", {"machine": machine_info(), "variants": results})
    print(f"wrote {args.out / 'source_trap.md'}")


if __name__ == "__main__":
    main()
