"""The weight-free image affect estimator (midi2img.render.image_affect); needs no image set."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from midi2img.errors import ModelError
from midi2img.render.image_affect import (
    AXES,
    FEATURE_NAMES,
    ImageAffect,
    ImageAffectModel,
    image_features,
    load_image_affect,
    read_image_affect,
    shipped_model_path,
)


def solid(rgb: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Image.Image:
    return Image.new("RGB", size, rgb)


def test_white_image_features() -> None:
    f = image_features(solid((255, 255, 255)))
    assert list(f) == list(FEATURE_NAMES)
    assert f["brightness"] == 1.0
    assert f["saturation"] == 0.0
    assert f["edge_density"] == 0.0
    assert f["contrast"] == 0.0
    assert f["colourfulness"] == 0.0
    assert f["warmth"] == 0.0
    assert f["hue_entropy"] == 0.0
    assert f["bright_share"] == 1.0
    assert f["dark_share"] == 0.0


def test_pure_colours_features() -> None:
    red = image_features(solid((255, 0, 0)))
    assert red["saturation"] == 1.0 and red["brightness"] == 1.0
    assert red["warmth"] == 1.0
    # Hasler-Suesstrunk on a flat red: stds 0, 0.3 * sqrt(1 + 0.5**2)
    assert red["colourfulness"] == pytest.approx(0.3 * math.sqrt(1.25))
    blue = image_features(solid((0, 0, 255)))
    assert blue["warmth"] == -1.0
    black = image_features(solid((0, 0, 0)))
    assert black["brightness"] == 0.0 and black["dark_share"] == 1.0


def test_edges_contrast_and_hue_entropy() -> None:
    arr = np.zeros((64, 64, 3), dtype=np.uint8)
    arr[:, 32:] = 255  # black | white halves
    f = image_features(Image.fromarray(arr))
    assert f["contrast"] == pytest.approx(0.5)
    # one vertical step edge: 2 of the 62 inner columns see it
    assert f["edge_density"] == pytest.approx(2 / 62)
    stripes = np.zeros((60, 60, 3), dtype=np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for i, c in enumerate(colours):
        stripes[:, i * 20:(i + 1) * 20] = c
    f3 = image_features(Image.fromarray(stripes))
    assert f3["hue_entropy"] == pytest.approx(math.log(3) / math.log(12))


def test_large_image_is_shrunk_and_grey_alpha_handled() -> None:
    big = solid((128, 128, 128), (2048, 1024))
    f = image_features(big)
    assert f["saturation"] == 0.0
    assert f["brightness"] == pytest.approx(128 / 255)
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    assert image_features(rgba)["warmth"] == 1.0
    assert image_features(Image.new("L", (10, 10), 255))["brightness"] == 1.0


def test_shipped_model_loads_and_round_trips() -> None:
    m = load_image_affect()
    assert m is load_image_affect()  # cached
    assert m.feature_names == FEATURE_NAMES
    assert m.dataset.startswith("OASIS")
    assert m.heldout_n > 100
    assert set(m.heldout_spearman) == set(AXES)
    assert all(-1.0 <= m.heldout_spearman[a] <= 1.0 for a in AXES)
    raw = json.loads(shipped_model_path().read_text(encoding="utf-8"))
    assert ImageAffectModel.from_dict(raw) == m
    again = ImageAffectModel.from_dict(json.loads(json.dumps(m.to_dict())))
    assert again == m
    assert m.rating_scale == (1.0, 7.0)


def test_predict_is_deterministic_and_in_range() -> None:
    m = load_image_affect()
    rng = np.random.default_rng(3)
    img = Image.fromarray(rng.integers(0, 256, (100, 80, 3), dtype=np.uint8))
    a, b = m.predict(img), m.predict(img.copy())
    assert isinstance(a, ImageAffect)
    assert a == b
    assert -1.0 <= a.valence <= 1.0 and -1.0 <= a.arousal <= 1.0
    assert set(a.features) == set(m.feature_names)


def test_bright_saturated_warm_vs_grey_dark_follows_fitted_signs() -> None:
    m = load_image_affect()
    hot = m.predict(solid((255, 140, 0)))
    grey = m.predict(solid((60, 60, 60)))
    # what the fitted weights say, computed by hand from the coefficients
    def rating(feats: dict[str, float], axis: str) -> float:
        z = [(feats[f] - mu) / sd for f, mu, sd in zip(m.feature_names, m.mean, m.scale,
                                                        strict=True)]
        z = [max(-m.clip_z, min(m.clip_z, v)) for v in z]
        return m.intercept[axis] + sum(w * v for w, v in zip(m.coef[axis], z, strict=True))
    for axis in AXES:
        expect = (rating(hot.features, axis) - 4.0) / 3.0
        assert getattr(hot, axis) == pytest.approx(max(-1.0, min(1.0, expect)))
    # the shipped fit: brightness and saturation raise valence, and the hot image is the more
    # arousing of the two
    v = dict(zip(m.feature_names, m.coef["valence"], strict=True))
    assert v["brightness"] > 0 and v["saturation"] > 0
    assert hot.valence > grey.valence
    assert hot.arousal > grey.arousal


def test_to_unit_maps_scale_ends_and_clips() -> None:
    m = load_image_affect()
    assert m.to_unit(4.0) == 0.0
    assert m.to_unit(7.0) == 1.0 and m.to_unit(1.0) == -1.0
    assert m.to_unit(10.0) == 1.0 and m.to_unit(-3.0) == -1.0


def test_missing_and_broken_model_files(tmp_path) -> None:
    with pytest.raises(ModelError, match="not found"):
        read_image_affect(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="not valid JSON"):
        read_image_affect(bad)
    d = load_image_affect().to_dict()
    del d["coef"]["arousal"]
    part = tmp_path / "part.json"
    part.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(ModelError, match="malformed"):
        read_image_affect(part)
    d = load_image_affect().to_dict()
    d["feature_version"] = 99
    other = tmp_path / "other.json"
    other.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(ModelError, match="feature_version"):
        read_image_affect(str(other))
    d = load_image_affect().to_dict()
    d["scale"][0] = 0.0
    zero = tmp_path / "zero.json"
    zero.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(ModelError, match="scale"):
        read_image_affect(zero)
