"""Train, evaluate and export the GTZAN genre network (v2: audio tags + the table recipe).

Recipe. Each clip is described by the MSD-musicnn taggram of its 3 s windows, summarised as mean,
spread and maximum (:func:`midi2img.gtzan.features.tag_summary`), together with the 57 features
of the GTZAN table recipe (variances and tempo logged). Both blocks are standardised on the
training clips and weighted (the tag spread by :attr:`TrainConfig.tag_std_weight`, the table by
:attr:`TrainConfig.table_weight`); an ensemble of Keras softmax networks (linear by default: see
the model card) is trained with balanced class weights and L2. Every choice was made by
cross-validation on the fault-filtered train split, grouped by artist (Sturm's index), repeated
over artist shuffles; the temperature and the keyword decision thresholds are fitted on the
out-of-fold predictions. The test split is scored once, at the end. The published taggrams
cover the train and test splits only, so the valid split is not used.

``midi2img genre train --out DIR`` runs it; ``make train-genre`` rebuilds the shipped model.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from midi2img.constants import GTZAN_GENRES
from midi2img.errors import DataError, InputError
from midi2img.gtzan import dataset
from midi2img.gtzan.dataset import FEATURE_COLUMNS, FeatureTable
from midi2img.gtzan.model import DECISION_KEYS, WEIGHTS_FILE, GenreMLP, log_mask, softmax, transform
from midi2img.modeling import (
    CardSection,
    EvalResult,
    ModelCard,
    library_versions,
    today,
    write_card,
)

Progress = Callable[[str], None]

#: Names of the feature caches written when training from an audio root.
FEATURE_CACHE = "gtzan_features_cache.npz"
TAG_CACHE = "gtzan_tag_summary_cache.npz"
CONFUSION_PNG = "confusion_test.png"
#: The splits the genre network uses (the published taggrams cover no valid clip).
GENRE_SPLITS = ("train", "test")
#: The precision the keyword decisions demand on out-of-fold predictions: "clearly supported"
#: means right at least 9 times in 10.
DECISION_PRECISION = 0.9
#: Where the comparisons that chose the recipe are measured (``bench/genre_explore.py`` writes
#: it); the card points there.
EXPLORATION_RESULTS = "bench/genre_explore.md"
#: Published accuracies on the same fault-filtered test split (Castellon et al. 2021; Pons &
#: Serra 2019), cited beside this model's own on its card.
PUBLISHED_GTZAN_TEST = {"Jukebox probe": 0.797, "VGGish + SVM": 0.776,
                        "musicnn max-pool": 0.772, "CLMR": 0.686}


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters, chosen by artist-grouped cross-validation on the train split (see the
    model card); never on test."""

    seed: int = 0
    members: int = 10
    hidden: tuple[int, ...] = ()
    dropout: float = 0.0
    noise: float = 0.0
    l2: float = 0.11
    learning_rate: float = 3e-3
    batch_size: int = 64
    epochs: int = 200
    class_weight: bool = True
    tag_std_weight: float = 0.5
    table_weight: float = 0.2
    cv_folds: int = 5
    cv_repeats: int = 2


def _quiet(msg: str) -> None:
    del msg


# ---------------------------------------------------------------------------------------- data


def default_data_path() -> Path:
    """``$MIDI2IMG_DATA/gtzan`` (in a checkout, ``../shared/data/gtzan`` by default).

    Raises:
        DataError: no data folder is set, or it has no ``gtzan`` folder.
    """
    from midi2img.config import require_data_dir

    return require_data_dir(None, "gtzan") / "gtzan"


def _data_root(path: Path) -> tuple[Path, Path | None]:
    """``(folder with the shared GTZAN files, feature table CSV or None for an audio root)``."""
    if path.is_file():
        return path.parent, path
    csv_path = path / "features_30_sec.csv"
    if csv_path.is_file() and not any((path / g).is_dir() for g in GTZAN_GENRES):
        return path, csv_path
    return path, None


def load_artists(data: str | Path) -> dict[str, str]:
    """Sturm's artist index, from the data folder (or, for an audio root, the shared data)."""
    root, _ = _data_root(Path(data))
    if (root / dataset.ARTIST_INDEX).is_file():
        return dataset.read_artists(root / dataset.ARTIST_INDEX)
    return dataset.read_artists(default_data_path() / dataset.ARTIST_INDEX)


def load_splits(data: str | Path, *, cache_dir: Path | None = None,
                progress: Progress = _quiet, only: tuple[str, ...] = GENRE_SPLITS
                ) -> dict[str, FeatureTable]:
    """The genre network's input rows (table recipe + tag summary) of the filtered splits.

    Args:
        data: The shared GTZAN folder (``features_30_sec.csv`` and ``musicnn/`` taggrams, or
            the CSV itself), or a GTZAN audio root (features and taggrams computed with the
            shipped recipe and tagger, cached).
        cache_dir: Where to cache what is computed from audio (default: the midi2img cache).
        progress: Receives one line per step.
        only: The splits wanted.

    Raises:
        InputError: ``data`` does not exist.
        DataError: the files are malformed or lack every clip of a split.
    """
    from midi2img.config import HOW_TO_POINT
    from midi2img.gtzan.features import PUBLISHED_ROW_STEP, tag_columns, tag_summary

    path = Path(data)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder {HOW_TO_POINT}")
    root, csv_path = _data_root(path)
    if csv_path is not None:
        table = dataset.read_feature_table(csv_path)
        report = dataset.validate(table=table)
        progress(f"feature table {csv_path.name}: {len(table)} rows; {report.summary()}")
        rows = dataset.read_taggrams(root)
        ids = [c for c in table.ids if c in rows]
        summaries = np.stack([tag_summary(rows[c][::PUBLISHED_ROW_STEP]) for c in ids])
        tags = FeatureTable(tuple(ids), summaries, tuple(dataset.genre_of(c) for c in ids),
                            tag_columns())
        progress(f"published MSD taggrams: {len(ids)} clips")
    else:
        index = dataset.index_audio_root(path)
        report = dataset.validate(audio=index)
        progress(f"audio root {path}: {len(index)} clips; {report.summary()}")
        for cid, why in report.unreadable:
            progress(f"  skipping unreadable clip {cid}: {why}")
        bad = {c for c, _ in report.unreadable}
        wanted = {c: index[c] for s in only for c in dataset.split_ids(s)
                  if c in index and c not in bad}
        table = extract_table(wanted, cache_dir=cache_dir, progress=progress)
        tags = extract_tags(wanted, cache_dir=cache_dir, progress=progress)
    if report.mismatched:
        cid, why = report.mismatched[0]
        raise DataError(f"{path}: {len(report.mismatched)} label/file mismatch(es), e.g. {cid}: "
                        f"{why}")
    joined = table.join(tags)
    present = set(joined.ids)
    out: dict[str, FeatureTable] = {}
    for split in only:
        ids = [c for c in dataset.split_ids(split) if c in present]
        if not ids:
            raise DataError(f"{path}: none of the {split} split's clips are present (with "
                            f"features and taggrams)")
        out[split] = joined.select(ids)
    return out


def extract_tags(files: dict[str, Path], *, cache_dir: Path | None = None,
                 progress: Progress = _quiet) -> FeatureTable:
    """Tag summaries of audio files with the shipped MSD tagger, as the published taggrams were
    made (one window a second) and then summarised like them; cached per file and tagger."""
    from midi2img.gtzan.features import PUBLISHED_ROW_STEP, tag_columns, tag_summary
    from midi2img.tagger import REFERENCE_HOP_FRAMES, model_card, tag_file

    if cache_dir is None:
        from midi2img.config import cache_dir as default_cache

        cache_dir = default_cache()
    cache_path = Path(cache_dir) / TAG_CACHE
    version = model_card()["models"]["msd_musicnn"]["sha256"][:12]
    cached: dict[str, np.ndarray] = {}
    if cache_path.is_file():
        with np.load(cache_path, allow_pickle=False) as z:
            cached = {str(k): r for k, r in zip(z["keys"], z["rows"], strict=True)}
    rows, done = [], 0
    for cid, path in files.items():
        key = f"{cid}:{_file_key(path)}:{version}"
        if key not in cached:
            result = tag_file(path, hop_frames=REFERENCE_HOP_FRAMES, taggers=("msd",))
            cached[key] = tag_summary(result.probabilities["msd"][::PUBLISHED_ROW_STEP])
            done += 1
            if done % 25 == 0:
                progress(f"  tagged {done} clips")
                _write_cache(cache_path, cached)
        rows.append(cached[key])
    if done:
        _write_cache(cache_path, cached)
    ids = tuple(files)
    columns = tag_columns()
    return FeatureTable(ids, np.asarray(rows, dtype=np.float64).reshape(len(ids), len(columns)),
                        tuple(dataset.genre_of(c) for c in ids), columns)


def _file_key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha1(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]


def extract_table(files: dict[str, Path], *, cache_dir: Path | None = None,
                  progress: Progress = _quiet) -> FeatureTable:
    """Extract table features from audio files, cached in ``cache_dir/gtzan_features_cache.npz``.

    The cache is keyed by clip id and the file's size and modification time, so a second run
    only decodes clips that changed.
    """
    from midi2img.audio import load
    from midi2img.gtzan.features import FEATURE_SR_HZ, extract_features

    if cache_dir is None:
        from midi2img.config import cache_dir as default_cache

        cache_dir = default_cache()
    cache_path = Path(cache_dir) / FEATURE_CACHE
    cached: dict[str, np.ndarray] = {}
    if cache_path.is_file():
        with np.load(cache_path, allow_pickle=False) as z:
            for key, row in zip(z["keys"], z["rows"], strict=True):
                cached[str(key)] = row
    ids, rows = [], []
    todo = [c for c in files if f"{c}:{_file_key(files[c])}" not in cached]
    progress(f"features: {len(files) - len(todo)} cached, {len(todo)} to extract")
    t0 = time.perf_counter()
    done = 0
    for cid, path in files.items():
        key = f"{cid}:{_file_key(path)}"
        if key not in cached:
            audio = load(path, sr=FEATURE_SR_HZ)
            cached[key] = extract_features(audio, sr=FEATURE_SR_HZ)
            done += 1
            if done % 25 == 0 or done == len(todo):
                rate = (time.perf_counter() - t0) / done
                progress(f"  extracted {done}/{len(todo)} ({rate:.1f} s/clip, "
                         f"~{rate * (len(todo) - done):.0f} s left)")
                _write_cache(cache_path, cached)
        ids.append(cid)
        rows.append(cached[key])
    if todo:
        _write_cache(cache_path, cached)
    labels = tuple(dataset.genre_of(c) for c in ids)
    return FeatureTable(tuple(ids), np.asarray(rows, dtype=np.float64).reshape(-1, 57), labels)


def _write_cache(path: Path, cached: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted(cached)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, keys=np.array(keys), rows=np.stack([cached[k] for k in keys]))
    tmp.replace(path)




def _setup_tf(seed: int):  # noqa: ANN202 - returns the tensorflow module
    from midi2img.config import quiet_libraries

    quiet_libraries()
    import tensorflow as tf

    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # already initialised in this process
        pass
    tf.config.experimental.enable_op_determinism()
    tf.keras.utils.set_random_seed(seed)
    return tf





# ------------------------------------------------------------------------------------ training


def build_keras(cfg: TrainConfig, n_in: int, n_out: int):  # noqa: ANN201 - a keras Model
    """The member network: [noise] -> [Dense(relu) + dropout ...] -> Dense(logits)."""
    import tensorflow as tf

    reg = tf.keras.regularizers.L2(cfg.l2)
    inputs = tf.keras.Input(shape=(n_in,), name="features")
    h = tf.keras.layers.GaussianNoise(cfg.noise)(inputs) if cfg.noise > 0 else inputs
    for width in cfg.hidden:
        h = tf.keras.layers.Dense(width, activation="relu", kernel_regularizer=reg)(h)
        if cfg.dropout > 0:
            h = tf.keras.layers.Dropout(cfg.dropout)(h)
    logits = tf.keras.layers.Dense(n_out, kernel_regularizer=reg, name="logits")(h)
    model = tf.keras.Model(inputs, logits)
    model.compile(optimizer=tf.keras.optimizers.Adam(cfg.learning_rate),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def block_weights(columns: tuple[str, ...], cfg: TrainConfig) -> np.ndarray:
    """The weight of each input column: table features, tag means/maxima and tag spreads."""
    return np.array([cfg.table_weight if c in FEATURE_COLUMNS else
                     cfg.tag_std_weight if c.startswith("msd_std:") else 1.0 for c in columns])


def fit_members(table: FeatureTable, cfg: TrainConfig, *, members: int | None = None,
                progress: Progress = _quiet) -> GenreMLP:
    """Fit the ensemble on ``table`` (temperature 1; see :func:`train`)."""
    tf = _setup_tf(cfg.seed)
    mask = log_mask(table.columns)
    xt = transform(table.features, mask)
    mean = xt.mean(axis=0)
    std = xt.std(axis=0)
    std[std == 0] = 1.0
    scale = std / block_weights(table.columns, cfg)  # a block's weight scales its inputs
    xs = ((xt - mean) / scale).astype(np.float32)
    y = table.y()
    weights = None
    if cfg.class_weight:
        counts = np.bincount(y, minlength=len(GTZAN_GENRES))
        weights = {i: float(len(y) / (len(GTZAN_GENRES) * c)) for i, c in enumerate(counts) if c}
    layers_of = []
    for m in range(members or cfg.members):
        tf.keras.utils.set_random_seed(cfg.seed * 1000 + m)
        model = build_keras(cfg, xs.shape[1], len(GTZAN_GENRES))
        model.fit(xs, y, epochs=cfg.epochs, batch_size=cfg.batch_size, class_weight=weights,
                  shuffle=True, verbose=0)
        dense = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Dense)]
        layers_of.append(tuple((layer.kernel.numpy().astype(np.float32),
                                layer.bias.numpy().astype(np.float32)) for layer in dense))
    progress(f"fitted {len(layers_of)} member(s) on {len(y)} clips")
    return GenreMLP(GTZAN_GENRES, table.columns, mask, mean, scale, tuple(layers_of))


def artist_folds(groups: list[str], *, folds: int, repeat: int, seed: int
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` folds of whole artists (a shuffle per ``repeat``): no artist in two folds."""
    artists = sorted(set(groups))
    rng = np.random.default_rng(seed * 1000 + repeat)
    fold_of = {a: i % folds for i, a in enumerate(rng.permutation(artists))}
    f = np.array([fold_of[g] for g in groups])
    return [(np.flatnonzero(f != k), np.flatnonzero(f == k)) for k in range(folds)]


def cross_validate(table: FeatureTable, artists: dict[str, str], cfg: TrainConfig, *,
                   progress: Progress = _quiet) -> tuple[list[EvalResult], np.ndarray]:
    """Artist-grouped cross-validation on ``table``: one result per repeat, and the out-of-fold
    logits of every repeat stacked ``(repeats, n, 10)``."""
    groups = [artists.get(c, c) for c in table.ids]
    results, logits = [], []
    for rep in range(cfg.cv_repeats):
        z = np.zeros((len(table), len(GTZAN_GENRES)))
        for tr, te in artist_folds(groups, folds=cfg.cv_folds, repeat=rep, seed=cfg.seed):
            model = fit_members(table.select([table.ids[i] for i in tr]), cfg, members=1)
            z[te] = model.member_logits(model.scaled(table.features[te]))[0]
        logits.append(z)
        results.append(_score(softmax(z), table.y(), "train"))
        progress(f"grouped CV repeat {rep + 1}/{cfg.cv_repeats}: accuracy "
                 f"{results[-1]['accuracy']:.3f}, top-3 {results[-1]['top3_accuracy']:.3f}")
    return results, np.stack(logits)


def decision_thresholds(p: np.ndarray, y: np.ndarray, *, precision: float = DECISION_PRECISION
                        ) -> dict[str, float]:
    """When genre is clearly supported, measured on out-of-fold probabilities ``p``.

    ``confident``: the smallest top-genre probability above which the top genre is right with
    at least ``precision``. ``blend_pair``: the smallest sum of the top two above which one of
    them is right with that precision; ``blend_second``: the smallest second probability, as a
    share of the first, for which the second genre is itself right at least a quarter of the
    time (a substantial second genre, not a runner-up by default).
    """
    order = np.argsort(-p, axis=1)
    p1 = p[np.arange(len(y)), order[:, 0]]
    p2 = p[np.arange(len(y)), order[:, 1]]
    top1 = order[:, 0] == y
    pair = top1 | (order[:, 1] == y)
    grid = np.round(np.arange(0.2, 0.96, 0.01), 2)

    def smallest(score: np.ndarray, hit: np.ndarray, target: float, minimum: int = 20) -> float:
        for t in grid:
            sel = score >= t
            if sel.sum() >= minimum and hit[sel].mean() >= target:
                return float(t)
        return 1.0

    confident = smallest(p1, top1, precision)
    rest = p1 < confident
    blend_pair = smallest(np.where(rest, p1 + p2, 0.0), pair, precision)
    second_right = (order[:, 1] == y)
    blend_second = smallest(np.where(rest & (p1 + p2 >= blend_pair), p2 / p1, 0.0),
                            second_right, 0.25, minimum=10)
    sel_c, sel_b = p1 >= confident, rest & (p1 + p2 >= blend_pair) & (p2 / p1 >= blend_second)
    return {"confident": confident, "blend_pair": blend_pair, "blend_second": blend_second,
            "confident_share": float(sel_c.mean()),
            "confident_precision": float(top1[sel_c].mean()) if sel_c.any() else 0.0,
            "blend_share": float(sel_b.mean()),
            "blend_pair_precision": float(pair[sel_b].mean()) if sel_b.any() else 0.0}


def _score(p: np.ndarray, y: np.ndarray, split: str) -> EvalResult:
    pred = p.argmax(axis=1)
    top3 = np.argsort(-p, axis=1)[:, :3]
    k = len(GTZAN_GENRES)
    conf = np.zeros((k, k), dtype=int)
    np.add.at(conf, (y, pred), 1)
    recall = {g: float(conf[i, i] / conf[i].sum()) if conf[i].sum() else 0.0
              for i, g in enumerate(GTZAN_GENRES)}
    metrics = {"accuracy": float(np.mean(pred == y)),
               "top3_accuracy": float(np.mean([y[i] in top3[i] for i in range(len(y))])),
               "nll": _nll(p, y), "min_recall": float(min(recall.values()))}
    return EvalResult("genre", "gtzan", split, len(y), metrics, GTZAN_GENRES,
                      tuple(tuple(int(v) for v in r) for r in conf), recall)


def evaluate(model: GenreMLP, table: FeatureTable, split: str) -> EvalResult:
    """Accuracy, top-3 accuracy, NLL, per-genre recall and confusion matrix on ``table``."""
    return _score(model.predict_proba(table.features), table.y(), split)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the NLL of the mean softmax of ``(members, n, k)`` logits (grid
    0.25..5); fitted on out-of-fold logits."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(5.0), 121))
    nll = [_nll(softmax(logits / t).mean(axis=0), y) for t in grid]
    return float(grid[int(np.argmin(nll))])


def _nll(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))




# ---------------------------------------------------------------------------------- model card


def plot_confusion(result: EvalResult, path: Path) -> None:
    """Write the confusion matrix as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conf = np.array(result.confusion)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=100)
    ax.imshow(conf, cmap="Blues")
    ax.set_xticks(range(len(result.labels)), result.labels, rotation=45, ha="right")
    ax.set_yticks(range(len(result.labels)), result.labels)
    for i in range(conf.shape[0]):
        for j in range(conf.shape[1]):
            ax.text(j, i, str(conf[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if conf[i, j] > conf.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"GTZAN filtered {result.split} split (n={result.n}), "
                 f"accuracy {result['accuracy']:.3f}")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)




def model_card(model: GenreMLP, cfg: TrainConfig, results: list[EvalResult],
               cv: list[EvalResult], decision: dict[str, float], artists: list[str],
               split_sizes: dict[str, int], data: str) -> ModelCard:
    """The card of a model trained by :func:`train`, from what the run measured."""
    test = next(r for r in results if r.split == "test")
    rec = "\n".join(f"| {g} | {test.per_class_recall[g]:.3f} | {sum(test.confusion[i])} | "
                    f"{np.mean([r.per_class_recall[g] for r in cv]):.3f} |"
                    for i, g in enumerate(GTZAN_GENRES))
    cv_acc = [r["accuracy"] for r in cv]
    cv_top3 = [r["top3_accuracy"] for r in cv]
    d = decision
    if d.get("blend_pair", 1.0) < 1.0:
        blend = (f"otherwise a blend of the top two when together they reach "
                 f"{d['blend_pair']:.2f} (one of them right {d['blend_pair_precision']:.0%}) and "
                 f"the second is at least {d['blend_second']:.2f} of the first "
                 f"({d['blend_share']:.0%} of clips);")
    else:
        blend = ("no sum of the top two reached that precision on the other clips, so genre "
                 "never blends;")
    arch = ("linear softmax" if not cfg.hidden else f"MLP, hidden layers {list(cfg.hidden)}")
    published = ", ".join(f"{k} {v:.3f}" for k, v in PUBLISHED_GTZAN_TEST.items())
    notes = (
        CardSection("Architecture", f"""An ensemble of {cfg.members} Keras networks ({arch}, L2
{cfg.l2}, Adam {cfg.learning_rate}, {cfg.epochs} epochs, batch {cfg.batch_size}, balanced class
weights) over {len(model.columns)} inputs of each 30 s window:

- the MSD-musicnn taggram (Pons & Serra 2019; `models/musicnn`) of the window's 3 s tagger
  windows, summarised as mean, spread (weight {cfg.tag_std_weight}) and maximum of each of its
  50 tags;
- the 57 features of the GTZAN table recipe (librosa: chroma, rms, spectral shape, zero
  crossings, harmonic/percussive, tempo, 20 MFCCs; variances and tempo logged), weight
  {cfg.table_weight}.

Both blocks are standardised on the training clips; a block's weight multiplies its
standardised inputs. Members differ by seed; their softmaxes (logits / temperature
{model.temperature:.3f}, fitted on the out-of-fold logits of the cross-validation) are
averaged. Inference is numpy (`{WEIGHTS_FILE}`: no TensorFlow, no pickle)."""),
        CardSection("Model selection", f"""Every choice (features and their weights, linear vs.
hidden layers, L2, class weights) was made by cross-validation on the train split, grouped by
artist with Sturm's index ({len(set(artists))} artists): {cfg.cv_folds} folds of whole
artists, repeated over artist shuffles; the comparisons are measured in
{EXPLORATION_RESULTS} (`bench/genre_explore.py`). The published taggrams (from `{data}`) cover
no valid clip, so the valid split is not used. The test split was scored once, after all
choices.

Artist-grouped cross-validation of this recipe on the train split ({cfg.cv_repeats} repeats):
accuracy {np.mean(cv_acc):.3f} (repeats {", ".join(f"{a:.3f}" for a in cv_acc)}), top-3
{np.mean(cv_top3):.3f}. Published on the same test split: {published} (Castellon et al. 2021;
Pons & Serra 2019).

| genre | test recall | test n | grouped-CV recall |
|---|---|---|---|
{rec}

![confusion matrix on the test split]({CONFUSION_PNG})"""),
        CardSection("Keyword decisions (measured on out-of-fold predictions)", f"""A genre's
imagery enters the prompt only when it is clearly supported: the top genre alone when its
probability is at least {d.get("confident", 0):.2f} (there, out of fold, it is right
{d.get("confident_precision", 0):.0%} of the time; {d.get("confident_share", 0):.0%} of clips);
{blend} otherwise genre stays silent."""),
        CardSection("Limitations", """GTZAN is small, old and western; its genres are broad. The
tagger was trained on the Million Song Dataset, whose tags know no "classical". Treat the output
as a hint for keyword choice."""),
        CardSection("Reproduce", f"""`make train-genre` (= `midi2img genre train --data <shared
gtzan folder> --out models/genre --seed {cfg.seed} --force`), deterministic on one machine
(TensorFlow op determinism, one thread)."""),
    )
    return ModelCard(
        model=GenreMLP.shipped_name,
        name="GTZAN genre network (v2: audio tags + table recipe)",
        task="the probabilities of the 10 GTZAN genres of a 30 s window of a recording",
        trained=today(),
        data={"gtzan": {
            "source": "GTZAN (Tzanetakis & Cook 2002), 1000 clips of 30 s, with the published "
                      "MSD-musicnn taggrams",
            "split": "the fault-filtered, artist-disjoint split of Kereliuk, Sturm & Larsen "
                     "(2015)",
            **split_sizes, "train_artists": len(set(artists)), "data_folder": data,
            "licence": "research use (assembled without copyright clearance)"}},
        config=asdict(cfg),
        results=tuple(results),
        versions=library_versions(("tensorflow", "keras", "numpy", "librosa", "scikit-learn")),
        licence=("trained on GTZAN, which is for research use only (no copyright clearance): use "
                 "the model for research; the code is MIT. The MSD tagger it reads is "
                 "ISC-licensed (`models/musicnn/LICENSE`)"),
        notes=notes,
        details={"decision": decision, "artists": artists,
                 "cross_validation": [r.to_dict() for r in cv],
                 "published_test_accuracy": PUBLISHED_GTZAN_TEST},
    )


# ----------------------------------------------------------------------------------------- run


def train(data: str | Path, out: str | Path, cfg: TrainConfig | None = None, *,
          cache: Path | None = None, log: Progress = _quiet,
          previous: ModelCard | None = None) -> list[EvalResult]:
    """Load the splits, cross-validate, train, export the model with its card, score test once.

    ``previous`` is the card of the model this run replaces, whose test scorings the new card
    keeps (:meth:`midi2img.modeling.ModelCard.with_history`).

    Returns:
        The results written to the card (train, then test scored once at the end).
    """
    cfg = cfg or TrainConfig()
    out_dir = Path(out)
    splits = load_splits(data, cache_dir=cache, progress=log)
    artists = load_artists(data)
    train_t = splits["train"]
    log("splits: " + ", ".join(f"{s} {len(t)}" for s, t in splits.items()))
    cv, oof = cross_validate(train_t, artists, cfg, progress=log)
    temperature = fit_temperature(oof.reshape(-1, oof.shape[-1])[None],
                                  np.tile(train_t.y(), cfg.cv_repeats))
    decision = decision_thresholds(softmax(oof / temperature).mean(axis=0), train_t.y())
    model = fit_members(train_t, cfg, progress=log)
    model = replace(model, temperature=temperature,
                    decision={k: decision[k] for k in DECISION_KEYS})
    results = [evaluate(model, train_t, "train")]
    # The test split is scored once, here, after every choice was made on train.
    results.append(evaluate(model, splits["test"], "test"))
    card = model_card(model, cfg, results, cv, decision,
                      sorted({artists.get(c, c) for c in train_t.ids}),
                      {s: len(t) for s, t in splits.items()}, Path(data).name)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir)
    plot_confusion(next(r for r in results if r.split == "test"), out_dir / CONFUSION_PNG)
    write_card(out_dir, card.with_history(previous))
    for r in results:
        log(f"{r.split}: n={r.n} accuracy {r['accuracy']:.3f} top-3 {r['top3_accuracy']:.3f} "
            f"min recall {r['min_recall']:.2f}")
    return results
