"""The exploration behind the genre network's recipe: artist-grouped cross-validation on the
fault-filtered GTZAN train split, for the alternatives a training run does not recompute (the
card's "Model selection" points here).

Usage: python bench/genre_explore.py [--data PATH] [--out bench/genre_explore.md] [--repeats 8]
       [--keras-repeats 2]

Rows: scikit-learn's logistic regression as a fast stand-in for the linear network, over the
input blocks (tag mean + maximum, the tag spread at weights 1 and 0.5, the GTZAN table recipe at
weights 0.2, 0.4 and 1, the table alone) and the L2 strength (C); then Keras networks with a
hidden layer (the recipe's members with ``hidden`` and ``dropout`` set) under the same folds.
Folds are :func:`midi2img.gtzan.train.artist_folds` (whole artists, a shuffle per repeat), as in
training; each fold standardises on its own training clips. The inputs come from the shared
feature table and published taggrams (``$MIDI2IMG_DATA/gtzan``).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np


def _lr_cv(X: np.ndarray, y: np.ndarray, groups: list[str], weights: np.ndarray, *, c: float,
           repeats: int, folds: int, seed: int) -> np.ndarray:
    """Accuracy of each repeat of a balanced multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression

    from midi2img.gtzan.train import artist_folds

    acc = []
    for rep in range(repeats):
        pred = np.zeros(len(y), dtype=int)
        for tr, te in artist_folds(groups, folds=folds, repeat=rep, seed=seed):
            mean, std = X[tr].mean(axis=0), X[tr].std(axis=0)
            std[std == 0] = 1.0
            scale = std / weights
            lr = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
            lr.fit((X[tr] - mean) / scale, y[tr])
            pred[te] = lr.predict((X[te] - mean) / scale)
        acc.append(float(np.mean(pred == y)))
    return np.array(acc)


def main() -> None:
    from midi2img.config import require_data_dir
    from midi2img.gtzan.dataset import FEATURE_COLUMNS
    from midi2img.gtzan.model import log_mask, transform
    from midi2img.gtzan.train import TrainConfig, cross_validate, load_artists, load_splits

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--keras-repeats", type=int, default=2)
    args = ap.parse_args()
    data = args.data or require_data_dir(None, "gtzan") / "gtzan"
    table = load_splits(data, only=("train",))["train"]
    artists = load_artists(data)
    groups = [artists.get(c, c) for c in table.ids]
    cfg = TrainConfig()
    X = transform(table.features, log_mask(table.columns))
    y = table.y()
    cols = np.array(table.columns)
    is_table = np.isin(cols, FEATURE_COLUMNS)
    is_std = np.char.startswith(cols, "msd_std:")
    is_tag = ~is_table & ~is_std  # tag mean and maximum

    def lr_row(name: str, block: dict[str, float], c: float = 0.01) -> tuple[str, str]:
        keep = np.zeros(len(cols), dtype=bool)
        weights = np.ones(len(cols))
        for part, mask in (("tags", is_tag), ("std", is_std), ("table", is_table)):
            if part in block:
                keep |= mask
                weights[mask] = block[part]
        acc = _lr_cv(X[:, keep], y, groups, weights[keep], c=c, repeats=args.repeats,
                     folds=cfg.cv_folds, seed=cfg.seed)
        return name, f"{acc.mean():.3f} +- {acc.std():.3f}"

    rows = [
        lr_row("LR: tag mean + maximum", {"tags": 1.0}),
        lr_row("LR: + tag spread", {"tags": 1.0, "std": 1.0}),
        lr_row("LR: + tag spread at weight 0.5", {"tags": 1.0, "std": 0.5}),
        lr_row("LR: + spread 0.5 + table at weight 0.2 (the recipe's inputs)",
               {"tags": 1.0, "std": 0.5, "table": 0.2}),
        lr_row("LR: + spread 0.5 + table at weight 0.4", {"tags": 1.0, "std": 0.5, "table": 0.4}),
        lr_row("LR: + spread 0.5 + table at full weight", {"tags": 1.0, "std": 0.5, "table": 1.0}),
        lr_row("LR: the table alone", {"table": 1.0}),
    ]
    recipe = {"tags": 1.0, "std": 0.5, "table": 0.2}
    rows += [lr_row(f"LR: the recipe's inputs, C = {c}", recipe, c) for c in (0.03, 0.1)]
    for hidden, dropout in (((32,), 0.3), ((128,), 0.5)):
        k_cfg = replace(cfg, hidden=hidden, dropout=dropout, cv_repeats=args.keras_repeats)
        results, _ = cross_validate(table, artists, k_cfg)
        acc = np.array([r["accuracy"] for r in results])
        rows.append((f"Keras, hidden layer {hidden[0]}, dropout {dropout}",
                     f"{acc.mean():.3f} +- {acc.std():.3f} ({args.keras_repeats} repeats)"))
    k_cfg = replace(cfg, cv_repeats=args.keras_repeats)
    results, _ = cross_validate(table, artists, k_cfg)
    acc = np.array([r["accuracy"] for r in results])
    rows.append(("Keras, the recipe (linear, one member per fold)",
                 f"{acc.mean():.3f} +- {acc.std():.3f} ({args.keras_repeats} repeats)"))
    lines = ["# Genre network: exploration (artist-grouped CV, GTZAN filtered train split)", "",
             f"{len(y)} clips, {len(set(groups))} artists, {cfg.cv_folds} folds of whole "
             f"artists; LR rows: {args.repeats} repeats, C = 0.01 unless stated, balanced "
             "classes. Accuracy, mean +- standard deviation over repeats.", "",
             "| inputs / model | accuracy |", "|---|---|"]
    lines += [f"| {n} | {a} |" for n, a in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
