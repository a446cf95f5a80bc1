"""Valence and arousal of an image from its colours and composition alone (numpy + Pillow).

No neural weights: a handful of named features of the picture (brightness, saturation, warmth,
contrast, edge density, colourfulness, hue entropy, ...) go through one ridge regression per axis,
fitted on the OASIS image set's human ratings (Kurdi et al. 2017) by
``bench/image_affect/fit.py``. The shipped coefficients and the figures measured on a held-out
part of OASIS live in ``models/image_affect/image_affect.json`` (plain JSON, no pickle), read by
:func:`load_image_affect`.

Feature definitions (the image is converted to RGB and shrunk so that its long side is at most
:data:`ANALYSIS_SIDE` pixels; all features lie in [0, 1] except ``warmth`` in [-1, 1]):

* ``brightness``: mean HSV value (max of R, G, B).
* ``saturation``: mean HSV saturation.
* ``warmth``: share of chromatic pixels (saturation and value above :data:`CHROMA_MIN`) whose hue
  is warm (red, orange, yellow: hue in [-30, 90) degrees) minus the share whose hue is cool
  (cyan, blue: hue in [150, 270) degrees).
* ``contrast``: standard deviation of the luminance (Rec. 601 luma).
* ``edge_density``: share of pixels whose luminance gradient (central differences) is above
  :data:`EDGE_THRESHOLD`.
* ``colourfulness``: Hasler and Suesstrunk (2003) on the 0..1 scale.
* ``hue_entropy``: entropy of the 12-bin hue histogram of the chromatic pixels, divided by
  log(12); 0 when no pixel is chromatic.
* ``dark_share`` / ``bright_share``: share of pixels with value below 0.2 / above 0.8.

The output per axis is the predicted rating mapped to [-1, 1]: the rating scale's midpoint goes to
0 and its ends to -1 and +1 (OASIS: 1..7, so ``(rating - 4) / 3``), then clipped.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from midi2img.errors import ModelError

if TYPE_CHECKING:
    from PIL import Image

#: The two axes, in the order used everywhere.
AXES: tuple[str, str] = ("valence", "arousal")
#: Long side (pixels) the image is shrunk to before the features are measured.
ANALYSIS_SIDE = 256
#: Saturation and value a pixel needs to count as chromatic (warmth, hue entropy).
CHROMA_MIN = 0.15
#: Luminance gradient (per pixel, 0..1 scale) above which a pixel counts as an edge.
EDGE_THRESHOLD = 0.08
#: Number of hue bins of ``hue_entropy``.
HUE_BINS = 12
#: Every feature :func:`image_features` gives, in order.
FEATURE_NAMES: tuple[str, ...] = (
    "brightness", "saturation", "warmth", "contrast", "edge_density", "colourfulness",
    "hue_entropy", "dark_share", "bright_share",
)
#: Version of the feature definitions; the model file must have been fitted on the same.
FEATURE_VERSION = 1
#: Folder of the shipped model inside the ``midi2img.models`` package.
MODEL_FOLDER = "image_affect"
#: The shipped model's file.
MODEL_FILE = "image_affect.json"


@dataclass(frozen=True)
class ImageAffect:
    """An image's estimated affect.

    Attributes:
        valence: Estimated valence in [-1, 1] (negative unpleasant, positive pleasant).
        arousal: Estimated arousal in [-1, 1] (negative calm, positive exciting).
        features: The named features the estimate was computed from.
    """

    valence: float
    arousal: float
    features: dict[str, float]


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    """The image as a float RGB array in [0, 1], long side at most :data:`ANALYSIS_SIDE`."""
    from PIL import Image as PILImage

    img = image.convert("RGB")
    w, h = img.size
    if w < 1 or h < 1:
        raise ValueError("image has no pixels")
    long_side = max(w, h)
    if long_side > ANALYSIS_SIDE:
        scale = ANALYSIS_SIDE / long_side
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = img.resize(size, PILImage.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(img, dtype=np.float64) / 255.0


def image_features(image: Image.Image) -> dict[str, float]:
    """The named colour and composition features of an image (see the module docstring).

    Args:
        image: Any Pillow image (converted to RGB; an alpha channel is dropped).

    Returns:
        ``{name: value}`` for every name in :data:`FEATURE_NAMES`, in that order.

    Raises:
        ValueError: The image has no pixels.
    """
    rgb = _to_rgb_array(image)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=2)
    c = v - rgb.min(axis=2)
    s = np.divide(c, v, out=np.zeros_like(c), where=v > 0)
    # hue in degrees [0, 360)
    safe_c = np.where(c > 0, c, 1.0)
    hue = np.where(
        v == r, ((g - b) / safe_c) % 6.0,
        np.where(v == g, (b - r) / safe_c + 2.0, (r - g) / safe_c + 4.0)) * 60.0
    hue = np.where(c > 0, hue, 0.0)
    chromatic = (s > CHROMA_MIN) & (v > CHROMA_MIN)
    n = float(v.size)
    hue_c = hue[chromatic]
    shifted = (hue_c + 30.0) % 360.0  # warm: [-30, 90) -> [0, 120)
    warm = float(np.count_nonzero(shifted < 120.0))
    cool = float(np.count_nonzero((hue_c >= 150.0) & (hue_c < 270.0)))
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    if luma.shape[0] > 2 and luma.shape[1] > 2:
        gx = (luma[1:-1, 2:] - luma[1:-1, :-2]) * 0.5
        gy = (luma[2:, 1:-1] - luma[:-2, 1:-1]) * 0.5
        edges = float(np.mean(np.hypot(gx, gy) > EDGE_THRESHOLD))
    else:
        edges = 0.0
    rg = r - g
    yb = 0.5 * (r + g) - b
    colourfulness = math.sqrt(float(rg.std()) ** 2 + float(yb.std()) ** 2) + 0.3 * math.sqrt(
        float(rg.mean()) ** 2 + float(yb.mean()) ** 2)
    if hue_c.size:
        counts = np.bincount((hue_c * (HUE_BINS / 360.0)).astype(np.int64) % HUE_BINS,
                             minlength=HUE_BINS).astype(np.float64)
        p = counts[counts > 0] / hue_c.size
        hue_entropy = float(-(p * np.log(p)).sum() / math.log(HUE_BINS))
    else:
        hue_entropy = 0.0
    values = (
        float(v.mean()), float(s.mean()), (warm - cool) / n, float(luma.std()), edges,
        colourfulness, hue_entropy, float(np.mean(v < 0.2)), float(np.mean(v > 0.8)),
    )
    return {name: round(val, 12) + 0.0 for name, val in zip(FEATURE_NAMES, values, strict=True)}


@dataclass(frozen=True)
class ImageAffectModel:
    """Ridge regression per axis on standardised image features, fitted on human ratings.

    Attributes:
        feature_names: The features used, in the order of ``mean``, ``scale`` and each coef row.
        mean: Training mean of each feature.
        scale: Training standard deviation of each feature.
        coef: Per axis, the weights of the standardised features (0 for a feature left out).
        intercept: Per axis, the predicted rating of an all-average image.
        clip_z: Standardised features are clipped to +-clip_z before the weights apply.
        rating_scale: (lowest, highest) value of the rating scale the model predicts.
        heldout_spearman: Per axis, Spearman rho on the held-out split (measured once).
        heldout_n: Number of held-out images.
        dataset: The rated image set it was fitted on.
        figures: Everything else that was measured (Pearson, intervals, CV, literature row).
    """

    feature_names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: dict[str, tuple[float, ...]]
    intercept: dict[str, float]
    clip_z: float
    rating_scale: tuple[float, float]
    heldout_spearman: dict[str, float]
    heldout_n: int
    dataset: str
    figures: dict[str, Any]

    def __post_init__(self) -> None:
        k = len(self.feature_names)
        unknown = [f for f in self.feature_names if f not in FEATURE_NAMES]
        if unknown:
            raise ModelError(f"image affect model: unknown features {unknown}")
        if len(self.mean) != k or len(self.scale) != k:
            raise ModelError("image affect model: mean/scale do not match feature_names")
        if any(not (math.isfinite(x) and x > 0) for x in self.scale):
            raise ModelError("image affect model: a feature scale is not a positive number")
        for axis in AXES:
            if axis not in self.coef or len(self.coef[axis]) != k:
                raise ModelError(f"image affect model: coef of {axis} missing or wrong length")
            if axis not in self.intercept:
                raise ModelError(f"image affect model: intercept of {axis} missing")
        lo, hi = self.rating_scale
        if not hi > lo:
            raise ModelError("image affect model: rating_scale is not (low, high)")

    def rating(self, features: Mapping[str, float]) -> dict[str, float]:
        """Predicted ratings (on :attr:`rating_scale`, not clipped) from named features."""
        x = np.array([features[f] for f in self.feature_names], dtype=np.float64)
        z = np.clip((x - np.asarray(self.mean)) / np.asarray(self.scale),
                    -self.clip_z, self.clip_z)
        return {axis: float(self.intercept[axis] + z @ np.asarray(self.coef[axis]))
                for axis in AXES}

    def to_unit(self, rating: float) -> float:
        """A rating mapped to [-1, 1]: scale midpoint -> 0, scale ends -> -1 and +1, clipped."""
        lo, hi = self.rating_scale
        mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
        return float(min(1.0, max(-1.0, (rating - mid) / half)))

    def predict(self, image: Image.Image) -> ImageAffect:
        """The image's estimated valence and arousal in [-1, 1], with its features.

        Args:
            image: Any Pillow image.

        Returns:
            The estimate; the same image always gives the same numbers.
        """
        feats = image_features(image)
        rated = self.rating(feats)
        return ImageAffect(valence=self.to_unit(rated["valence"]),
                           arousal=self.to_unit(rated["arousal"]),
                           features={f: feats[f] for f in self.feature_names})

    def to_dict(self) -> dict[str, Any]:
        """The model as plain JSON-able data (what :meth:`from_dict` reads)."""
        return {
            "feature_version": FEATURE_VERSION,
            "feature_names": list(self.feature_names),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": {a: list(self.coef[a]) for a in AXES},
            "intercept": {a: self.intercept[a] for a in AXES},
            "clip_z": self.clip_z,
            "rating_scale": list(self.rating_scale),
            "heldout_spearman": {a: self.heldout_spearman[a] for a in AXES},
            "heldout_n": self.heldout_n,
            "dataset": self.dataset,
            "figures": self.figures,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ImageAffectModel:
        """Build a model from :meth:`to_dict`'s data.

        Raises:
            ModelError: A field is missing, of the wrong kind, or the features were defined
                differently (another ``feature_version``).
        """
        try:
            if int(d["feature_version"]) != FEATURE_VERSION:
                raise ModelError(
                    f"image affect model: feature_version {d['feature_version']}, this code "
                    f"computes version {FEATURE_VERSION}")
            lo, hi = d["rating_scale"]
            return cls(
                feature_names=tuple(str(f) for f in d["feature_names"]),
                mean=tuple(float(x) for x in d["mean"]),
                scale=tuple(float(x) for x in d["scale"]),
                coef={a: tuple(float(x) for x in d["coef"][a]) for a in AXES},
                intercept={a: float(d["intercept"][a]) for a in AXES},
                clip_z=float(d["clip_z"]),
                rating_scale=(float(lo), float(hi)),
                heldout_spearman={a: float(d["heldout_spearman"][a]) for a in AXES},
                heldout_n=int(d["heldout_n"]),
                dataset=str(d["dataset"]),
                figures=dict(d.get("figures", {})),
            )
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"image affect model: malformed ({type(exc).__name__}: {exc})"
                             ) from exc


def read_image_affect(path: str | Path | Traversable) -> ImageAffectModel:
    """Read a model file written by ``bench/image_affect/fit.py``.

    Raises:
        ModelError: The file is missing, not JSON, or not a valid model.
    """
    if isinstance(path, str):
        path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise ModelError(f"image affect model not found: {path}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"image affect model {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"image affect model {path} is not a JSON object")
    return ImageAffectModel.from_dict(data)


def shipped_model_path() -> Traversable:
    """Where the shipped model file lives (``models/image_affect/image_affect.json``)."""
    return resources.files("midi2img.models") / MODEL_FOLDER / MODEL_FILE


@functools.cache
def load_image_affect() -> ImageAffectModel:
    """The shipped image affect model (read once, then cached).

    Raises:
        ModelError: The model file is missing or broken.
    """
    return read_image_affect(shipped_model_path())
