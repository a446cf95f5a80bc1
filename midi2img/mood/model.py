"""The valence-arousal model (numpy at run time, no pickle) and the record it gives.

:class:`AffectEstimate` is what the rest of the pipeline reads; the Russell quadrants follow from
the signs of valence and arousal. The shipped model is loaded through
:func:`midi2img.modeling.load_shipped` (``load_shipped("affect")``), a training run's folder
through :func:`midi2img.modeling.load_model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

from midi2img.constants import QUADRANT_SIGNS
from midi2img.errors import ModelError

if TYPE_CHECKING:
    from midi2img.features import SymbolicFeatures
    from midi2img.modeling import ModelCard
    from midi2img.notes import Notes


def quadrant_of(valence: float, arousal: float) -> str:
    """Quadrant from the signs: Q1 V+A+, Q2 V-A+, Q3 V-A-, Q4 V+A- (zero counts as +)."""
    v, a = valence >= 0, arousal >= 0
    return {(True, True): "Q1", (False, True): "Q2", (False, False): "Q3",
            (True, False): "Q4"}[(v, a)]


def quadrant_targets(quadrant: str) -> tuple[float, float]:
    """(valence, arousal) target of an EMOPIA quadrant label, each +1 or -1."""
    if quadrant not in QUADRANT_SIGNS:
        raise ValueError(f"unknown quadrant {quadrant!r} (expected Q1..Q4)")
    v, a = QUADRANT_SIGNS[quadrant]
    return float(v), float(a)


#: Names of the models that give an :class:`AffectEstimate` (``AffectEstimate.model``).
AFFECT_MODELS = ("symbolic", "audio")


@dataclass(frozen=True)
class AffectEstimate:
    """Valence and arousal in [-1, 1] with the quadrant they fall in.

    Attributes:
        valence: Signed valence score, ``2 P(valence > 0) - 1``.
        arousal: Signed arousal score, ``2 P(arousal > 0) - 1``.
        confidence: Calibrated probability that :attr:`quadrant` is right, in [0, 1], or None
            when the model gives none.
        model: Which model gave it (one of :data:`AFFECT_MODELS`), or None when unknown.
    """

    valence: float
    arousal: float
    confidence: float | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        for name in ("valence", "arousal"):
            v = getattr(self, name)
            if not -1.0 <= v <= 1.0:
                raise ValueError(f"{name} must lie in [-1, 1], got {v}")
        if self.confidence is not None and not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must lie in [0, 1], got {self.confidence}")
        if self.model is not None and self.model not in AFFECT_MODELS:
            raise ValueError(f"unknown affect model {self.model!r}; expected one of "
                             f"{', '.join(AFFECT_MODELS)}")

    @property
    def quadrant(self) -> str:
        """Russell/EMOPIA quadrant, Q1..Q4."""
        return quadrant_of(self.valence, self.arousal)

    @property
    def intensity(self) -> float:
        """Distance from the centre of the circumplex, capped at 1."""
        return min(1.0, (self.valence**2 + self.arousal**2) ** 0.5)

    def to_dict(self) -> dict[str, object]:
        """The contract's ``affect`` object: ``valence``, ``arousal``, ``quadrant``, and
        ``confidence`` (rounded, or null) and ``model`` (or null)."""
        return {"valence": round(self.valence, 4), "arousal": round(self.arousal, 4),
                "quadrant": self.quadrant,
                "confidence": None if self.confidence is None else round(self.confidence, 4),
                "model": self.model}


class AffectModel(Protocol):
    """What the analysis pipeline needs from a valence-arousal model."""

    def predict(self, notes: Notes, features: SymbolicFeatures) -> AffectEstimate:
        """Valence and arousal of a note list."""
        ...


#: Axes the model predicts, in the order of its output columns.
AXES = ("valence", "arousal")
#: File holding the weights (plain arrays, loaded with ``allow_pickle=False``).
WEIGHTS_FILE = "mood.npz"


class _Trees:
    """Gradient-boosted trees of one binary classifier, as flat node arrays (any number of trees).

    ``feature``, ``threshold``, ``left``, ``right`` (global node indices), ``is_leaf``, ``value``
    and ``missing_left`` describe every node; ``roots`` indexes each tree's root. A sample goes
    left when ``x[feature] <= threshold`` (or is NaN and ``missing_left``), as in scikit-learn's
    ``HistGradientBoostingClassifier``; the log-odds are ``baseline`` plus the leaf values.
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.feature = arrays["feature"].astype(np.int64)
        self.threshold = arrays["threshold"].astype(np.float64)
        self.left = arrays["left"].astype(np.int64)
        self.right = arrays["right"].astype(np.int64)
        self.is_leaf = arrays["is_leaf"].astype(bool)
        self.value = arrays["value"].astype(np.float64)
        self.missing_left = arrays["missing_left"].astype(bool)
        self.roots = arrays["roots"].astype(np.int64)
        self.baseline = float(arrays["baseline"])

    def log_odds(self, X: np.ndarray) -> np.ndarray:
        out = np.empty(X.shape[0])
        for i, x in enumerate(X):
            idx = self.roots.copy()
            while True:
                inner = ~self.is_leaf[idx]
                if not inner.any():
                    break
                node = idx[inner]
                xv = x[self.feature[node]]
                go_left = np.where(np.isnan(xv), self.missing_left[node],
                                   xv <= self.threshold[node])
                idx[inner] = np.where(go_left, self.left[node], self.right[node])
            out[i] = self.baseline + self.value[idx].sum()
        return out


class MoodModel:
    """Valence-arousal model over :func:`midi2img.mood.features.mood_features`.

    Each axis is a binary classifier of its sign (trained on EMOPIA quadrants and on the signs
    of VGMIDI's mean ratings): the mean of a standardised logistic regression's probability and
    a gradient-boosted trees' probability. The signed score ``2 p - 1`` lies in [-1, 1]; its
    sign gives the quadrant. Everything is numpy at run time (no scikit-learn, no pickle).
    """

    #: Its name in :data:`midi2img.modeling.SHIPPED`.
    shipped_name: ClassVar[str] = "affect"

    def __init__(self, arrays: dict[str, np.ndarray], card: ModelCard | None = None) -> None:
        from midi2img.mood.features import FEATURE_NAMES

        names = tuple(str(n) for n in arrays["feature_names"])
        if names != FEATURE_NAMES:
            raise ModelError("mood model was trained on other features than this version "
                             "computes; retrain it (make train-mood)")
        self.arrays = arrays
        self.card = card
        self.mean = arrays["scaler_mean"].astype(np.float64)
        self.scale = arrays["scaler_scale"].astype(np.float64)
        self.coef = arrays["lr_coef"].astype(np.float64)  # (2, n_features)
        self.intercept = arrays["lr_intercept"].astype(np.float64)  # (2,)
        self.trees = [_Trees({k.split("/", 2)[2]: v for k, v in arrays.items()
                              if k.startswith(f"hgb/{axis}/")}) for axis in AXES]
        self.tree_weight = float(arrays["tree_weight"])
        # Platt map of the quadrant confidence (absent from models trained before it existed)
        qp = arrays.get("quadrant_platt")
        self.quadrant_platt = None if qp is None else qp.astype(np.float64)

    # ---------------------------------------------------------------- persistence
    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], card: ModelCard | None) -> MoodModel:
        """The model from the arrays of ``mood.npz`` and its card (what
        :func:`midi2img.modeling.load_model` calls)."""
        return cls(arrays, card)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays :meth:`from_arrays` reads (``quadrant_platt`` as set now)."""
        arrays = dict(self.arrays)
        if self.quadrant_platt is not None:
            arrays["quadrant_platt"] = np.asarray(self.quadrant_platt, dtype=np.float64)
        return arrays

    @classmethod
    def load(cls, folder: str | Path | Traversable) -> MoodModel:
        """Load a model folder (``mood.npz``, no pickle, and its card) through
        :func:`midi2img.modeling.load_model`.

        Raises:
            ModelError: the files are missing or malformed.
        """
        from midi2img.modeling import load_model

        model: MoodModel = load_model(cls.shipped_name, folder)
        return model

    def save(self, folder: Path) -> None:
        """Write ``mood.npz`` atomically into ``folder`` (same model, same bytes)."""
        from midi2img.modeling import save_weights

        save_weights(folder, self.shipped_name, self.to_arrays())

    # ---------------------------------------------------------------- prediction
    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """P(positive) of each axis, shape (n, 2), columns as :data:`AXES`."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        z = (X - self.mean) / self.scale
        p_lr = 1.0 / (1.0 + np.exp(-np.clip(z @ self.coef.T + self.intercept, -50, 50)))
        p_tr = np.stack([1.0 / (1.0 + np.exp(-np.clip(t.log_odds(X), -50, 50)))
                         for t in self.trees], axis=1)
        return (1.0 - self.tree_weight) * p_lr + self.tree_weight * p_tr

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Signed valence and arousal in [-1, 1], shape (n, 2)."""
        return np.clip(2.0 * self.probabilities(X) - 1.0, -1.0, 1.0)

    def confidence(self, X: np.ndarray) -> np.ndarray | None:
        """Calibrated probability that the predicted quadrant is right, shape (n,), or None for
        a model without a calibration map."""
        if self.quadrant_platt is None:
            return None
        from midi2img.mood.calibration import quadrant_confidence

        return quadrant_confidence(self.probabilities(X), self.quadrant_platt)

    def predict(self, notes: Notes, features: SymbolicFeatures) -> AffectEstimate:
        """Valence, arousal and quadrant confidence of a note list (with its symbolic
        features)."""
        from midi2img.mood.features import mood_features

        x = mood_features(notes, features)[None, :]
        v, a = self.scores(x)[0]
        conf = self.confidence(x)
        return AffectEstimate(float(v), float(a), None if conf is None else float(conf[0]),
                              "symbolic")
