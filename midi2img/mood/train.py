"""Training and evaluation of the valence-arousal model (``midi2img mood train|eval``).

Recipe: the features of :func:`midi2img.mood.features.mood_features` for every EMOPIA clip and
VGMIDI piece (cached, keyed by the feature code itself); per axis a standardised logistic
regression and gradient-boosted trees, averaged; hyperparameters (:class:`TrainConfig`) chosen on
the valid splits; the quadrant confidence's Platt map fitted on EMOPIA valid
(:func:`midi2img.mood.calibration.fit_platt`); the shipped model refitted on train + valid of both
data sets and scored once on their test splits. The card (:class:`midi2img.modeling.ModelCard`)
holds every figure this run measures.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from midi2img.modeling import (
    CardSection,
    EvalResult,
    ModelCard,
    library_versions,
    today,
    write_card,
)
from midi2img.mood.calibration import (
    expected_calibration_error,
    fit_platt,
    logit,
    quadrant_right,
    raw_quadrant_probability,
)
from midi2img.mood.dataset import AffectClip, iter_notes
from midi2img.mood.features import FEATURE_NAMES, FEATURE_VERSION, mood_features
from midi2img.mood.model import AXES, WEIGHTS_FILE, MoodModel, quadrant_of

Log = Callable[[str], Any]

#: Files written beside the weights.
SPLIT_FILE = "vgmidi_split.json"
SCATTER_PNG = "scatter.png"
#: Published results on EMOPIA's test split (Hung et al. 2021, Table 4; 4-way quadrant,
#: arousal and valence accuracy), cited beside this model's own on its card.
PUBLISHED_EMOPIA_TEST = {
    "logistic regression (Hung et al. 2021)": {"quadrant": 0.581, "arousal": 0.849,
                                               "valence": 0.651},
    "LSTM-attention (Hung et al. 2021)": {"quadrant": 0.684, "arousal": 0.882,
                                          "valence": 0.833},
}


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters, chosen on EMOPIA's valid split and song-grouped 5-fold CV over EMOPIA
    train+valid plus VGMIDI's valid pieces (see the model card); never on test."""

    seed: int = 0
    lr_c: float = 0.03
    hgb_learning_rate: float = 0.05
    hgb_max_leaf_nodes: int = 8
    hgb_max_iter: int = 300
    hgb_l2_regularization: float = 1.0
    tree_weight: float = 0.5
    vgmidi_weight: float = 1.0
    vgmidi_full_weight_at: float = 0.2


def _quiet(msg: str) -> None:
    del msg


# --------------------------------------------------------------------------------------------
# Features (cached)


def clip_features(notes_and_clip: tuple[AffectClip, object]) -> np.ndarray:
    """Features of one clip (module-level so that a process pool can call it)."""
    from midi2img.features import extract

    clip, notes = notes_and_clip
    feats = extract(notes)  # type: ignore[arg-type]
    return mood_features(notes, feats)  # type: ignore[arg-type]


def feature_code_hash() -> str:
    """Hash of the code that computes the features, so a cache from other code is never used."""
    import midi2img.features as fpkg
    import midi2img.mood.features as mfeat
    import midi2img.notes as notes_mod

    digest = hashlib.sha256(f"{FEATURE_VERSION}|{len(FEATURE_NAMES)}".encode())
    files = sorted(Path(fpkg.__file__).parent.glob("*.py"))
    for f in [*files, Path(mfeat.__file__), Path(notes_mod.__file__)]:
        digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def _cache_file(cache: Path, data: Path) -> Path:
    tag = hashlib.sha1(f"{data.resolve()}|{feature_code_hash()}".encode()).hexdigest()[:10]
    return cache / f"mood_features_v{FEATURE_VERSION}_{tag}.npz"


def feature_matrix(clips: Sequence[AffectClip], data: Path, *, cache: Path | None = None,
                   jobs: int | None = None, log: Log = _quiet) -> np.ndarray:
    """Feature rows of ``clips`` (in order), computing only those missing from the cache.

    The cache is an ``.npz`` (ids + matrix) keyed by the data folder and by the hash of the
    feature code (:func:`feature_code_hash`), so editing a feature recomputes everything.
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
                    if (i + 1) % 100 == 0:
                        log(f"  features {i + 1}/{len(todo)}")
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


def _training_set(X_e: np.ndarray, clips_e: Sequence[AffectClip], X_v: np.ndarray,
                  clips_v: Sequence[AffectClip], axis: str, cfg: TrainConfig
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, sign labels and sample weights: EMOPIA clips weigh 1, VGMIDI pieces by |target|."""
    y_e = np.array([getattr(c, axis) > 0 for c in clips_e])
    t_v = np.array([getattr(c, axis) for c in clips_v])
    w_v = cfg.vgmidi_weight * np.minimum(np.abs(t_v) / cfg.vgmidi_full_weight_at, 1.0)
    X = np.vstack([X_e, X_v]) if len(clips_v) else X_e
    y = np.r_[y_e, t_v > 0] if len(clips_v) else y_e
    w = np.r_[np.ones(len(clips_e)), w_v] if len(clips_v) else np.ones(len(clips_e))
    return X, y, w


def fit_model(X_e: np.ndarray, clips_e: Sequence[AffectClip], X_v: np.ndarray,
              clips_v: Sequence[AffectClip], cfg: TrainConfig,
              quadrant_platt: np.ndarray | None = None) -> MoodModel:
    """Fit both axes and return a :class:`~midi2img.mood.model.MoodModel` (checked against
    scikit-learn's own predictions), with the quadrant confidence's Platt map if given."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    X_all = np.vstack([X_e, X_v]) if len(clips_v) else X_e
    scaler = StandardScaler().fit(X_all)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    arrays: dict[str, np.ndarray] = {
        "feature_names": np.array(FEATURE_NAMES), "scaler_mean": scaler.mean_,
        "scaler_scale": scale, "tree_weight": np.array(cfg.tree_weight)}
    coefs, intercepts, reference = [], [], []
    for axis in AXES:
        X, y, w = _training_set(X_e, clips_e, X_v, clips_v, axis, cfg)
        lr = LogisticRegression(C=cfg.lr_c, max_iter=5000)
        lr.fit((X - scaler.mean_) / scale, y, sample_weight=w)
        coefs.append(lr.coef_[0])
        intercepts.append(lr.intercept_[0])
        hgb = HistGradientBoostingClassifier(
            learning_rate=cfg.hgb_learning_rate, max_leaf_nodes=cfg.hgb_max_leaf_nodes,
            max_iter=cfg.hgb_max_iter, l2_regularization=cfg.hgb_l2_regularization,
            early_stopping=False, random_state=cfg.seed)
        # One OpenMP thread: the trees are summed in one fixed order on every machine, and
        # scikit-learn's feature binning no longer waits on its thread pool (here 150 s of a
        # 170 s fit went to joblib polling; one thread fits in about 50 s).
        with threadpool_limits(limits=1, user_api="openmp"):
            hgb.fit(X, y, sample_weight=w)
        for k, v in _trees_to_arrays(hgb).items():
            arrays[f"hgb/{axis}/{k}"] = v
        p_lr = lr.predict_proba((X_all - scaler.mean_) / scale)[:, 1]
        reference.append((1 - cfg.tree_weight) * p_lr
                         + cfg.tree_weight * hgb.predict_proba(X_all)[:, 1])
    arrays["lr_coef"] = np.array(coefs)
    arrays["lr_intercept"] = np.array(intercepts)
    if quadrant_platt is not None:
        arrays["quadrant_platt"] = np.asarray(quadrant_platt, dtype=np.float64)
    model = MoodModel(arrays)
    diff = np.abs(model.probabilities(X_all) - np.stack(reference, axis=1)).max()
    if diff > 1e-6:  # the numpy re-implementation must match scikit-learn
        raise AssertionError(f"exported model disagrees with scikit-learn by {diff}")
    return model


def quadrant_platt(prob: np.ndarray, clips: Sequence[AffectClip]) -> np.ndarray:
    """Platt map (slope, offset on the log-odds) that calibrates the quadrant confidence (the
    product of each axis' probability of its predicted sign) against EMOPIA quadrant labels;
    well determined (:func:`midi2img.mood.calibration.fit_platt`)."""
    y = np.array([[c.valence > 0, c.arousal > 0] for c in clips])
    return fit_platt(logit(raw_quadrant_probability(prob)), quadrant_right(prob, y))


# --------------------------------------------------------------------------------------------
# Metrics


def emopia_result(scores: np.ndarray, clips: Sequence[AffectClip], split: str,
                  confidence: np.ndarray | None = None) -> EvalResult:
    """Quadrant, arousal and valence accuracy of signed scores (n, 2) against EMOPIA labels,
    with the quadrant confusion matrix; with ``confidence`` (n,), also the quadrant
    confidence's expected calibration error and mean."""
    quads = ("Q1", "Q2", "Q3", "Q4")
    q_true = [c.quadrant for c in clips]
    q_pred = [quadrant_of(float(v), float(a)) for v, a in scores]
    v_true = np.array([c.valence > 0 for c in clips])
    a_true = np.array([c.arousal > 0 for c in clips])
    conf = np.zeros((4, 4), dtype=int)
    for t, p in zip(q_true, q_pred, strict=True):
        conf[quads.index(t), quads.index(p)] += 1
    recall = {q: float(conf[i, i] / conf[i].sum()) if conf[i].sum() else 0.0
              for i, q in enumerate(quads)}
    metrics = {"quadrant_accuracy": float(np.mean([p == t for p, t in zip(q_pred, q_true,
                                                                             strict=True)])),
               "arousal_accuracy": float(np.mean((scores[:, 1] >= 0) == a_true)),
               "valence_accuracy": float(np.mean((scores[:, 0] >= 0) == v_true))}
    if confidence is not None:
        right = np.array([p == t for p, t in zip(q_pred, q_true, strict=True)])
        metrics["quadrant_ece"] = expected_calibration_error(confidence, right)
        metrics["mean_confidence"] = float(np.mean(confidence))
    return EvalResult("mood", "emopia", split, len(clips), metrics, quads,
                      tuple(tuple(int(x) for x in r) for r in conf), recall)


def vgmidi_result(scores: np.ndarray, clips: Sequence[AffectClip], split: str) -> EvalResult:
    """Pearson r and sign accuracy of signed scores against VGMIDI mean ratings."""
    v = np.array([c.valence for c in clips])
    a = np.array([c.arousal for c in clips])
    metrics = {"valence_pearson": float(np.corrcoef(scores[:, 0], v)[0, 1]),
               "arousal_pearson": float(np.corrcoef(scores[:, 1], a)[0, 1]),
               "valence_sign_accuracy": float(np.mean((scores[:, 0] >= 0) == (v >= 0))),
               "arousal_sign_accuracy": float(np.mean((scores[:, 1] >= 0) == (a >= 0)))}
    return EvalResult("mood", "vgmidi", split, len(clips), metrics)


def evaluate(model: MoodModel, data: Path, *, vg_split: dict[str, str],
             cache: Path | None = None, split: str = "test") -> list[EvalResult]:
    """EMOPIA accuracies and VGMIDI correlations of ``model`` on one split."""
    from midi2img.mood.dataset import emopia_clips, vgmidi_clips

    e = [c for c in emopia_clips(data) if c.split == split]
    v = [c for c in vgmidi_clips(data, split=vg_split) if c.split == split]
    X_e = feature_matrix(e, data, cache=cache)
    return [emopia_result(model.scores(X_e), e, split, model.confidence(X_e)),
            vgmidi_result(model.scores(feature_matrix(v, data, cache=cache)), v, split)]


def load_vgmidi_split(folder: Any) -> dict[str, str]:
    """The VGMIDI split a model was trained with (saved beside its weights).

    Raises:
        ModelError: the model folder has no split file.
    """
    from midi2img.modeling import read_model_split

    return read_model_split(folder, SPLIT_FILE, what="the model's VGMIDI split")


# --------------------------------------------------------------------------------------------
# The training run behind ``midi2img mood train``


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


def train(data: Path, out: Path, cfg: TrainConfig | None = None, *, cache: Path | None = None,
          log: Log = _quiet, previous: ModelCard | None = None) -> list[EvalResult]:
    """Fit, validate, evaluate once on test, and write weights + card + scatter into ``out``.

    Validation figures come from a model fitted on the training splits only (EMOPIA train,
    VGMIDI train); the shipped model is then refitted on train+valid of both data sets with the
    same hyperparameters and scored once on the test splits.

    Args:
        data: The shared data folder (``emopia/``, ``vgmidi/``).
        out: Folder to write into.
        cfg: Hyper-parameters (the recipe's by default).
        cache: Feature cache folder (default: the midi2img cache).
        log: Receives one line per step.
        previous: The card of the model this run replaces, whose test scorings the new card
            keeps (:meth:`midi2img.modeling.ModelCard.with_history`).

    Returns:
        The results written to the card (``model_card.json`` and ``MODEL_CARD.md``): test scored
        once at the end, then valid.
    """
    from midi2img.mood.dataset import emopia_clips, make_vgmidi_split, vgmidi_clips, vgmidi_targets

    cfg = cfg or TrainConfig()
    vg_split = make_vgmidi_split(list(vgmidi_targets(data)), seed=cfg.seed)
    emo = emopia_clips(data)
    vg = vgmidi_clips(data, split=vg_split)
    log(f"EMOPIA {len(emo)} clips, VGMIDI {len(vg)} pieces; extracting features ...")
    X_e = feature_matrix(emo, data, cache=cache, log=log)
    X_v = feature_matrix(vg, data, cache=cache, log=log)

    def part(clips: list[AffectClip], X: np.ndarray, splits: tuple[str, ...]
             ) -> tuple[np.ndarray, list[AffectClip]]:
        idx = [i for i, c in enumerate(clips) if c.split in splits]
        return X[idx], [clips[i] for i in idx]

    # 1. validation: fit on train, score on valid
    m_val = fit_model(*part(emo, X_e, ("train",)), *part(vg, X_v, ("train",)), cfg)
    Xe_val, e_val = part(emo, X_e, ("valid",))
    Xv_val, v_val = part(vg, X_v, ("valid",))
    # the quadrant confidence's Platt map, fitted on EMOPIA valid (model fitted on train)
    q_platt = quadrant_platt(m_val.probabilities(Xe_val), e_val)
    m_val.quadrant_platt = q_platt
    valid = [emopia_result(m_val.scores(Xe_val), e_val, "valid", m_val.confidence(Xe_val)),
             vgmidi_result(m_val.scores(Xv_val), v_val, "valid")]
    for r in valid:
        log(f"valid {r.dataset}: {json.dumps(r.to_dict()['metrics'])}")
    # 2. final model on train+valid, scored once on test
    model = fit_model(*part(emo, X_e, ("train", "valid")), *part(vg, X_v, ("train", "valid")),
                      cfg, quadrant_platt=q_platt)
    Xe_te, e_te = part(emo, X_e, ("test",))
    Xv_te, v_te = part(vg, X_v, ("test",))
    s_e, s_v = model.scores(Xe_te), model.scores(Xv_te)
    test = [emopia_result(s_e, e_te, "test", model.confidence(Xe_te)),
            vgmidi_result(s_v, v_te, "test")]
    for r in test:
        log(f"test {r.dataset}: {json.dumps(r.to_dict()['metrics'])}")

    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    (out / SPLIT_FILE).write_text(json.dumps(vg_split, indent=1, sort_keys=True) + "\n")
    _scatter(out / SCATTER_PNG, s_v, v_te, s_e, e_te)
    card = model_card(cfg, [*test, *valid], q_platt, emo, vg).with_history(previous)
    write_card(out, card)
    return [*test, *valid]


def model_card(cfg: TrainConfig, results: list[EvalResult], q_platt: np.ndarray,
               emo: list[AffectClip], vg: list[AffectClip]) -> ModelCard:
    """The card of a model trained by :func:`train`, from what the run measured."""
    res = {(r.dataset, r.split): r for r in results}

    def count(clips: list[AffectClip]) -> dict[str, int]:
        return {s: sum(c.split == s for c in clips) for s in ("train", "valid", "test")}

    def conf(split: str) -> str:
        r = res[("emopia", split)]
        return f"ECE {r['quadrant_ece']:.3f}, mean {r['mean_confidence']:.3f}"

    emo_test = res[("emopia", "test")]
    keys = ("quadrant_accuracy", "arousal_accuracy", "valence_accuracy")
    published = "\n".join(f"| {name} | {b['quadrant']:.3f} | {b['arousal']:.3f} | "
                          f"{b['valence']:.3f} |" for name, b in PUBLISHED_EMOPIA_TEST.items())
    architecture = ("per axis: mean of P(sign > 0) from a standardised logistic regression and "
                    "from gradient-boosted trees (scikit-learn HistGradientBoostingClassifier "
                    "exported to plain arrays); score = 2 P - 1; confidence = P(quadrant "
                    "right), Platt-calibrated")
    platt = [round(float(x), 6) for x in q_platt]
    notes = (
        CardSection("Architecture", f"""{architecture[0].upper() + architecture[1:]}.
{len(FEATURE_NAMES)} features from `midi2img.mood.features.mood_features` (version
{FEATURE_VERSION}): the symbolic features of `midi2img.features.extract`, plus a pitch-class
profile relative to the estimated tonic and to the best major key, major/minor template fits
(whole clip and 5 s windows), third/sixth/seventh ratios above the tonic, chord-quality and
chord-root shares, interval-class vector and triad types of simultaneities, bass-line profile,
melodic (skyline) interval histogram, timing and dynamics statistics. Weights: `{WEIGHTS_FILE}`
(numpy arrays, loaded with allow_pickle=False); run time is numpy only. Hyperparameters were
chosen on validation data only (EMOPIA valid split, song-grouped CV over EMOPIA train+valid,
VGMIDI valid pieces); valid figures come from a model fitted on train only."""),
        CardSection("Compared with published models", f"""EMOPIA test split, accuracy:

| | quadrant | arousal | valence |
|---|---|---|---|
| this model (n = {emo_test.n}) | {" | ".join(f"{emo_test[k]:.3f}" for k in keys)} |
{published}

![predicted vs true valence and arousal]({SCATTER_PNG})"""),
        CardSection("Confidence", f"""The probability that the quadrant is right: the product of
each axis' probability of its predicted sign, recalibrated by a Platt map (slope and offset on
the log-odds, {platt}) fitted on EMOPIA valid with the model fitted on train (so the valid
figure is in-sample), with Platt's smoothed targets and a weak prior towards the identity, solved
exactly (`midi2img.mood.calibration.fit_platt`). Expected calibration error (10 bins) and mean
confidence: test {conf("test")}; valid {conf("valid")}. The audio model (`models/mood_audio`)
gives the same kind of confidence for recordings."""),
        CardSection("Limits", f"""EMOPIA's test split has {emo_test.n} clips (one clip is
{100 / max(emo_test.n, 1):.1f} points of accuracy). EMOPIA labels are clip-level quadrants of
pop-piano transcriptions; VGMIDI ratings are of video-game piano pieces; valence from symbolic
features remains the hard axis. Scores are signed class probabilities, not calibrated ratings:
|score| says how sure the model is, not how intense the music is. The boosted trees are
reproducible on one machine, not to the last digit across CPUs: a retraining elsewhere can
choose another of two equally good splits, which moves a few predictions slightly."""),
        CardSection("Reproduce", f"""`make train-mood` (= `midi2img mood train --out models/mood
--seed {cfg.seed} --force`); features cached under the midi2img cache folder, keyed by the
feature code."""),
    )
    return ModelCard(
        model=MoodModel.shipped_name,
        name="midi2img mood model (valence-arousal, symbolic)",
        task="valence and arousal in [-1, 1] from symbolic (MIDI) features; quadrant from signs",
        trained=today(),
        data={
            "emopia": {"source": "EMOPIA midis.zip (Hung et al. 2021), official song-disjoint "
                                 "split (its val.csv is the valid split)", **count(emo),
                       "targets": "Q1=(+1,+1) Q2=(-1,+1) Q3=(-1,-1) Q4=(+1,-1) (valence, arousal)",
                       "licence": "CC BY-NC-SA 4.0"},
            "vgmidi": {"source": "VGMIDI labelled pieces (Ferreira & Whitehead 2019), mean of "
                                 "~30 annotators' per-measure ratings",
                       "split": f"piece-disjoint, seeded ({cfg.seed}), {SPLIT_FILE}",
                       **count(vg),
                       "weighting": "sign label, sample weight min(|mean rating| / "
                                    f"{cfg.vgmidi_full_weight_at}, 1)",
                       "licence": "none stated (research use)"},
            "final_fit": "train + valid of both data sets; test scored once at the end",
        },
        config=asdict(cfg),
        results=tuple(results),
        versions=library_versions(("numpy", "scikit-learn", "pretty_midi", "mido")),
        licence=("The weights are derived from EMOPIA (CC BY-NC-SA 4.0) and VGMIDI (no licence "
                 "stated). Treat the model as CC BY-NC-SA 4.0: attribution, non-commercial use "
                 "only, derivatives under the same licence; the code that trains it is MIT."),
        notes=notes,
        details={"architecture": architecture, "weights_file": WEIGHTS_FILE,
                 "axes": list(AXES), "feature_names": list(FEATURE_NAMES),
                 "feature_version": FEATURE_VERSION,
                 "calibration": {"platt_quadrant": platt,
                                 "fitted_on": "EMOPIA valid, model fitted on train"},
                 "published_emopia_test": PUBLISHED_EMOPIA_TEST},
    )
