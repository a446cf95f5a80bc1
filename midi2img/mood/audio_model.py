"""The affect model of recordings (numpy at run time, no pickle).

Input: :func:`midi2img.mood.audio_features.affect_features`, the pooled sound descriptors and
musicnn tag probabilities of a recording or of a section of it. Per axis (valence, arousal) a
logistic regression on the standardised features (clipped to +-5 standard deviations, so that
a value never seen in training cannot dominate) gives ``P(axis > 0)``, recalibrated by a Platt
map fitted on artist-grouped out-of-fold predictions; the score is ``2 P - 1``. The confidence is
the probability that the quadrant (the signs of both scores) is right: the product of the two
axes' probabilities of their predicted signs, recalibrated the same way
(:mod:`midi2img.mood.calibration`). The shipped model (``models/mood_audio``) is loaded with
:func:`midi2img.modeling.load_shipped` (name ``"affect_audio"``), a training run's folder with
:func:`midi2img.modeling.load_model`.
"""

from __future__ import annotations

from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from midi2img.errors import ModelError
from midi2img.mood.calibration import quadrant_confidence, sigmoid
from midi2img.mood.model import AXES, AffectEstimate

if TYPE_CHECKING:
    from midi2img.modeling import ModelCard
    from midi2img.mood.audio_features import SoundRows
    from midi2img.tagger import TagResult

#: File holding the weights (plain arrays, loaded with ``allow_pickle=False``).
WEIGHTS_FILE = "mood_audio.npz"
#: Name of this model in :attr:`AffectEstimate.model`.
MODEL_NAME = "audio"


class AudioAffectModel:
    """Valence and arousal of a recording (or a section) from its sound and its tags.

    Arrays (``mood_audio.npz``): ``feature_names``, ``scaler_mean``, ``scaler_scale``,
    ``clip_z`` (standardised features are clipped to +-clip_z), ``coef`` (2 x features, rows
    as :data:`~midi2img.mood.model.AXES`), ``intercept`` (2),
    ``platt`` (2 x 2: slope and offset per axis on the log-odds) and ``quadrant_platt`` (2: the
    same for the log-odds of the quadrant's probability).
    """

    #: Its name in :data:`midi2img.modeling.SHIPPED`.
    shipped_name: ClassVar[str] = "affect_audio"

    def __init__(self, arrays: dict[str, np.ndarray], card: ModelCard | None = None) -> None:
        from midi2img.mood.audio_features import affect_feature_names

        try:
            names = tuple(str(n) for n in arrays["feature_names"])
            self.mean = arrays["scaler_mean"].astype(np.float64)
            self.scale = arrays["scaler_scale"].astype(np.float64)
            self.clip_z = float(arrays["clip_z"])
            self.coef = arrays["coef"].astype(np.float64)
            self.intercept = arrays["intercept"].astype(np.float64)
            self.platt = arrays["platt"].astype(np.float64)
            self.quadrant_platt = arrays["quadrant_platt"].astype(np.float64)
        except KeyError as exc:
            raise ModelError(f"the audio affect model lacks the array {exc}") from exc
        n = len(names)
        shapes = {"scaler_mean": (self.mean.shape, (n,)), "scaler_scale": (self.scale.shape, (n,)),
                  "coef": (self.coef.shape, (2, n)), "intercept": (self.intercept.shape, (2,)),
                  "platt": (self.platt.shape, (2, 2)),
                  "quadrant_platt": (self.quadrant_platt.shape, (2,))}
        bad = [k for k, (got, want) in shapes.items() if got != want]
        if bad:
            raise ModelError(f"the audio affect model's arrays have wrong shapes: {bad}")
        if names != affect_feature_names():
            raise ModelError("the audio affect model was trained on other features than this "
                             "version computes; retrain it (make train-mood)")
        if np.any(self.scale <= 0) or not self.clip_z > 0:
            raise ModelError("the audio affect model has a non-positive scale or clip")
        self.feature_names = names
        self.arrays = arrays
        self.card = card

    # ---------------------------------------------------------------- persistence
    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], card: ModelCard | None
                    ) -> AudioAffectModel:
        """The model from the arrays of ``mood_audio.npz`` and its card (what
        :func:`midi2img.modeling.load_model` calls)."""
        return cls(arrays, card)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays :meth:`from_arrays` reads."""
        return dict(self.arrays)

    @classmethod
    def load(cls, folder: str | Path | Traversable) -> AudioAffectModel:
        """Load a model folder (``mood_audio.npz``, no pickle, and its card) through
        :func:`midi2img.modeling.load_model`.

        Raises:
            ModelError: the files are missing or malformed.
        """
        from midi2img.modeling import load_model

        model: AudioAffectModel = load_model(cls.shipped_name, folder)
        return model

    def save(self, folder: Path) -> None:
        """Write ``mood_audio.npz`` atomically into ``folder`` (same model, same bytes)."""
        from midi2img.modeling import save_weights

        save_weights(folder, self.shipped_name, self.to_arrays())

    # ---------------------------------------------------------------- prediction
    def raw_log_odds(self, X: np.ndarray) -> np.ndarray:
        """Uncalibrated log-odds of ``axis > 0``, shape (n, 2), columns as :data:`AXES`."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != self.mean.size:
            raise ValueError(f"expected {self.mean.size} features, got {X.shape[1]}")
        z = np.clip((X - self.mean) / self.scale, -self.clip_z, self.clip_z)
        return z @ self.coef.T + self.intercept

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """Calibrated ``P(axis > 0)``, shape (n, 2), columns as :data:`AXES`."""
        raw = self.raw_log_odds(X)
        return sigmoid(raw * self.platt[:, 0] + self.platt[:, 1])

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Signed valence and arousal in [-1, 1], shape (n, 2)."""
        return np.clip(2.0 * self.probabilities(X) - 1.0, -1.0, 1.0)

    def confidence(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probability that the predicted quadrant is right, shape (n,)."""
        return quadrant_confidence(self.probabilities(X), self.quadrant_platt)

    def estimate(self, x: np.ndarray) -> AffectEstimate:
        """The estimate for one feature vector (ordered as ``feature_names``)."""
        x = np.asarray(x, dtype=np.float64)[None, :]
        v, a = self.scores(x)[0]
        return AffectEstimate(float(v), float(a), float(self.confidence(x)[0]), MODEL_NAME)

    def predict(self, sound: SoundRows, tags: TagResult, *, start_s: float | None = None,
                end_s: float | None = None) -> AffectEstimate:
        """Valence, arousal and confidence of a recording, or of ``[start_s, end_s)`` of it.

        Args:
            sound: :meth:`midi2img.mood.audio_features.AudioMoodStream.result` of the pass.
            tags: :meth:`midi2img.tagger.TagStream.result` of the same pass.
            start_s: Start of a section (with ``end_s``), None for the whole recording.
            end_s: End of the section.

        Raises:
            InputError: an empty section, or only one of ``start_s``/``end_s``.
        """
        from midi2img.mood.audio_features import affect_features

        return self.estimate(affect_features(sound, tags, start_s=start_s, end_s=end_s))


__all__ = ["AXES", "MODEL_NAME", "WEIGHTS_FILE", "AudioAffectModel"]
