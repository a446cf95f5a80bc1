"""The genre network (its forward pass in numpy: no TensorFlow at inference time) and the
record it gives.

Training (:mod:`midi2img.gtzan.train`) fits an ensemble of small Keras MLPs and exports one
``genre_mlp.npz`` (label and feature order, feature transform, scaler, every member's weights,
the temperature and the keyword decision thresholds) beside the model card
(:class:`midi2img.modeling.ModelCard`: data, results, versions). Loading reads only arrays and
JSON: nothing is unpickled (``np.load(allow_pickle=False)``). The shipped model is loaded
through :func:`midi2img.modeling.load_shipped` (``load_shipped("genre")``), a training run's
folder through :func:`midi2img.modeling.load_model`; :class:`GtzanScorer` applies it to a
track's audio, 30 s window at a time, and gives a :class:`GenrePrediction`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from midi2img.constants import GTZAN_GENRES
from midi2img.errors import ModelError

if TYPE_CHECKING:
    from midi2img.modeling import ModelCard

#: File holding the weights inside a genre model folder.
WEIGHTS_FILE = "genre_mlp.npz"
#: The keyword decision thresholds a model carries (:class:`GenrePrediction.thresholds`).
DECISION_KEYS = ("confident", "blend_pair", "blend_second")
#: Floor added before ``log`` to the columns the transform logs (variances and tempo).
LOG_FLOOR = 1e-12


def log_mask(columns: tuple[str, ...] | list[str]) -> np.ndarray:
    """Which feature columns enter the network as ``log(x + LOG_FLOOR)``: variances and tempo."""
    return np.array([c.endswith("_var") or c == "tempo" for c in columns], dtype=bool)


def transform(rows: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Apply the fixed (unfitted) feature transform: log of the masked, non-negative columns."""
    x = np.array(rows, dtype=np.float64, copy=True)
    x[:, mask] = np.log(np.clip(x[:, mask], 0.0, None) + LOG_FLOOR)
    return x


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class GenreMLP:
    """An ensemble of ReLU MLPs with a shared input transform and scaler.

    Attributes:
        labels: Output order (the GTZAN genres).
        columns: Input feature order.
        log_mask: Columns logged before scaling.
        mean: Scaler mean (after the log transform).
        scale: Scaler standard deviation.
        members: For each ensemble member, its ``[(W, b), ...]`` dense layers; ReLU between them,
            the last layer gives logits.
        temperature: Logits are divided by it before the softmax (fitted on out-of-fold
            logits).
        decision: The keyword decision thresholds (:data:`DECISION_KEYS`), measured on
            out-of-fold predictions, or None for a model without them.
        card: Its model card (None for a bare folder of weights).
    """

    labels: tuple[str, ...]
    columns: tuple[str, ...]
    log_mask: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    members: tuple[tuple[tuple[np.ndarray, np.ndarray], ...], ...]
    temperature: float = 1.0
    decision: Mapping[str, float] | None = None
    card: ModelCard | None = None

    #: Its name in :data:`midi2img.modeling.SHIPPED`.
    shipped_name: ClassVar[str] = "genre"

    def __post_init__(self) -> None:
        n_in = len(self.columns)
        if self.mean.shape != (n_in,) or self.scale.shape != (n_in,) or self.log_mask.shape != (
                n_in,):
            raise ModelError("genre model: scaler does not match the feature columns")
        if not self.members:
            raise ModelError("genre model: no ensemble members")
        for layers in self.members:
            if layers[0][0].shape[0] != n_in or layers[-1][0].shape[1] != len(self.labels):
                raise ModelError("genre model: layer shapes do not match inputs/labels")
        if not self.temperature > 0:
            raise ModelError("genre model: temperature must be positive")
        if self.decision is not None and set(self.decision) != set(DECISION_KEYS):
            raise ModelError(f"genre model: decision thresholds must be {DECISION_KEYS}")

    def scaled(self, rows: np.ndarray) -> np.ndarray:
        """Rows as the network sees them: transformed and standardised (float32)."""
        x = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        if x.shape[1] != len(self.columns):
            raise ModelError(f"genre model expects {len(self.columns)} features, got {x.shape[1]}")
        return ((transform(x, self.log_mask) - self.mean) / self.scale).astype(np.float32)

    def member_logits(self, scaled: np.ndarray) -> np.ndarray:
        """``(members, n, labels)`` logits of already-scaled rows (float32, as Keras computes)."""
        out = []
        for layers in self.members:
            h = scaled
            for i, (w, b) in enumerate(layers):
                h = h @ w + b
                if i < len(layers) - 1:
                    h = np.maximum(h, 0.0)
            out.append(h)
        return np.stack(out)

    def combine(self, logits: np.ndarray) -> np.ndarray:
        """Ensemble probabilities from member logits: mean of tempered softmaxes."""
        return softmax(np.asarray(logits, dtype=np.float64) / self.temperature).mean(axis=0)

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """``(n, labels)`` probabilities of raw feature rows (in :attr:`columns` order)."""
        return self.combine(self.member_logits(self.scaled(rows)))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays of ``genre_mlp.npz`` (what :meth:`from_arrays` reads)."""
        arrays: dict[str, np.ndarray] = {
            "labels": np.array(self.labels), "columns": np.array(self.columns),
            "log_mask": self.log_mask, "mean": self.mean, "scale": self.scale,
            "temperature": np.array(self.temperature, dtype=np.float64),
        }
        for m, layers in enumerate(self.members):
            for i, (w, b) in enumerate(layers):
                arrays[f"m{m}_w{i}"] = w
                arrays[f"m{m}_b{i}"] = b
        if self.decision is not None:
            arrays["decision"] = np.array([self.decision[k] for k in DECISION_KEYS],
                                          dtype=np.float64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], card: ModelCard | None) -> GenreMLP:
        """The model from the arrays of ``genre_mlp.npz`` and its card (what
        :func:`midi2img.modeling.load_model` calls).

        Raises:
            ModelError: arrays missing or inconsistent.
        """
        n_members = len({k.split("_")[0] for k in arrays if k.startswith("m") and "_w" in k})
        n_layers = sum(1 for k in arrays if k.startswith("m0_w"))
        members = tuple(tuple((arrays[f"m{m}_w{i}"].astype(np.float32),
                               arrays[f"m{m}_b{i}"].astype(np.float32))
                              for i in range(n_layers)) for m in range(n_members))
        decision = None
        if "decision" in arrays:
            decision = {k: float(v) for k, v in zip(DECISION_KEYS, arrays["decision"],
                                                     strict=True)}
        return cls(tuple(str(x) for x in arrays["labels"]),
                   tuple(str(x) for x in arrays["columns"]),
                   arrays["log_mask"].astype(bool), arrays["mean"].astype(np.float64),
                   arrays["scale"].astype(np.float64), members,
                   float(arrays["temperature"]), decision, card)

    def save(self, folder: str | Path) -> None:
        """Write ``genre_mlp.npz`` into ``folder`` (same model, same bytes)."""
        from midi2img.modeling import save_weights

        save_weights(folder, self.shipped_name, self.to_arrays(), compress=False)

    @classmethod
    def load(cls, folder: str | Path | Traversable) -> GenreMLP:
        """Read a model folder (no pickle) through :func:`midi2img.modeling.load_model`.

        Raises:
            ModelError: files missing or inconsistent.
        """
        from midi2img.modeling import load_model

        model: GenreMLP = load_model(cls.shipped_name, folder)
        return model


@dataclass(frozen=True)
class GenrePrediction:
    """Genre probabilities for a track.

    Attributes:
        label: The most probable genre.
        probabilities: One probability per GTZAN genre, summing to 1.
        windows: How many 30 s windows were scored and averaged.
        thresholds: The model's keyword decision thresholds (``confident``, ``blend_pair``,
            ``blend_second``), measured on its out-of-fold predictions; None for a model
            without them.
    """

    label: str
    probabilities: dict[str, float]
    windows: int = 1
    thresholds: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if set(self.probabilities) != set(GTZAN_GENRES):
            raise ValueError("probabilities must have exactly the 10 GTZAN genres")
        total = sum(self.probabilities.values())
        if abs(total - 1.0) > 1e-3 or min(self.probabilities.values()) < 0:
            raise ValueError(f"probabilities must be >= 0 and sum to 1, got sum {total:.4f}")
        if self.label != max(self.probabilities, key=self.probabilities.__getitem__):
            raise ValueError("label must be the most probable genre")

    @classmethod
    def from_probabilities(cls, probs: np.ndarray, *, windows: int = 1,
                           thresholds: dict[str, float] | None = None) -> GenrePrediction:
        """Build from a probability vector in :data:`GTZAN_GENRES` order (renormalised)."""
        p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, None)
        p = p / p.sum()
        d = {g: float(v) for g, v in zip(GTZAN_GENRES, p, strict=True)}
        return cls(GTZAN_GENRES[int(np.argmax(p))], d, windows, thresholds)

    def top(self, k: int = 2) -> list[tuple[str, float]]:
        """The ``k`` most probable genres with their probabilities."""
        return sorted(self.probabilities.items(), key=lambda kv: (-kv[1], kv[0]))[:k]

    def to_dict(self) -> dict[str, object]:
        """The contract's ``genre`` object."""
        d: dict[str, object] = {"label": self.label, "probabilities": dict(self.probabilities),
                                "windows": self.windows}
        if self.thresholds:
            d["thresholds"] = dict(self.thresholds)
        return d


class GtzanScorer:
    """A genre network applied to a track's audio: what the analysis pipeline calls.

    Features follow the GTZAN table's librosa recipe (:mod:`midi2img.gtzan.features`); the
    network runs in numpy (:class:`midi2img.gtzan.model.GenreMLP`), so scoring never imports
    TensorFlow. A track longer than 30 s is scored window by window and the windows'
    probabilities are averaged.
    """

    def __init__(self, model: GenreMLP) -> None:
        if set(model.labels) != set(GTZAN_GENRES):
            raise ModelError("genre model labels are not the 10 GTZAN genres")
        self.model = model
        self._order = np.array([model.labels.index(g) for g in GTZAN_GENRES])

    @property
    def uses_tags(self) -> bool:
        """Whether the network reads the MSD taggram (v2) besides the table recipe."""
        return any(c.startswith("msd_") for c in self.model.columns)

    def window_features(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """The 57 table features of one (up to 30 s) mono window."""
        from midi2img.gtzan.features import extract_features

        return extract_features(audio, sr=sr)

    def window_row(self, table_row: np.ndarray, msd_rows: np.ndarray | None) -> np.ndarray:
        """The network's input for one window: its table features and, for a model that reads
        tags, the summary of the MSD tagger's rows inside the window."""
        from midi2img.gtzan.features import tag_summary

        if not self.uses_tags:
            return np.asarray(table_row, dtype=np.float64)
        if msd_rows is None:
            raise ModelError("this genre model needs the audio taggers' MSD rows")
        return np.concatenate([np.asarray(table_row, dtype=np.float64), tag_summary(msd_rows)])

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """``(windows, 10)`` probabilities in :data:`GTZAN_GENRES` order."""
        return self.model.predict_proba(np.atleast_2d(rows))[:, self._order]

    def predict(self, rows: np.ndarray) -> GenrePrediction:
        """Mean of the windows' probabilities as one prediction for the track."""
        probs = self.probabilities(rows)
        if probs.shape[0] == 0:
            raise ValueError("no feature rows to score")
        decision = self.model.decision
        thresholds = {k: float(decision[k]) for k in DECISION_KEYS} if decision else None
        return GenrePrediction.from_probabilities(probs.mean(axis=0), windows=probs.shape[0],
                                                  thresholds=thresholds)

    def score_audio(self, audio: np.ndarray, sr: int) -> GenrePrediction:
        """Score a whole mono track: 30 s windows, their features (and tags), mean
        probabilities."""
        from midi2img.gtzan.features import windows
        from midi2img.tagger import tag_audio

        rows = []
        for w in windows(audio, sr=sr):
            msd = tag_audio(w, sr, taggers=("msd",)).probabilities["msd"] if self.uses_tags \
                else None
            rows.append(self.window_row(self.window_features(w, sr), msd))
        return self.predict(np.stack(rows))
