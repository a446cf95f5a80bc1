"""Training and evaluation of the affect model of recordings (``midi2img mood train
--model-kind audio``, ``mood eval``).

Recipe: every emotion4q clip is decoded and cut into segments exactly as the analysis pass does
it, and fed to :class:`~midi2img.mood.audio_features.AudioMoodStream` and to the musicnn
:class:`~midi2img.tagger.TagStream` (cached, keyed by the hash of the code that computes them);
:func:`~midi2img.mood.audio_features.affect_features` pools each whole clip. The split is
artist-disjoint and saved beside the model. Every choice (feature groups, model type,
regularisation, weighting, calibration) was made by artist-grouped 5-fold cross-validation on
the train part; the card lists the comparisons that this run recomputes (:data:`ABLATIONS`)
and points to the exploration's (``bench/mood_audio_explore.md``, written by
``bench/mood_audio_explore.py``). The shipped model is fitted on the whole train part,
calibrated on its out-of-fold predictions, and scored once on the test part.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from midi2img.modeling import (
    CardSection,
    EvalResult,
    ModelCard,
    library_versions,
    today,
    write_card,
)
from midi2img.mood.audio_features import (
    AUDIO_FEATURE_VERSION,
    ROW_WIDTH,
    SOUND_NAMES,
    SoundRows,
    affect_feature_names,
    affect_features,
)
from midi2img.mood.audio_model import WEIGHTS_FILE, AudioAffectModel
from midi2img.mood.calibration import (
    expected_calibration_error,
    logit,
    quadrant_confidence,
    sigmoid,
)
from midi2img.mood.model import AXES, quadrant_of

if TYPE_CHECKING:
    from midi2img.mood.dataset import RecordingClip
    from midi2img.tagger import TagResult

Log = Callable[[str], Any]

#: Files written beside the weights.
SPLIT_FILE = "emotion4q_split.json"
RELIABILITY_PNG = "reliability.png"
QUADS = ("Q1", "Q2", "Q3", "Q4")

#: Comparisons recomputed by every training run (artist-grouped CV on the train part, mean of
#: three fold seeds): name -> (feature columns, sample weighting).
ABLATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "sound descriptors only": ("sound", {}),
    "musicnn tags only (MSD + MTT)": ("tags", {}),
    "sound + mood/energy tags only (18 tags)": ("sound+moodtags", {}),
    "sound + all tags (shipped)": ("sound+tags", {}),
    "sound + all tags, weighted by quadrant_agreement": ("sound+tags", {"weighting": "agreement"}),
    "sound + all tags, standardised features not clipped": ("sound+tags", {"clip_z": 1e9}),
    "sound + all tags, C = 0.01": ("sound+tags", {"c_valence": 0.01, "c_arousal": 0.01}),
    "sound + all tags, C = 0.1": ("sound+tags", {"c_valence": 0.1, "c_arousal": 0.1}),
}
#: The mood and energy tags of the "mood tags only" comparison.
MOOD_TAGS = ("msd:happy", "msd:sad", "msd:Mellow", "msd:chill", "msd:chillout", "msd:party",
             "msd:beautiful", "msd:catchy", "msd:easy listening", "msd:sexy", "mtt:fast",
             "mtt:slow", "mtt:loud", "mtt:quiet", "mtt:soft", "mtt:beat", "mtt:drums",
             "mtt:weird")
#: What the exploration that chose the recipe compared, measured by ``bench/mood_audio_explore.py``
#: (it needs the Basic Pitch transcription of every clip or other model types, so a training run
#: does not recompute it); the card points there.
EXPLORATION_RESULTS = "bench/mood_audio_explore.md"
#: Published result on the 4Q data set (Panda, Malheiro & Paiva 2018, random 10-fold CV with
#: artists on both sides, 900 clips), cited beside this model's own on its card.
PUBLISHED_4Q = {"Panda et al. 2018 (random 10-fold CV, artists on both sides, n = 900)":
                {"f1": 0.764}}


@dataclass(frozen=True)
class AudioTrainConfig:
    """Hyper-parameters of the audio affect model, chosen by artist-grouped 5-fold CV on the
    emotion4q train part (see the card); never on test.

    Attributes:
        seed: Seed of the split and of the CV folds.
        c_valence: Inverse L2 strength of the valence logistic regression.
        c_arousal: The same for arousal.
        cv_folds: Folds of the artist-grouped cross-validation.
        weighting: ``"none"`` or ``"agreement"`` (sample weight = quadrant_agreement).
        clip_z: Standardised features are clipped to ``[-clip_z, clip_z]``, so that a value
            never seen in training (a recording with long silences, say) cannot dominate.
    """

    seed: int = 0
    c_valence: float = 0.03
    c_arousal: float = 0.03
    cv_folds: int = 5
    weighting: str = "none"
    clip_z: float = 5.0

    def __post_init__(self) -> None:
        if self.c_valence <= 0 or self.c_arousal <= 0:
            raise ValueError("regularisation constants must be positive")
        if self.cv_folds < 2:
            raise ValueError("cv_folds must be >= 2")
        if self.weighting not in ("none", "agreement"):
            raise ValueError(f"unknown weighting {self.weighting!r}")
        if self.clip_z <= 0:
            raise ValueError("clip_z must be positive")


def _quiet(msg: str) -> None:
    del msg


# --------------------------------------------------------------------------------------------
# Features (cached)


def audio_code_hash() -> str:
    """Hash of the code and weights behind the cached rows (decoding, segmenting, the sound
    descriptors, the taggers), so a cache from other code is never used."""
    import midi2img.audio as audio_mod
    import midi2img.constants as const_mod
    import midi2img.mood.audio_features as af_mod
    import midi2img.tagger as tagger_mod
    from midi2img.tagger import CARD_FILE, model_dir

    digest = hashlib.sha256(f"{AUDIO_FEATURE_VERSION}|{ROW_WIDTH}".encode())
    for mod in (audio_mod, const_mod, af_mod, tagger_mod):
        digest.update(Path(str(mod.__file__)).read_bytes())
    digest.update((model_dir() / CARD_FILE).read_bytes())  # holds each ONNX file's sha256
    return digest.hexdigest()[:12]


def _cache_file(cache: Path, data: Path) -> Path:
    tag = hashlib.sha1(f"{data.resolve()}|{audio_code_hash()}".encode()).hexdigest()[:10]
    return cache / f"mood_audio_rows_v{AUDIO_FEATURE_VERSION}_{tag}.npz"


def describe_path(path: str) -> dict[str, np.ndarray]:
    """Sound rows and tags of one recording as plain arrays (module level, for a process
    pool)."""
    from midi2img.config import quiet_libraries, single_threaded_blas
    from midi2img.mood.audio_features import describe_file

    quiet_libraries()
    # one BLAS thread, as in the analysis pass: the rows are then the ones `convert` computes,
    # and two pool workers do not spin against each other (a third less CPU here)
    with single_threaded_blas():
        sound, tags = describe_file(path)
    return {"rows": sound.rows, "starts": sound.starts_s, "ends": sound.ends_s,
            "duration": np.array(sound.duration_s), "msd": tags.probabilities["msd"],
            "mtt": tags.probabilities["mtt"], "tag_starts": tags.starts_s,
            "tag_duration": np.array(tags.duration_s), "padded": np.array(tags.padded)}


def _pack(entries: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    ids = sorted(entries)
    out: dict[str, np.ndarray] = {"ids": np.array(ids)}
    for key in ("rows", "starts", "ends", "msd", "mtt", "tag_starts"):
        out[key] = np.concatenate([entries[i][key] for i in ids])
    out["n_blocks"] = np.array([entries[i]["rows"].shape[0] for i in ids])
    out["n_windows"] = np.array([entries[i]["msd"].shape[0] for i in ids])
    for key in ("duration", "tag_duration", "padded"):
        out[key] = np.array([entries[i][key] for i in ids])
    return out


def _unpack(z: Any) -> dict[str, dict[str, np.ndarray]]:
    # every z[key] of an NpzFile decompresses the whole array again: read each one once
    a = {key: z[key] for key in z.files}
    ids = a["ids"].tolist()
    b_off = np.r_[0, np.cumsum(a["n_blocks"])]
    w_off = np.r_[0, np.cumsum(a["n_windows"])]
    out = {}
    for k, i in enumerate(ids):
        b, w = slice(b_off[k], b_off[k + 1]), slice(w_off[k], w_off[k + 1])
        out[i] = {"rows": a["rows"][b], "starts": a["starts"][b], "ends": a["ends"][b],
                  "msd": a["msd"][w], "mtt": a["mtt"][w], "tag_starts": a["tag_starts"][w],
                  "duration": a["duration"][k], "tag_duration": a["tag_duration"][k],
                  "padded": a["padded"][k]}
    return out


def _to_objects(e: dict[str, np.ndarray], tag_names: dict[str, tuple[str, ...]]
                ) -> tuple[SoundRows, TagResult]:
    from midi2img.tagger import TagResult

    sound = SoundRows(e["rows"], e["starts"], e["ends"], float(e["duration"]))
    tags = TagResult({"msd": e["msd"], "mtt": e["mtt"]}, tag_names, e["tag_starts"],
                     float(e["tag_duration"]), bool(e["padded"]))
    return sound, tags


def _tag_names() -> dict[str, tuple[str, ...]]:
    from midi2img.tagger import TAGGERS, model_card

    card = model_card()
    return {n: tuple(card["models"][f"{n}_musicnn"]["tags"]) for n in TAGGERS}


def describe_clips(clips: Sequence[RecordingClip], data: Path, *, cache: Path | None = None,
                   jobs: int | None = None, log: Log = _quiet
                   ) -> list[tuple[SoundRows, TagResult]]:
    """Sound rows and tags of ``clips`` (in order), computing only those missing from the cache.

    The cache is an ``.npz`` keyed by the data folder and :func:`audio_code_hash`.
    """
    from midi2img.config import cache_dir
    from midi2img.mood.dataset import emotion4q_audio

    cache = Path(cache) if cache is not None else cache_dir()
    cfile = _cache_file(cache, data)
    known: dict[str, dict[str, np.ndarray]] = {}
    if cfile.is_file():
        with np.load(cfile, allow_pickle=False) as z:
            known = _unpack(z)
    todo = [c for c in clips if c.clip_id not in known]
    if todo:
        paths = [str(emotion4q_audio(c, data)) for c in todo]
        jobs = jobs or min(2, os.cpu_count() or 1)
        log(f"  describing {len(todo)} recordings (sound descriptors + musicnn tags) ...")
        rows: list[dict[str, np.ndarray]] = []
        if jobs > 1:
            from multiprocessing import get_context

            with get_context("spawn").Pool(jobs) as pool:
                for i, r in enumerate(pool.imap(describe_path, paths, chunksize=4)):
                    rows.append(r)
                    if (i + 1) % 100 == 0:
                        log(f"  recordings {i + 1}/{len(todo)}")
        else:
            for i, p in enumerate(paths):
                rows.append(describe_path(p))
                if (i + 1) % 100 == 0:
                    log(f"  recordings {i + 1}/{len(todo)}")
        for c, r in zip(todo, rows, strict=True):
            known[c.clip_id] = r
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cfile.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **_pack(known))
        os.replace(tmp, cfile)
    names = _tag_names()
    return [_to_objects(known[c.clip_id], names) for c in clips]


def feature_matrix(described: Sequence[tuple[SoundRows, TagResult]], *,
                   window: tuple[float, float] | None = None) -> np.ndarray:
    """:func:`affect_features` of each described clip (or of ``window`` of it)."""
    a, b = window if window is not None else (None, None)
    return np.stack([affect_features(s, t, start_s=a, end_s=b) for s, t in described])


# --------------------------------------------------------------------------------------------
# Fitting


def grouped_folds(clips: Sequence[RecordingClip], *, k: int, seed: int
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Artist-grouped, quadrant-stratified folds over ``clips`` (indices into it)."""
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.array([QUADS.index(c.quadrant) for c in clips])
    g = np.array([c.group for c in clips])
    sgk = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(a, b) for a, b in sgk.split(np.zeros(len(clips)), y, g)]


def _targets(clips: Sequence[RecordingClip]) -> np.ndarray:
    """(n, 2) booleans ``axis > 0``, columns as :data:`AXES`."""
    return np.array([[getattr(c, axis) > 0 for axis in AXES] for c in clips])


def _weights(clips: Sequence[RecordingClip], weighting: str) -> np.ndarray:
    if weighting == "agreement":
        return np.array([c.agreement for c in clips])
    return np.ones(len(clips))


def _fit_linear(X: np.ndarray, y: np.ndarray, w: np.ndarray, cfg: AudioTrainConfig
                ) -> dict[str, np.ndarray]:
    """Standardiser and one logistic regression per axis (scikit-learn, exported)."""
    from sklearn.linear_model import LogisticRegression

    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = np.clip((X - mean) / scale, -cfg.clip_z, cfg.clip_z)
    coefs, inters = [], []
    for k, c in enumerate((cfg.c_valence, cfg.c_arousal)):
        lr = LogisticRegression(C=c, max_iter=10000)
        lr.fit(z, y[:, k], sample_weight=w)
        coefs.append(lr.coef_[0])
        inters.append(lr.intercept_[0])
    return {"scaler_mean": mean, "scaler_scale": scale, "clip_z": np.array(cfg.clip_z),
            "coef": np.array(coefs), "intercept": np.array(inters)}


def _raw(lin: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    c = float(lin["clip_z"])
    z = np.clip((X - lin["scaler_mean"]) / lin["scaler_scale"], -c, c)
    return z @ lin["coef"].T + lin["intercept"]


def _platt(raw: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Slope and offset of a logistic fit of ``y`` on one column of log-odds.

    Fitted on 619 out-of-fold predictions, this map is stable (inputs moved by 1e-12 move it by
    < 1e-12; ``tests/test_mood_audio_model.py``), so it stays as the shipped model was calibrated
    rather than :func:`midi2img.mood.calibration.fit_platt`, which would change its outputs.
    """
    from sklearn.linear_model import LogisticRegression

    if np.all(y) or not np.any(y):
        return np.array([1.0, 0.0])
    m = LogisticRegression(C=1e6, max_iter=10000).fit(raw[:, None], y)
    return np.array([float(m.coef_[0, 0]), float(m.intercept_[0])])


def _calibrators(raw: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis Platt maps (2 x 2) and the quadrant confidence's Platt map (2,), fitted on
    out-of-fold log-odds ``raw`` (n, 2) against the targets ``y`` (n, 2)."""
    platt = np.stack([_platt(raw[:, k], y[:, k]) for k in range(2)])
    prob = sigmoid(raw * platt[:, 0] + platt[:, 1])
    conf = np.prod(np.maximum(prob, 1.0 - prob), axis=1)
    right = np.all((prob >= 0.5) == y, axis=1)
    return platt, _platt(logit(conf), right)


def out_of_fold(X: np.ndarray, clips: Sequence[RecordingClip], cfg: AudioTrainConfig, *,
                seed: int, extra: Sequence[np.ndarray] = ()
                ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Out-of-fold raw log-odds (n, 2) of the artist-grouped CV, and those of each matrix in
    ``extra`` (other views of the same clips, e.g. sections) from the same fold models."""
    y, w = _targets(clips), _weights(clips, cfg.weighting)
    raw = np.zeros((len(clips), 2))
    raw_extra = [np.zeros((len(clips), 2)) for _ in extra]
    for a, b in grouped_folds(clips, k=cfg.cv_folds, seed=seed):
        lin = _fit_linear(X[a], y[a], w[a], cfg)
        raw[b] = _raw(lin, X[b])
        for out, E in zip(raw_extra, extra, strict=True):
            out[b] = _raw(lin, E[b])
    return raw, raw_extra


def cross_calibrated(raw: np.ndarray, clips: Sequence[RecordingClip], cfg: AudioTrainConfig,
                     *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities (n, 2) and quadrant confidences (n,) of out-of-fold log-odds,
    each fold calibrated by maps fitted on the other folds (an honest CV calibration)."""
    y = _targets(clips)
    prob = np.zeros_like(raw)
    conf = np.zeros(len(clips))
    for a, b in grouped_folds(clips, k=cfg.cv_folds, seed=seed):
        platt, qplatt = _calibrators(raw[a], y[a])
        prob[b] = sigmoid(raw[b] * platt[:, 0] + platt[:, 1])
        conf[b] = quadrant_confidence(prob[b], qplatt)
    return prob, conf


def fit_model(X: np.ndarray, clips: Sequence[RecordingClip], cfg: AudioTrainConfig
              ) -> AudioAffectModel:
    """Fit on all of ``clips``, calibrate on their out-of-fold predictions, and check the
    numpy model against the fitted arrays."""
    return _fit(X, clips, cfg)[0]


def _fit(X: np.ndarray, clips: Sequence[RecordingClip], cfg: AudioTrainConfig
         ) -> tuple[AudioAffectModel, np.ndarray]:
    """:func:`fit_model` and the out-of-fold raw log-odds it was calibrated on."""
    y, w = _targets(clips), _weights(clips, cfg.weighting)
    lin = _fit_linear(X, y, w, cfg)
    raw_oof, _ = out_of_fold(X, clips, cfg, seed=cfg.seed)
    platt, qplatt = _calibrators(raw_oof, y)
    arrays = {"feature_names": np.array(affect_feature_names()), **lin, "platt": platt,
              "quadrant_platt": qplatt}
    model = AudioAffectModel(arrays)
    diff = np.abs(model.raw_log_odds(X) - _raw(lin, X)).max()
    if diff > 1e-9:  # pragma: no cover - the numpy model must be the fitted one
        raise AssertionError(f"exported model disagrees with the fit by {diff}")
    return model, raw_oof


# --------------------------------------------------------------------------------------------
# Metrics


def emotion4q_result(prob: np.ndarray, conf: np.ndarray, clips: Sequence[RecordingClip],
                     split: str, *, extra: dict[str, float] | None = None) -> EvalResult:
    """Quadrant, arousal and valence accuracy, calibration (ECE) and the quadrant confusion of
    calibrated probabilities (n, 2) and quadrant confidences (n,)."""
    y = _targets(clips)
    pred = prob >= 0.5
    q_true = [c.quadrant for c in clips]
    q_pred = [quadrant_of(2 * float(v) - 1, 2 * float(a) - 1) for v, a in prob]
    conf_mat = np.zeros((4, 4), dtype=int)
    for t, p in zip(q_true, q_pred, strict=True):
        conf_mat[QUADS.index(t), QUADS.index(p)] += 1
    recall = {q: float(conf_mat[i, i] / conf_mat[i].sum()) if conf_mat[i].sum() else 0.0
              for i, q in enumerate(QUADS)}
    right = np.array([p == t for p, t in zip(q_pred, q_true, strict=True)])
    axis_conf = np.maximum(prob, 1.0 - prob)
    metrics = {"quadrant_accuracy": float(right.mean()),
               "arousal_accuracy": float(np.mean(pred[:, 1] == y[:, 1])),
               "valence_accuracy": float(np.mean(pred[:, 0] == y[:, 0])),
               "quadrant_ece": expected_calibration_error(conf, right),
               "arousal_ece": expected_calibration_error(axis_conf[:, 1], pred[:, 1] == y[:, 1]),
               "valence_ece": expected_calibration_error(axis_conf[:, 0], pred[:, 0] == y[:, 0]),
               "mean_confidence": float(np.mean(conf))}
    metrics.update(extra or {})
    return EvalResult("mood", "emotion4q", split, len(clips), metrics, QUADS,
                      tuple(tuple(int(x) for x in r) for r in conf_mat), recall)


def _accuracies(raw: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    pred = raw >= 0
    return (float(np.mean(pred[:, 1] == y[:, 1])), float(np.mean(pred[:, 0] == y[:, 0])),
            float(np.mean(np.all(pred == y, axis=1))))


def _columns(kind: str) -> np.ndarray:
    names = affect_feature_names()
    n_sound = len(SOUND_NAMES)
    if kind == "sound":
        return np.arange(n_sound)
    if kind == "tags":
        return np.arange(n_sound, len(names))
    if kind == "sound+moodtags":
        return np.r_[np.arange(n_sound), [names.index(t) for t in MOOD_TAGS]]
    if kind == "sound+tags":
        return np.arange(len(names))
    raise ValueError(f"unknown feature set {kind!r}")


def ablations(X: np.ndarray, clips: Sequence[RecordingClip], cfg: AudioTrainConfig,
              *, seeds: Sequence[int] = (0, 1, 2)) -> list[dict[str, Any]]:
    """The :data:`ABLATIONS` table: mean CV accuracies over ``seeds`` (arousal, valence,
    quadrant)."""
    y = _targets(clips)
    rows = []
    for name, (cols, changes) in ABLATIONS.items():
        c = AudioTrainConfig(**{**asdict(cfg), **changes})
        acc = np.mean([_accuracies(out_of_fold(X[:, _columns(cols)], clips, c, seed=s)[0], y)
                       for s in seeds], axis=0)
        rows.append({"name": name, "arousal": round(float(acc[0]), 4),
                     "valence": round(float(acc[1]), 4), "quadrant": round(float(acc[2]), 4)})
    return rows


# --------------------------------------------------------------------------------------------
# Evaluation


def load_emotion4q_split(folder: Any) -> dict[str, str]:
    """The emotion4q split a model was trained with (saved beside its weights).

    Raises:
        ModelError: the model folder has no split file.
    """
    from midi2img.modeling import read_model_split

    return read_model_split(folder, SPLIT_FILE, what="the audio model's emotion4q split")


def _config_of(model: AudioAffectModel) -> AudioTrainConfig:
    return AudioTrainConfig(**model.card.config) if model.card else AudioTrainConfig()


def evaluate(model: AudioAffectModel, data: Path, *, split_map: dict[str, str],
             cache: Path | None = None, split: str = "test") -> list[EvalResult]:
    """The audio model on emotion4q: ``test`` scores the held-out artists with ``model``;
    ``valid`` recomputes the artist-grouped CV on the train part with the model's config."""
    from midi2img.mood.dataset import emotion4q_clips

    clips = emotion4q_clips(data, split=split_map)
    if split == "test":
        test = [c for c in clips if c.split == "test"]
        X = feature_matrix(describe_clips(test, data, cache=cache))
        return [emotion4q_result(model.probabilities(X), model.confidence(X), test, "test")]
    train = [c for c in clips if c.split == "train"]
    return [_cv_result(describe_clips(train, data, cache=cache), train, _config_of(model))]


def _cv_result(described: Sequence[tuple[SoundRows, TagResult]],
               clips: Sequence[RecordingClip], cfg: AudioTrainConfig) -> EvalResult:
    """CV figures (split ``valid``): out-of-fold, cross-calibrated, with section accuracies."""
    X = feature_matrix(described)
    halves = [feature_matrix(described, window=w) for w in ((0.0, 15.0), (15.0, 30.0))]
    thirds = [feature_matrix(described, window=w) for w in ((0.0, 10.0), (10.0, 20.0),
                                                            (20.0, 30.0))]
    raw, raw_sec = out_of_fold(X, clips, cfg, seed=cfg.seed, extra=[*halves, *thirds])
    prob, conf = cross_calibrated(raw, clips, cfg, seed=cfg.seed)
    y = _targets(clips)
    half_acc = np.mean([_accuracies(r, y) for r in raw_sec[:2]], axis=0)
    third_acc = np.mean([_accuracies(r, y) for r in raw_sec[2:]], axis=0)
    extra = {"arousal_accuracy_15s": float(half_acc[0]),
             "valence_accuracy_15s": float(half_acc[1]),
             "quadrant_accuracy_15s": float(half_acc[2]),
             "arousal_accuracy_10s": float(third_acc[0]),
             "valence_accuracy_10s": float(third_acc[1]),
             "quadrant_accuracy_10s": float(third_acc[2])}
    return emotion4q_result(prob, conf, clips, "valid", extra=extra)


# --------------------------------------------------------------------------------------------
# The training run


def _reliability(path: Path, curves: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
    """Reliability diagram: accuracy against confidence (10 bins) for each curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 4.0))
    for ax, (title, conf, right) in zip(np.atleast_1d(axes), curves, strict=True):
        idx = np.minimum((conf * 10).astype(int), 9)
        xs, ys, ns = [], [], []
        for k in range(10):
            m = idx == k
            if m.any():
                xs.append(conf[m].mean())
                ys.append(right[m].mean())
                ns.append(int(m.sum()))
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.plot(xs, ys, "o-", c="tab:blue")
        for x, yy, n in zip(xs, ys, ns, strict=True):
            ax.annotate(str(n), (x, yy), textcoords="offset points", xytext=(3, -10), fontsize=7)
        ece = expected_calibration_error(conf, right)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy",
               title=f"{title}\nECE {ece:.3f}, n = {conf.size}")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def train(data: Path, out: Path, cfg: AudioTrainConfig | None = None, *,
          cache: Path | None = None, log: Log = _quiet, previous: ModelCard | None = None
          ) -> list[EvalResult]:
    """Fit with CV figures, score the artist-disjoint test split once, and write weights, card,
    split and reliability diagram into ``out``.

    Args:
        data: The shared data folder (``emotion4q/``).
        out: Folder to write into.
        cfg: Hyper-parameters (the recipe's by default).
        cache: Cache folder of the recordings' sound rows and tags (default: the midi2img
            cache).
        log: Receives one line per step.
        previous: The card of the model this run replaces, whose test scorings the new card
            keeps (:meth:`midi2img.modeling.ModelCard.with_history`).

    Returns:
        The results written to the card: test (scored once at the end), then valid (the
        artist-grouped CV on the train part).
    """
    from midi2img.mood.dataset import emotion4q_clips

    cfg = cfg or AudioTrainConfig()
    clips = emotion4q_clips(data, seed=cfg.seed)
    split_map = {c.song: c.split for c in clips}
    train_clips = [c for c in clips if c.split == "train"]
    test_clips = [c for c in clips if c.split == "test"]
    log(f"emotion4q: {len(train_clips)} train and {len(test_clips)} test clips "
        f"(artist-disjoint); describing the recordings ...")
    described = describe_clips(clips, data, cache=cache, log=log)
    d_train = [d for d, c in zip(described, clips, strict=True) if c.split == "train"]
    d_test = [d for d, c in zip(described, clips, strict=True) if c.split == "test"]
    X_train = feature_matrix(d_train)

    # 1. choices: artist-grouped CV on train
    table = ablations(X_train, train_clips, cfg)
    for row in table:
        log(f"cv {row['name']}: arousal {row['arousal']:.3f} valence {row['valence']:.3f} "
            f"quadrant {row['quadrant']:.3f}")
    valid = _cv_result(d_train, train_clips, cfg)
    log(f"valid (CV): {json.dumps(valid.to_dict()['metrics'])}")
    # 2. the shipped model on all of train, scored once on test
    model, raw_oof = _fit(X_train, train_clips, cfg)
    X_test = feature_matrix(d_test)
    p_test, c_test = model.probabilities(X_test), model.confidence(X_test)
    test = emotion4q_result(p_test, c_test, test_clips, "test")
    log(f"test: {json.dumps(test.to_dict()['metrics'])}")

    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    (out / SPLIT_FILE).write_text(json.dumps(split_map, indent=1, sort_keys=True) + "\n")
    p_cv, c_cv = cross_calibrated(raw_oof, train_clips, cfg, seed=cfg.seed)
    y_tr, y_te = _targets(train_clips), _targets(test_clips)
    _reliability(out / RELIABILITY_PNG, [
        ("quadrant, CV (train artists)", c_cv, np.all((p_cv >= 0.5) == y_tr, axis=1)),
        ("quadrant, test artists", c_test, np.all((p_test >= 0.5) == y_te, axis=1)),
        ("valence and arousal, test", np.r_[np.maximum(p_test, 1 - p_test).T.ravel()],
         np.r_[((p_test >= 0.5) == y_te).T.ravel()])])
    card = model_card(cfg, model, [test, valid], table, clips).with_history(previous)
    write_card(out, card)
    return [test, valid]


def model_card(cfg: AudioTrainConfig, model: AudioAffectModel, results: list[EvalResult],
               table: list[dict[str, Any]], clips: Sequence[RecordingClip]) -> ModelCard:
    """The card of a model trained by :func:`train`, from what the run measured."""
    res = {(r.dataset, r.split): r for r in results}
    test = res[("emotion4q", "test")]
    train_clips = [c for c in clips if c.split == "train"]
    test_clips = [c for c in clips if c.split == "test"]

    def count(split: str) -> dict[str, int]:
        return {q: sum(c.split == split and c.quadrant == q for c in clips) for q in QUADS}

    names = affect_feature_names()
    n_sound = len(SOUND_NAMES)
    ablation = "\n".join(f"| {r['name']} | {r['arousal']:.3f} | {r['valence']:.3f} | "
                         f"{r['quadrant']:.3f} |" for r in table)
    weighted_row = next(r for r in table
                        if ABLATIONS[r["name"]][1].get("weighting") == "agreement")
    shipped_row = next(r for r in table if "(shipped)" in r["name"])
    mood_row = next(r for r in table if ABLATIONS[r["name"]][0] == "sound+moodtags")
    tag_gain = 100 * (shipped_row["valence"] - mood_row["valence"])
    published = "; ".join(f"{k}: " + ", ".join(f"{m} {v:.3f}" for m, v in b.items())
                          for k, b in PUBLISHED_4Q.items())
    agreement = [c.agreement for c in clips]
    architecture = ("per axis an L2 logistic regression of P(axis > 0) on the standardised "
                    "features (clipped to +-clip_z), Platt-recalibrated on artist-grouped "
                    "out-of-fold predictions; score = 2 P - 1; confidence = P(quadrant right) = "
                    "product of the axes' probabilities of their signs, Platt-recalibrated the "
                    "same way")
    notes = (
        CardSection("Why", """The symbolic model reads the transcription, which a mix corrupts:
on real recordings it is below chance on arousal (calm songs with sustained harmony transcribe
into many notes, loud distorted ones into few; see the exploration below). This model reads the
sound itself."""),
        CardSection("Input and architecture", f"""{len(names)} features,
`midi2img.mood.audio_features.affect_features` (version {AUDIO_FEATURE_VERSION}): {n_sound}
pooled sound descriptors (A-weighted loudness and its percentiles, range, low-energy share and
block-to-block movement; spectral centroid, bandwidth, roll-off, energy above 1.5 and 4 kHz, bass
share, flatness, tonalness, entropy, zero-crossing rate, MFCC 1-13, each as mean and standard
deviation; Sethares roughness; spectral-flux onset rate, pulse clarity and tempo from the
envelope's autocorrelation; key profile fits, mode margin, key clarity and the tonic-relative
chroma of the audio) and the mean probabilities of all {len(names) - n_sound} musicnn MSD and
MTT tags. All of it is kept as small rows (one per 2 s) during the analysis pass and pooled over
any window, so a section gets its own affect.

{architecture[0].upper() + architecture[1:]}. Weights: `{WEIGHTS_FILE}` (numpy arrays, loaded
with allow_pickle=False); numpy only at run time."""),
        CardSection("How it was scored", f"""Accuracy of the sign of each axis and of the
quadrant, the expected calibration error (10 bins) of the quadrant confidence and of each axis'
probability of its predicted sign, and the mean quadrant confidence. valid = artist-grouped
{cfg.cv_folds}-fold cross-validation on the train part (fold seed {cfg.seed}; each fold
calibrated on the other folds), the number every choice was made on; its `_15s` and `_10s`
figures score the 15 s halves and 10 s thirds of the held-out clips (sections) with the same
fold models. test = the held-out artists, scored at the end. Published: {published}.

![reliability diagrams]({RELIABILITY_PNG})"""),
        CardSection("Choices (artist-grouped CV on train, mean of fold seeds 0-2)", f"""Recomputed
by every training run:

| features / model | arousal | valence | quadrant |
|---|---|---|---|
{ablation}

The exploration that chose the recipe ({EXPLORATION_RESULTS}, written by
`bench/mood_audio_explore.py`) compared the transcription's symbolic features (alone, added to
these, and the symbolic model's scores), tags as log-odds, per-window tag spread, boosted trees,
an RBF SVM, one 4-way model and training on 15 s sections: none did better on CV, so the model
uses none of them. The whole tag vectors beat the mood/energy tags alone by {tag_gain:.1f}
points of valence; weighting by label agreement gives {weighted_row['quadrant']:.3f} quadrant
accuracy against {shipped_row['quadrant']:.3f} unweighted."""),
        CardSection("Limits", f"""Labels are per 30 s preview and come from AllMusic's
song-level moods (the share of a song's moods in its quadrant is {min(agreement):.2f} to
{max(agreement):.2f}); valence remains the harder axis. The test split holds {test.n} clips, so
one clip is {100 / max(test.n, 1):.1f} points. Genres and eras are those of AllMusic's catalogue;
sounds far from it (field recordings, sound design) are guesses."""),
        CardSection("Reproduce", f"""`make train-mood` (= `midi2img mood train --model-kind audio
--out models/mood_audio --seed {cfg.seed} --force`); rows cached under the midi2img cache
folder, keyed by the code that computes them."""),
    )
    return ModelCard(
        model=AudioAffectModel.shipped_name,
        name="midi2img affect model of recordings (valence-arousal from sound and tags)",
        task=("valence and arousal in [-1, 1] of a recording or a section of it, with a "
              "calibrated confidence; quadrant from the signs"),
        trained=today(),
        data={"emotion4q": {
            "source": ("4Q audio emotion dataset (Panda, Malheiro & Paiva 2018, IEEE TAFFC): "
                       "30 s AllMusic previews labelled by Russell quadrant from AllMusic moods; "
                       f"the {len(clips)}-clip subset in the shared data"),
            "split": (f"artist-disjoint, seeded ({cfg.seed}), stratified by quadrant, "
                      f"{SPLIT_FILE}"),
            "train": count("train"), "test": count("test"),
            "train_artists": len({c.group for c in train_clips}),
            "test_artists": len({c.group for c in test_clips}),
            "targets": "Q1=(+1,+1) Q2=(-1,+1) Q3=(-1,-1) Q4=(+1,-1) (valence, arousal); "
                       "unweighted",
            "licence": "none stated: research use only (AllMusic previews)"},
            "final_fit": "all of the train part; test scored at the end"},
        config=asdict(cfg),
        results=tuple(results),
        versions=library_versions(("numpy", "scipy", "scikit-learn", "librosa", "soxr",
                                   "onnxruntime")),
        licence=("The weights are derived from emotion4q, whose audio (AllMusic previews) comes "
                 "with no licence and is for research use only, and from the musicnn taggers' "
                 "outputs (ISC). Treat the model as research use only: no commercial use, and "
                 "redistribution at your own risk; the code that trains it is MIT."),
        notes=notes,
        details={"architecture": architecture, "weights_file": WEIGHTS_FILE,
                 "axes": list(AXES), "feature_names": list(names),
                 "feature_version": AUDIO_FEATURE_VERSION,
                 "calibration": {
                     "platt_valence": [round(float(x), 6) for x in model.platt[0]],
                     "platt_arousal": [round(float(x), 6) for x in model.platt[1]],
                     "platt_quadrant": [round(float(x), 6) for x in model.quadrant_platt]},
                 "cv_ablations": table,
                 "exploration": EXPLORATION_RESULTS,
                 "published": PUBLISHED_4Q},
    )
