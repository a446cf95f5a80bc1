"""Genre scoring: the GTZAN-trained network applied to a track's audio, 30 s window at a time.

This module holds the record the rest of the pipeline reads (:class:`GenrePrediction`) and the
entry point :func:`load_default`, which returns the scorer shipped in ``midi2img.models`` or
``None`` when no genre model is shipped (the analysis then omits its ``genre`` key).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from midi2img.gtzan.model import GenreMLP

#: The ten GTZAN genres, in the order used everywhere (alphabetical, as in the feature table).
GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
                "reggae", "rock")


@dataclass(frozen=True)
class GenrePrediction:
    """Genre probabilities for a track.

    Attributes:
        label: The most probable genre.
        probabilities: One probability per GTZAN genre, summing to 1.
        windows: How many 30 s windows were scored and averaged.
    """

    label: str
    probabilities: dict[str, float]
    windows: int = 1
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if set(self.probabilities) != set(GTZAN_GENRES):
            raise ValueError("probabilities must have exactly the 10 GTZAN genres")
        total = sum(self.probabilities.values())
        if abs(total - 1.0) > 1e-3 or min(self.probabilities.values()) < 0:
            raise ValueError(f"probabilities must be >= 0 and sum to 1, got sum {total:.4f}")
        if self.label != max(self.probabilities, key=self.probabilities.__getitem__):
            raise ValueError("label must be the most probable genre")

    @classmethod
    def from_probabilities(cls, probs: np.ndarray, *, windows: int = 1) -> GenrePrediction:
        """Build from a probability vector in :data:`GTZAN_GENRES` order (renormalised)."""
        p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, None)
        p = p / p.sum()
        d = {g: float(v) for g, v in zip(GTZAN_GENRES, p, strict=True)}
        return cls(GTZAN_GENRES[int(np.argmax(p))], d, windows)

    def top(self, k: int = 2) -> list[tuple[str, float]]:
        """The ``k`` most probable genres with their probabilities."""
        return sorted(self.probabilities.items(), key=lambda kv: (-kv[1], kv[0]))[:k]

    def to_dict(self) -> dict[str, object]:
        """The contract's ``genre`` object."""
        return {"label": self.label, "probabilities": dict(self.probabilities),
                "windows": self.windows, **self.extra}


class GenreScorer(Protocol):
    """What the analysis pipeline needs from a genre model."""

    def window_features(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """Feature row of one (up to 30 s) mono window."""
        ...

    def predict(self, rows: np.ndarray) -> GenrePrediction:
        """Combine the windows' rows into one prediction for the track."""
        ...


class GtzanScorer:
    """The shipped GTZAN genre network behind the :class:`GenreScorer` protocol.

    Features follow the GTZAN table's librosa recipe (:mod:`midi2img.gtzan.features`); the
    network runs in numpy (:class:`midi2img.gtzan.model.GenreMLP`), so scoring never imports
    TensorFlow. A track longer than 30 s is scored window by window and the windows'
    probabilities are averaged.
    """

    def __init__(self, model: GenreMLP) -> None:
        from midi2img.errors import ModelError

        if set(model.labels) != set(GTZAN_GENRES):
            raise ModelError("genre model labels are not the 10 GTZAN genres")
        self.model = model
        self._order = np.array([model.labels.index(g) for g in GTZAN_GENRES])

    def window_features(self, audio: np.ndarray, sr: int) -> np.ndarray:
        """The 57 table features of one (up to 30 s) mono window."""
        from midi2img.gtzan.features import extract_features

        return extract_features(audio, sr=sr)

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """``(windows, 10)`` probabilities in :data:`GTZAN_GENRES` order."""
        return self.model.predict_proba(np.atleast_2d(rows))[:, self._order]

    def predict(self, rows: np.ndarray) -> GenrePrediction:
        """Mean of the windows' probabilities as one prediction for the track."""
        probs = self.probabilities(rows)
        if probs.shape[0] == 0:
            raise ValueError("no feature rows to score")
        return GenrePrediction.from_probabilities(probs.mean(axis=0), windows=probs.shape[0])

    def score_audio(self, audio: np.ndarray, sr: int) -> GenrePrediction:
        """Score a whole mono track: 30 s windows, features, mean probabilities."""
        from midi2img.gtzan.features import windows

        rows = [self.window_features(w, sr) for w in windows(audio, sr=sr)]
        return self.predict(np.stack(rows))


@functools.lru_cache(maxsize=1)
def load_default() -> GenreScorer | None:
    """The genre scorer shipped with the package (loaded once), or None when none is shipped."""
    from midi2img.gtzan.model import WEIGHTS_FILE, GenreMLP, shipped_model_dir

    folder = shipped_model_dir()
    if not (folder / WEIGHTS_FILE).is_file():
        return None
    return GtzanScorer(GenreMLP.load(folder))
