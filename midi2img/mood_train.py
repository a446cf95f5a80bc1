"""Feature extraction with caching for the valence-arousal model's training and evaluation."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from midi2img.affect_data import AffectClip, iter_notes
from midi2img.features import extract
from midi2img.mood_features import FEATURE_NAMES, FEATURE_VERSION, mood_features


def clip_features(notes_and_clip: tuple[AffectClip, object]) -> np.ndarray:
    """Features of one clip (module-level so that a process pool can call it)."""
    clip, notes = notes_and_clip
    feats = extract(notes)  # type: ignore[arg-type]
    return mood_features(notes, feats)  # type: ignore[arg-type]


def _cache_file(cache: Path, data: Path) -> Path:
    tag = hashlib.sha1(f"{data.resolve()}|{FEATURE_VERSION}|{len(FEATURE_NAMES)}".encode()
                       ).hexdigest()[:10]
    return cache / f"mood_features_v{FEATURE_VERSION}_{tag}.npz"


def feature_matrix(clips: list[AffectClip], data: Path, *, cache: Path | None = None,
                   jobs: int | None = None, progress: bool = False) -> np.ndarray:
    """Feature rows of ``clips`` (in order), computing only those missing from the cache.

    The cache is an ``.npz`` (ids + matrix) keyed by data folder and feature version.
    """
    from midi2img.config import cache_dir

    cache = Path(cache) if cache is not None else cache_dir()
    cfile = _cache_file(cache, data)
    known: dict[str, np.ndarray] = {}
    if cfile.is_file():
        with np.load(cfile, allow_pickle=False) as z:
            if list(z["names"]) == list(FEATURE_NAMES):
                known = dict(zip(z["ids"].tolist(), z["X"], strict=True))
    todo = [c for c in clips if c.clip_id not in known]
    if todo:
        jobs = jobs or min(2, os.cpu_count() or 1)
        items = iter_notes(todo, data)
        if jobs > 1:
            from multiprocessing import get_context

            with get_context("spawn").Pool(jobs) as pool:
                rows = []
                for i, row in enumerate(pool.imap(clip_features, items, chunksize=8)):
                    rows.append(row)
                    if progress and (i + 1) % 100 == 0:
                        print(f"  features {i + 1}/{len(todo)}", flush=True)
        else:
            rows = [clip_features(it) for it in items]
        for c, r in zip(todo, rows, strict=True):
            known[c.clip_id] = r
        cache.mkdir(parents=True, exist_ok=True)
        ids = sorted(known)
        tmp = cfile.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, ids=np.array(ids), X=np.stack([known[i] for i in ids]),
                            names=np.array(FEATURE_NAMES))
        os.replace(tmp, cfile)
    return np.stack([known[c.clip_id] for c in clips])


# --------------------------------------------------------------------------------------------
# Model fitting

#: Hyperparameters, chosen on EMOPIA's validation split and song-grouped 5-fold CV over
#: train+val plus VGMIDI's validation pieces (see models/mood/MODEL_CARD.md); never on test.
HYPERPARAMS: dict[str, float] = {
    "lr_C": 0.03,
    "hgb_learning_rate": 0.05,
    "hgb_max_leaf_nodes": 8,
    "hgb_max_iter": 300,
    "hgb_l2_regularization": 1.0,
    "tree_weight": 0.5,
    "vgmidi_weight": 1.0,
    "vgmidi_full_weight_at": 0.2,
}


def _trees_to_arrays(clf: Any) -> dict[str, np.ndarray]:
    """Flatten a fitted binary ``HistGradientBoostingClassifier`` into plain node arrays."""
    feats, thr, left, right, leaf, value, miss, roots = [], [], [], [], [], [], [], []
    offset = 0
    for stage in clf._predictors:
        (pred,) = stage
        nodes = pred.nodes
        if np.any(nodes["is_categorical"]):
            raise ValueError("categorical splits are not supported")
        roots.append(offset)
        feats.append(nodes["feature_idx"])
        thr.append(nodes["num_threshold"])
        left.append(np.where(nodes["is_leaf"], 0, nodes["left"] + offset))
        right.append(np.where(nodes["is_leaf"], 0, nodes["right"] + offset))
        leaf.append(nodes["is_leaf"])
        value.append(nodes["value"])
        miss.append(nodes["missing_go_to_left"])
        offset += nodes.shape[0]
    return {"feature": np.concatenate(feats).astype(np.int32),
            "threshold": np.concatenate(thr).astype(np.float64),
            "left": np.concatenate(left).astype(np.int32),
            "right": np.concatenate(right).astype(np.int32),
            "is_leaf": np.concatenate(leaf).astype(bool),
            "value": np.concatenate(value).astype(np.float64),
            "missing_left": np.concatenate(miss).astype(bool),
            "roots": np.array(roots, dtype=np.int32),
            "baseline": np.array(float(np.ravel(clf._baseline_prediction)[0]))}


def _training_set(X_e: np.ndarray, clips_e: list[AffectClip], X_v: np.ndarray,
                  clips_v: list[AffectClip], axis: str, hp: dict[str, float]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, sign labels and sample weights: EMOPIA clips weigh 1, VGMIDI pieces by |target|."""
    y_e = np.array([getattr(c, axis) > 0 for c in clips_e])
    t_v = np.array([getattr(c, axis) for c in clips_v])
    w_v = hp["vgmidi_weight"] * np.minimum(np.abs(t_v) / hp["vgmidi_full_weight_at"], 1.0)
    X = np.vstack([X_e, X_v]) if len(clips_v) else X_e
    y = np.r_[y_e, t_v > 0] if len(clips_v) else y_e
    w = np.r_[np.ones(len(clips_e)), w_v] if len(clips_v) else np.ones(len(clips_e))
    return X, y, w


def fit_model(X_e: np.ndarray, clips_e: list[AffectClip], X_v: np.ndarray,
              clips_v: list[AffectClip], *, seed: int = 0,
              hp: dict[str, float] | None = None) -> Any:
    """Fit both axes and return a :class:`midi2img.mood.MoodModel` (checked against sklearn)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from midi2img.mood import AXES, MoodModel

    hp = dict(HYPERPARAMS if hp is None else hp)
    X_all = np.vstack([X_e, X_v]) if len(clips_v) else X_e
    scaler = StandardScaler().fit(X_all)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    arrays: dict[str, np.ndarray] = {
        "feature_names": np.array(FEATURE_NAMES), "scaler_mean": scaler.mean_,
        "scaler_scale": scale, "tree_weight": np.array(hp["tree_weight"])}
    coefs, intercepts, reference = [], [], []
    for axis in AXES:
        X, y, w = _training_set(X_e, clips_e, X_v, clips_v, axis, hp)
        lr = LogisticRegression(C=hp["lr_C"], max_iter=5000)
        lr.fit((X - scaler.mean_) / scale, y, sample_weight=w)
        coefs.append(lr.coef_[0])
        intercepts.append(lr.intercept_[0])
        hgb = HistGradientBoostingClassifier(
            learning_rate=hp["hgb_learning_rate"], max_leaf_nodes=int(hp["hgb_max_leaf_nodes"]),
            max_iter=int(hp["hgb_max_iter"]), l2_regularization=hp["hgb_l2_regularization"],
            early_stopping=False, random_state=seed)
        hgb.fit(X, y, sample_weight=w)
        for k, v in _trees_to_arrays(hgb).items():
            arrays[f"hgb/{axis}/{k}"] = v
        p_lr = lr.predict_proba((X_all - scaler.mean_) / scale)[:, 1]
        reference.append((1 - hp["tree_weight"]) * p_lr
                         + hp["tree_weight"] * hgb.predict_proba(X_all)[:, 1])
    arrays["lr_coef"] = np.array(coefs)
    arrays["lr_intercept"] = np.array(intercepts)
    model = MoodModel(arrays)
    diff = np.abs(model.probabilities(X_all) - np.stack(reference, axis=1)).max()
    if diff > 1e-6:  # the numpy re-implementation must match scikit-learn
        raise AssertionError(f"exported model disagrees with scikit-learn by {diff}")
    return model


# --------------------------------------------------------------------------------------------
# Metrics


def emopia_metrics(scores: np.ndarray, clips: list[AffectClip]) -> dict[str, float]:
    """Quadrant, arousal and valence accuracy of signed scores (n, 2) against EMOPIA labels."""
    from midi2img.mood import quadrant_of

    q_true = [c.quadrant for c in clips]
    q_pred = [quadrant_of(float(v), float(a)) for v, a in scores]
    v_true = np.array([c.valence > 0 for c in clips])
    a_true = np.array([c.arousal > 0 for c in clips])
    return {"quadrant_accuracy": float(np.mean([p == t for p, t in zip(q_pred, q_true,
                                                                        strict=True)])),
            "arousal_accuracy": float(np.mean((scores[:, 1] >= 0) == a_true)),
            "valence_accuracy": float(np.mean((scores[:, 0] >= 0) == v_true)),
            "n": len(clips)}


def vgmidi_metrics(scores: np.ndarray, clips: list[AffectClip]) -> dict[str, float]:
    """Pearson r and sign accuracy of signed scores against VGMIDI mean ratings."""
    v = np.array([c.valence for c in clips])
    a = np.array([c.arousal for c in clips])
    return {"valence_pearson": float(np.corrcoef(scores[:, 0], v)[0, 1]),
            "arousal_pearson": float(np.corrcoef(scores[:, 1], a)[0, 1]),
            "valence_sign_accuracy": float(np.mean((scores[:, 0] >= 0) == (v >= 0))),
            "arousal_sign_accuracy": float(np.mean((scores[:, 1] >= 0) == (a >= 0))),
            "n": len(clips)}


def _r4(d: dict[str, float]) -> dict[str, float]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}


def evaluate(model: Any, data: Path, *, vg_split: dict[str, str], cache: Path | None = None,
             split: str = "test") -> dict[str, Any]:
    """EMOPIA accuracies and VGMIDI correlations of ``model`` on one split."""
    from midi2img.affect_data import emopia_clips, vgmidi_clips

    e = [c for c in emopia_clips(data) if c.split == split]
    v = [c for c in vgmidi_clips(data, split=vg_split) if c.split == split]
    s_e = model.scores(feature_matrix(e, data, cache=cache))
    s_v = model.scores(feature_matrix(v, data, cache=cache))
    out: dict[str, Any] = _r4(emopia_metrics(s_e, e))
    out["split"] = split
    out["vgmidi"] = _r4(vgmidi_metrics(s_v, v))
    return out


# --------------------------------------------------------------------------------------------
# The training run behind ``midi2img mood train``


def _versions() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("midi2img", "numpy", "scikit-learn", "pretty_midi", "mido"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _scatter(path: Path, scores: np.ndarray, clips_v: list[AffectClip],
             scores_e: np.ndarray, clips_e: list[AffectClip]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, k, name in ((axes[0], 0, "valence"), (axes[1], 1, "arousal")):
        t = np.array([getattr(c, name) for c in clips_v])
        r = np.corrcoef(scores[:, k], t)[0, 1]
        ax.scatter(t, scores[:, k], s=18)
        ax.plot([-1, 1], [-1, 1], "k--", lw=0.8)
        ax.set(xlim=(-1, 1), ylim=(-1, 1), xlabel=f"true {name} (mean rating)",
               ylabel=f"predicted {name}", title=f"VGMIDI test pieces: {name}, r = {r:.2f}")
    colours = {"Q1": "tab:orange", "Q2": "tab:red", "Q3": "tab:blue", "Q4": "tab:green"}
    for q, col in colours.items():
        idx = [i for i, c in enumerate(clips_e) if c.quadrant == q]
        axes[2].scatter(scores_e[idx, 0], scores_e[idx, 1], s=14, c=col, label=f"true {q}")
    axes[2].axhline(0, c="k", lw=0.6)
    axes[2].axvline(0, c="k", lw=0.6)
    axes[2].set(xlim=(-1, 1), ylim=(-1, 1), xlabel="predicted valence",
                ylabel="predicted arousal", title="EMOPIA test clips by true quadrant")
    axes[2].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def train(data: Path, out: Path, *, seed: int = 0, cache: Path | None = None,
          log: Any = print) -> dict[str, Any]:
    """Fit, validate, evaluate once on test, and write weights + card + scatter into ``out``.

    Validation figures come from a model fitted on the training splits only (EMOPIA train,
    VGMIDI train); the shipped model is then refitted on train+val of both datasets with the
    same hyperparameters and scored once on the test splits.
    """
    import json
    import os

    from midi2img.affect_data import emopia_clips, make_vgmidi_split, vgmidi_clips, vgmidi_targets

    vg_split = make_vgmidi_split(list(vgmidi_targets(data)), seed=seed)
    emo = emopia_clips(data)
    vg = vgmidi_clips(data, split=vg_split)
    log(f"EMOPIA {len(emo)} clips, VGMIDI {len(vg)} pieces; extracting features ...")
    X_e = feature_matrix(emo, data, cache=cache, progress=True)
    X_v = feature_matrix(vg, data, cache=cache, progress=True)

    def part(clips: list[AffectClip], X: np.ndarray, splits: tuple[str, ...]
             ) -> tuple[np.ndarray, list[AffectClip]]:
        idx = [i for i, c in enumerate(clips) if c.split in splits]
        return X[idx], [clips[i] for i in idx]

    # 1. validation: fit on train, score on val
    m_val = fit_model(*part(emo, X_e, ("train",)), *part(vg, X_v, ("train",)), seed=seed)
    Xe_val, e_val = part(emo, X_e, ("val",))
    Xv_val, v_val = part(vg, X_v, ("val",))
    val: dict[str, Any] = _r4(emopia_metrics(m_val.scores(Xe_val), e_val))
    val["vgmidi"] = _r4(vgmidi_metrics(m_val.scores(Xv_val), v_val))
    log(f"validation: {json.dumps(val)}")
    # 2. final model on train+val, scored once on test
    model = fit_model(*part(emo, X_e, ("train", "val")), *part(vg, X_v, ("train", "val")),
                      seed=seed)
    Xe_te, e_te = part(emo, X_e, ("test",))
    Xv_te, v_te = part(vg, X_v, ("test",))
    s_e, s_v = model.scores(Xe_te), model.scores(Xv_te)
    test: dict[str, Any] = _r4(emopia_metrics(s_e, e_te))
    test["split"] = "test"
    test["vgmidi"] = _r4(vgmidi_metrics(s_v, v_te))
    log(f"test: {json.dumps(test)}")

    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    (out / "vgmidi_split.json").write_text(json.dumps(vg_split, indent=1, sort_keys=True) + "\n")
    _scatter(out / "scatter.png", s_v, v_te, s_e, e_te)
    card = {
        "name": "midi2img mood (valence-arousal) model",
        "task": "valence and arousal in [-1, 1] from symbolic (MIDI) features; quadrant from signs",
        "architecture": ("per axis: mean of P(sign > 0) from a standardised logistic regression "
                         "and from gradient-boosted trees (scikit-learn "
                         "HistGradientBoostingClassifier exported to plain arrays); "
                         "score = 2 P - 1"),
        "weights_file": "mood.npz (numpy arrays, loaded with allow_pickle=False)",
        "axes": ["valence", "arousal"],
        "feature_names": list(FEATURE_NAMES),
        "feature_version": FEATURE_VERSION,
        "hyperparameters": HYPERPARAMS,
        "seed": seed,
        "training_data": {
            "emopia": {"source": "EMOPIA midis.zip (Hung et al. 2021), official song-disjoint "
                                 "split", "train": sum(c.split == "train" for c in emo),
                       "val": sum(c.split == "val" for c in emo),
                       "test": sum(c.split == "test" for c in emo),
                       "targets": "Q1=(+1,+1) Q2=(-1,+1) Q3=(-1,-1) Q4=(+1,-1) (valence, arousal)"},
            "vgmidi": {"source": "VGMIDI labelled pieces (Ferreira & Whitehead 2019), mean of "
                                 "~30 annotators' per-measure ratings",
                       "split": f"piece-disjoint, seeded ({seed}), vgmidi_split.json",
                       "train": sum(c.split == "train" for c in vg),
                       "val": sum(c.split == "val" for c in vg),
                       "test": sum(c.split == "test" for c in vg),
                       "weighting": "sign label, sample weight min(|mean rating| / 0.2, 1)"},
            "final_fit": "train + val of both datasets",
        },
        "metrics": {"validation (fit on train only)": val, "test": test},
        "baselines_emopia_test": {"logistic_regression (Hung et al. 2021)":
                                  {"quadrant": 0.581, "arousal": 0.849, "valence": 0.651},
                                  "lstm_attention (Hung et al. 2021)":
                                  {"quadrant": 0.684, "arousal": 0.882, "valence": 0.833}},
        "versions": _versions(),
    }
    tmp = out / (CARD_JSON + ".tmp")
    tmp.write_text(json.dumps(card, indent=1) + "\n")
    os.replace(tmp, out / CARD_JSON)
    (out / "MODEL_CARD.md").write_text(model_card_markdown(card))
    return card


CARD_JSON = "model_card.json"


def model_card_markdown(card: dict[str, Any]) -> str:
    """Human-readable model card from the JSON card."""
    val = card["metrics"]["validation (fit on train only)"]
    test = card["metrics"]["test"]
    td = card["training_data"]
    v = card["versions"]

    def emo(d: dict[str, Any]) -> str:
        keys = ("quadrant_accuracy", "arousal_accuracy", "valence_accuracy")
        return " | ".join(f"{d[k]:.3f}" for k in keys) + f" | {d['n']}"

    def vgm(d: dict[str, Any]) -> str:
        keys = ("valence_pearson", "arousal_pearson", "valence_sign_accuracy",
                "arousal_sign_accuracy")
        return " | ".join(f"{d['vgmidi'][k]:.3f}" for k in keys) + f" | {d['vgmidi']['n']}"

    return f"""# midi2img mood model (valence-arousal)

{card['task']}.

**Architecture.** {card['architecture']}. {len(card['feature_names'])} features from
`midi2img.mood_features.mood_features` (version {card['feature_version']}): the symbolic
features of `midi2img.features.extract`, plus a pitch-class profile relative to the estimated
tonic and to the best major key, major/minor template fits (whole clip and 5 s windows),
third/sixth/seventh ratios above the tonic, chord-quality and chord-root shares, interval-class
vector and triad types of simultaneities, bass-line profile, melodic (skyline) interval
histogram, timing and dynamics statistics. Weights: `{card['weights_file']}`. Run time is
numpy only.

## Data

- EMOPIA: {td['emopia']['source']}; train {td['emopia']['train']}, val {td['emopia']['val']},
  test {td['emopia']['test']}. Targets {td['emopia']['targets']}.
- VGMIDI: {td['vgmidi']['source']}; {td['vgmidi']['split']}: train {td['vgmidi']['train']},
  val {td['vgmidi']['val']}, test {td['vgmidi']['test']} pieces; {td['vgmidi']['weighting']}.
- Final fit: {td['final_fit']}. Hyperparameters were chosen on validation data only
  (EMOPIA val split, song-grouped CV over EMOPIA train+val, VGMIDI val pieces):
  {card['hyperparameters']}.

## Metrics

| | quadrant acc. | arousal acc. | valence acc. | n |
|---|---|---|---|---|
| EMOPIA test (this model) | {emo(test)} |
| EMOPIA val (model fit on train only) | {emo(val)} |
| logistic regression, Hung et al. 2021 (test) | 0.581 | 0.849 | 0.651 | 86 |
| LSTM-attention, Hung et al. 2021 (test) | 0.684 | 0.882 | 0.833 | 86 |

VGMIDI (Pearson r of predicted vs mean rated value, held-out pieces):

| | valence r | arousal r | valence sign acc. | arousal sign acc. | n |
|---|---|---|---|---|---|
| test | {vgm(test)} |
| val (fit on train only) | {vgm(val)} |

![predicted vs true valence and arousal](scatter.png)

## Limits

EMOPIA's test split has 86 clips (one clip is 1.2 points of accuracy). EMOPIA labels are
clip-level quadrants of pop-piano transcriptions; VGMIDI ratings are of video-game piano
pieces; valence from symbolic features remains the hard axis. Scores are signed class
probabilities, not calibrated ratings: |score| says how sure the model is, not how intense the
music is.

## Reproduce

`midi2img mood train --data <data dir> --out models/mood --seed {card['seed']}`
(deterministic; features cached under `~/.cache/midi2img`).

Versions: {', '.join(f'{k} {val_}' for k, val_ in v.items())}.
"""
