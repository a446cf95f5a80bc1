"""Fit the image affect estimator on OASIS's training part and measure it once on the held-out part.

Needs ``bench/image_affect/build_set.py`` to have run (features in the data folder, split in
``bench/image_affect/split.json``). Choices (per axis: the feature set and the ridge alpha) are
made by 5-fold cross-validation on the training part only, folds grouped by OASIS theme group
(``Acorns 1..3`` -> ``Acorns``). The held-out part is scored once, at the end, for the fitted
model and for the literature formula of Valdez & Mehrabian (1994) on standardised brightness B
and saturation S: pleasure = .69 B + .22 S, arousal = -.31 B + .60 S.

Writes ``models/image_affect/image_affect.json``, ``models/image_affect/MODEL_CARD.md`` and
``bench/image_affect.md``.

Usage: ``python bench/image_affect/fit.py``
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.stats import pearsonr, spearmanr

from midi2img.render.image_affect import (
    AXES,
    FEATURE_NAMES,
    FEATURE_VERSION,
    ImageAffectModel,
    read_image_affect,
)

sys.path.insert(0, str(Path(__file__).parent))
from build_set import SPLIT_FILE, data_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "image_affect"
REPORT = ROOT / "bench" / "image_affect.md"
DATASET = "OASIS (Kurdi et al. 2017)"
RATING_SCALE = (1.0, 7.0)
CLIP_Z = 5.0
N_FOLDS = 5
SEED = 20
N_BOOT = 2000
ALPHAS = (0.1, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "brightness+saturation": ("brightness", "saturation"),
    "colour": ("brightness", "saturation", "warmth", "colourfulness", "hue_entropy",
               "dark_share", "bright_share"),
    "all": FEATURE_NAMES,
}
LITERATURE = {"valence": (0.69, 0.22), "arousal": (-0.31, 0.60)}


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge weights on already standardised columns, and the intercept (mean of y)."""
    k = x.shape[1]
    w = np.linalg.solve(x.T @ x + alpha * np.eye(k), x.T @ (y - y.mean()))
    return w, float(y.mean())


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (1 where a column is constant)."""
    mean = x.mean(axis=0)
    sd = x.std(axis=0)
    return mean, np.where(sd > 0, sd, 1.0)


def folds_of(groups: list[str]) -> np.ndarray:
    """Fold index per row: groups shuffled with a fixed seed, dealt round-robin."""
    uniq = sorted(set(groups))
    order = np.random.default_rng(SEED).permutation(len(uniq))
    fold_of = {uniq[j]: i % N_FOLDS for i, j in enumerate(order)}
    return np.array([fold_of[g] for g in groups])


def cv_predict(x: np.ndarray, y: np.ndarray, folds: np.ndarray, cols: list[int],
               alpha: float) -> np.ndarray:
    """Out-of-fold predictions (standardisation fitted inside each fold)."""
    pred = np.empty_like(y)
    for f in range(N_FOLDS):
        tr, te = folds != f, folds == f
        mean, sd = standardise(x[tr][:, cols])
        ztr = np.clip((x[tr][:, cols] - mean) / sd, -CLIP_Z, CLIP_Z)
        zte = np.clip((x[te][:, cols] - mean) / sd, -CLIP_Z, CLIP_Z)
        w, b = ridge(ztr, y[tr], alpha)
        pred[te] = b + zte @ w
    return pred


def boot_ci(y: np.ndarray, p: np.ndarray, fn: str) -> list[float]:
    """Percentile 95 % bootstrap interval (images resampled) of Spearman or Pearson."""
    rng = np.random.default_rng(SEED)
    stat = spearmanr if fn == "spearman" else pearsonr
    vals = []
    for _ in range(N_BOOT):
        i = rng.integers(0, len(y), len(y))
        vals.append(float(stat(y[i], p[i])[0]))
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return [float(lo), float(hi)]


def score(y: np.ndarray, p: np.ndarray) -> dict[str, object]:
    """Spearman and Pearson with bootstrap intervals."""
    return {"spearman": float(spearmanr(y, p)[0]), "spearman_ci95": boot_ci(y, p, "spearman"),
            "pearson": float(pearsonr(y, p)[0]), "pearson_ci95": boot_ci(y, p, "pearson"),
            "n": len(y)}


def time_predict(model: ImageAffectModel) -> float:
    """Median seconds of one ``predict`` on a 512 x 512 RGB photo-like image (one core)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((512, 512), Image.Resampling.BICUBIC)
    times = []
    for _ in range(60):
        t0 = time.perf_counter()
        model.predict(img)
        times.append(time.perf_counter() - t0)
    return float(np.median(times[10:]))


def fmt(s: dict) -> str:
    """One table cell pair: rho [lo, hi] | r [lo, hi]."""
    a, b = s["spearman_ci95"]
    c, d = s["pearson_ci95"]
    return (f"{s['spearman']:+.3f} [{a:+.3f}, {b:+.3f}] | "
            f"{s['pearson']:+.3f} [{c:+.3f}, {d:+.3f}]")


def main() -> None:
    """Fit, choose by grouped CV, score the held-out part once, write model and report."""
    data = json.loads((data_dir() / f"features_v{FEATURE_VERSION}.json").read_text())
    if data["feature_names"] != list(FEATURE_NAMES):
        sys.exit("features were built with other feature names; rerun build_set.py")
    split = json.loads(SPLIT_FILE.read_text())
    rows = {r["id"]: r for r in data["rows"]}
    train = [rows[i] for i in split["train"]]
    held = [rows[i] for i in split["heldout"]]
    x_tr = np.array([r["features"] for r in train], dtype=np.float64)
    x_te = np.array([r["features"] for r in held], dtype=np.float64)
    groups = [r["group"] for r in train]
    folds = folds_of(groups)
    names = list(FEATURE_NAMES)

    cv_table: dict[str, dict[str, dict[str, float]]] = {a: {} for a in AXES}
    chosen: dict[str, tuple[str, float]] = {}
    for axis in AXES:
        y = np.array([r[axis] for r in train])
        best = (-2.0, "", 0.0)
        for set_name, feats in FEATURE_SETS.items():
            cols = [names.index(f) for f in feats]
            for alpha in ALPHAS:
                rho = float(spearmanr(y, cv_predict(x_tr, y, folds, cols, alpha))[0])
                cv_table[axis][f"{set_name} / alpha {alpha:g}"] = rho
                if rho > best[0] + 1e-9:
                    best = (rho, set_name, alpha)
        chosen[axis] = (best[1], best[2])
    # literature formula, CV figure on the training part (no fitting except B, S standardising)
    b_i, s_i = names.index("brightness"), names.index("saturation")

    def literature(x: np.ndarray, mean: np.ndarray, sd: np.ndarray, axis: str) -> np.ndarray:
        zb = (x[:, b_i] - mean[b_i]) / sd[b_i]
        zs = (x[:, s_i] - mean[s_i]) / sd[s_i]
        wb, ws = LITERATURE[axis]
        return wb * zb + ws * zs

    mean, sd = standardise(x_tr)
    lit_train = {a: float(spearmanr([r[a] for r in train],
                                    literature(x_tr, mean, sd, a))[0]) for a in AXES}

    # the shipped fit: whole training part, chosen set and alpha per axis
    coef: dict[str, tuple[float, ...]] = {}
    intercept: dict[str, float] = {}
    for axis in AXES:
        set_name, alpha = chosen[axis]
        cols = [names.index(f) for f in FEATURE_SETS[set_name]]
        y = np.array([r[axis] for r in train])
        z = np.clip((x_tr[:, cols] - mean[cols]) / sd[cols], -CLIP_Z, CLIP_Z)
        w, b = ridge(z, y, alpha)
        full = np.zeros(len(names))
        full[cols] = w
        coef[axis] = tuple(round(float(v), 10) for v in full)
        intercept[axis] = round(b, 10)
    cv_best = {a: cv_table[a][f"{chosen[a][0]} / alpha {chosen[a][1]:g}"] for a in AXES}

    provisional = ImageAffectModel(
        feature_names=FEATURE_NAMES, mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in sd), coef=coef, intercept=intercept, clip_z=CLIP_Z,
        rating_scale=RATING_SCALE, heldout_spearman={a: float("nan") for a in AXES},
        heldout_n=len(held), dataset=DATASET, figures={})

    # ---- the one held-out evaluation ----
    held_scores: dict[str, dict] = {}
    lit_scores: dict[str, dict] = {}
    unit_range: dict[str, list[float]] = {}
    for axis in AXES:
        y = np.array([r[axis] for r in held])
        pred = np.array([provisional.rating(dict(zip(names, f, strict=True)))[axis]
                         for f in x_te])
        held_scores[axis] = score(y, pred)
        lit_scores[axis] = score(y, literature(x_te, mean, sd, axis))
        units = [provisional.to_unit(p) for p in pred]
        unit_range[axis] = [float(np.min(units)), float(np.max(units))]
    # quadrant agreement (signs around the scale midpoint) on held-out, for the record
    yv = np.array([r["valence"] for r in held]) - 4.0
    pv = np.array([provisional.rating(dict(zip(names, f, strict=True)))["valence"]
                   for f in x_te]) - 4.0
    sign_acc_v = float(np.mean(np.sign(yv) == np.sign(pv)))

    figures = {
        "heldout": held_scores,
        "literature_heldout": lit_scores,
        "literature_train_spearman": lit_train,
        "cv_spearman_chosen": cv_best,
        "chosen": {a: {"features": chosen[a][0], "alpha": chosen[a][1]} for a in AXES},
        "heldout_unit_range": unit_range,
        "heldout_valence_sign_agreement": sign_acc_v,
        "n_train": len(train),
        "cv": f"{N_FOLDS}-fold, grouped by OASIS theme group (seed {SEED})",
        "split": "bench/image_affect/split.json",
    }
    model = ImageAffectModel(
        feature_names=FEATURE_NAMES, mean=provisional.mean, scale=provisional.scale,
        coef=coef, intercept=intercept, clip_z=CLIP_Z, rating_scale=RATING_SCALE,
        heldout_spearman={a: round(held_scores[a]["spearman"], 6) for a in AXES},
        heldout_n=len(held), dataset=DATASET, figures=figures)
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    path = MODEL_DIR / "image_affect.json"
    path.write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
    assert read_image_affect(path) == model
    sec = time_predict(model)

    lines = [
        "# Image affect estimator (issue 20): held-out figures",
        "",
        f"Set: {DATASET}, 900 photos rated 1..7 for valence and arousal; train {len(train)}, "
        f"held-out {len(held)} images (split by theme group, `bench/image_affect/split.json`). "
        "Written by `bench/image_affect/fit.py`; the held-out part was scored once.",
        "",
        "| model | axis | n | Spearman rho [95% CI] | Pearson r [95% CI] |",
        "|---|---|---|---|---|",
    ]
    for axis in AXES:
        lines.append(f"| fitted ridge ({chosen[axis][0]}, alpha {chosen[axis][1]:g}) | {axis} "
                     f"| {len(held)} | {fmt(held_scores[axis])} |")
    for axis in AXES:
        lines.append(f"| Valdez & Mehrabian 1994 (B, S standardised) | {axis} | {len(held)} "
                     f"| {fmt(lit_scores[axis])} |")
    lines += [
        "",
        f"Intervals: {N_BOOT} bootstrap resamples of the held-out images (percentile, seed "
        f"{SEED}).",
        "",
        "## Cross-validation on the training part",
        "",
        f"{N_FOLDS}-fold, folds grouped by OASIS theme group (seed {SEED}); out-of-fold "
        "predictions pooled, Spearman rho. Chosen per axis: the best row.",
        "",
        "| feature set / alpha | valence | arousal |",
        "|---|---|---|",
    ]
    for key in cv_table["valence"]:
        lines.append(f"| {key} | {cv_table['valence'][key]:+.3f} | "
                     f"{cv_table['arousal'][key]:+.3f} |")
    lines.append(f"| literature formula (no fit, whole training part) | "
                 f"{lit_train['valence']:+.3f} | {lit_train['arousal']:+.3f} |")
    lines += [
        "",
        "## Weights of the shipped model (standardised features; rating units)",
        "",
        "| feature | mean | sd | valence | arousal |",
        "|---|---|---|---|---|",
    ]
    for i, f in enumerate(FEATURE_NAMES):
        lines.append(f"| {f} | {model.mean[i]:.4f} | {model.scale[i]:.4f} | "
                     f"{coef['valence'][i]:+.4f} | {coef['arousal'][i]:+.4f} |")
    lines.append(f"| intercept | | | {intercept['valence']:.4f} | {intercept['arousal']:.4f} |")
    lines += [
        "",
        "## Output range and cost",
        "",
        f"Held-out predictions mapped to [-1, 1] ((rating - 4) / 3): valence "
        f"{unit_range['valence'][0]:+.3f}..{unit_range['valence'][1]:+.3f}, arousal "
        f"{unit_range['arousal'][0]:+.3f}..{unit_range['arousal'][1]:+.3f}. Valence sign "
        f"agrees with the rating's side of the midpoint on {sign_acc_v:.1%} of held-out images.",
        "",
        f"Cost: {sec * 1000:.1f} ms per 512 x 512 image (median of 50 `predict` calls, one "
        f"process, {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}).",
        "",
    ]
    REPORT.write_text("\n".join(lines), encoding="utf-8")
    card = [
        "# Model card: image affect estimator (`image_affect.json`)",
        "",
        "What: valence and arousal of an image from colour and composition features (no neural "
        "weights); `midi2img.render.image_affect.load_image_affect().predict(image)`. One "
        "ridge regression per axis on standardised features, output mapped from the 1..7 "
        "rating scale to [-1, 1].",
        "",
        f"Data: {DATASET}, images from the mindhiveproject/evs-experimentalSoftware mirror, "
        "ratings from bkurdi/shiny-server (see bench/image_affect/README.md). "
        f"Train {len(train)}, held-out {len(held)} (theme-grouped hash split).",
        "",
        "Held-out (scored once):",
        "",
    ]
    for axis in AXES:
        card.append(f"- {axis}: fitted Spearman/Pearson {fmt(held_scores[axis])}; "
                    f"literature formula {fmt(lit_scores[axis])}")
    card += [
        "",
        f"Chosen by grouped {N_FOLDS}-fold CV on the training part: valence "
        f"{chosen['valence'][0]} alpha {chosen['valence'][1]:g} (CV rho "
        f"{cv_best['valence']:+.3f}), arousal {chosen['arousal'][0]} alpha "
        f"{chosen['arousal'][1]:g} (CV rho {cv_best['arousal']:+.3f}).",
        "",
        "Limits: OASIS photos' affect comes mostly from their content (a snake, a wedding), "
        "which colour statistics cannot see; the estimator is a weak, content-blind prior, "
        "fitted on photographs rather than on generated art. Predictions are shrunk toward the "
        "set's mean rating (OASIS arousal means sit below the scale midpoint), so the [-1, 1] "
        "outputs span a narrow range; compare images by rank rather than by absolute value.",
        "",
        "Full figures: bench/image_affect.md.",
        "",
    ]
    (MODEL_DIR / "MODEL_CARD.md").write_text("\n".join(card), encoding="utf-8")
    print(REPORT.read_text())


if __name__ == "__main__":
    main()
