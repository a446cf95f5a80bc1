"""The offline abstract renderer (:mod:`midi2img.render.abstract`): deterministic, and driven by
the music in the expected way."""

from __future__ import annotations

import colorsys
from typing import Any

import numpy as np
import pytest

from midi2img.render import abstract as art

BASE: dict[str, Any] = {
    "key": "C major", "tempo_bpm": 110.0,
    "notes": {"count": 80, "density_per_s": 4.0, "pitch_median": 62.0, "mean_velocity": 80.0,
              "articulation": 0.8, "bass_ratio": 0.2},
    "harmony": {"major_chord_ratio": 0.5, "minor_chord_ratio": 0.5, "dissonance": 0.1},
    "chords": [{"start_s": 2.0 * i, "end_s": 2.0 * i + 2, "label": lab}
               for i, lab in enumerate(["C:maj", "G:maj", "A:min", "F:maj"])],
}


def _with(**kw: Any) -> dict[str, Any]:
    return {**BASE, **kw}


def _stats(im: Any) -> tuple[float, float, float, float]:
    """Mean brightness, mean saturation, warmth (R - B), luminance spread."""
    a = np.asarray(im, dtype=np.float64) / 255.0
    hsv = np.array([colorsys.rgb_to_hsv(*px) for px in a[::4, ::4].reshape(-1, 3)])
    lum = a @ np.array([0.299, 0.587, 0.114])
    return (float(hsv[:, 2].mean()), float(hsv[:, 1].mean()),
            float((a[..., 0] - a[..., 2]).mean()), float(lum.std()))


def test_same_analysis_and_seed_give_the_same_pixels() -> None:
    a = art.render_abstract(BASE, seed=42, width=128, height=96)
    b = art.render_abstract(BASE, seed=42, width=128, height=96)
    c = art.render_abstract(BASE, seed=43, width=128, height=96)
    assert a.size == (128, 96) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_valence_warms_and_brightens() -> None:
    happy = _stats(art.render_abstract(_with(affect={"valence": 0.8, "arousal": 0.0}), seed=1,
                                       width=128, height=128))
    sad = _stats(art.render_abstract(_with(affect={"valence": -0.8, "arousal": 0.0}), seed=1,
                                     width=128, height=128))
    assert happy[0] > sad[0] + 0.05  # brighter
    assert happy[2] > sad[2] + 0.1  # warmer: more red than blue


def test_arousal_raises_saturation_and_contrast() -> None:
    def mean_stats(arousal: float) -> np.ndarray:
        return np.mean([_stats(art.render_abstract(
            _with(affect={"valence": 0.0, "arousal": arousal}), seed=s, width=128, height=128))
            for s in range(3)], axis=0)

    hot, calm = mean_stats(0.9), mean_stats(-0.9)
    assert hot[1] > calm[1] + 0.2  # more saturated
    assert hot[3] > calm[3] + 0.01  # more contrast


def test_proxies_without_affect_follow_mode_tempo_and_loudness() -> None:
    bright = art.art_params(_with(key="D major", tempo_bpm=150.0,
                                  harmony={"major_chord_ratio": 0.9, "minor_chord_ratio": 0.1},
                                  notes={**BASE["notes"], "mean_velocity": 105.0,
                                         "density_per_s": 9.0}))
    dark = art.art_params(_with(key="D minor", tempo_bpm=65.0,
                                harmony={"major_chord_ratio": 0.1, "minor_chord_ratio": 0.9},
                                notes={**BASE["notes"], "mean_velocity": 45.0,
                                       "density_per_s": 1.0}))
    assert bright.affect_source == dark.affect_source == "proxy"
    assert bright.valence > 0.3 > -0.3 > dark.valence
    assert bright.arousal > 0.3 > -0.3 > dark.arousal
    assert dark.minor and not bright.minor
    assert bright.form == "sharp" and dark.form == "soft"


def test_genre_and_register_shape_the_picture() -> None:
    assert art.art_params(_with(genre={"label": "disco"})).form == "grid"
    assert art.art_params(_with(genre={"label": "metal"})).form == "sharp"
    assert art.art_params(_with(genre={"label": "classical"})).form == "soft"
    high = art.art_params(_with(notes={**BASE["notes"], "pitch_median": 84.0}))
    low = art.art_params(_with(notes={**BASE["notes"], "pitch_median": 40.0}))
    assert high.register > 0.8 > 0.2 > low.register


def test_different_tracks_look_clearly_different() -> None:
    a = np.asarray(art.render_abstract(_with(affect={"valence": 0.7, "arousal": 0.6},
                                             genre={"label": "disco"}), seed=5,
                                       width=128, height=128), dtype=np.float64)
    b = np.asarray(art.render_abstract(_with(key="F# minor",
                                             affect={"valence": -0.6, "arousal": -0.5},
                                             genre={"label": "classical"}), seed=5,
                                       width=128, height=128), dtype=np.float64)
    assert np.abs(a - b).mean() > 40


def test_missing_keys_get_defaults() -> None:
    im = art.render_abstract({}, seed=0, width=64, height=64)
    assert im.size == (64, 64)


def test_contact_sheet_lays_out_a_grid_with_labels() -> None:
    ims = [art.render_abstract(BASE, seed=i, width=64, height=64) for i in range(5)]
    sheet = art.contact_sheet(ims, [f"{i}  0:0{i}-0:0{i + 1}" for i in range(5)], title="t")
    assert sheet.width > 4 * 64 and sheet.height > 2 * 64
    with pytest.raises(ValueError):
        art.contact_sheet(ims, ["one label"])


def test_a_recording_without_pitched_notes_gets_no_key_colour_and_no_chord_line() -> None:
    # what a drum solo's analysis holds: no key, no chords, null note statistics
    drums = {"key": None, "tempo_bpm": 118.0, "chords": [],
             "notes": {"count": 0, "density_per_s": None, "pitch_median": None},
             "harmony": {"major_chord_ratio": None, "dissonance": None},
             "affect": {"valence": 0.6, "arousal": 0.9}}
    p = art.art_params(drums)
    assert p.tonic_pc is None and not p.minor and p.chord_roots == ()
    # the hue is valence's alone: no key turns it (C major would turn it by -14 degrees)
    keyed = art.art_params({**drums, "key": "C major"})
    assert art.palette(p).hue * 360 == pytest.approx(230.0 + ((0.6 + 1) / 2) ** 0.8 * 170.0)
    assert art.palette(keyed).hue * 360 == pytest.approx(art.palette(p).hue * 360 - 14.0)
    rng = np.random.default_rng(0)
    lines = np.asarray(art._chord_lines(rng, art.palette(p), p, 64, 64))
    assert lines[..., 3].max() == 0  # nothing drawn
    lines = np.asarray(art._chord_lines(rng, art.palette(keyed), keyed, 64, 64))
    assert lines[..., 3].max() > 0  # a key without chords still draws its one line
    img = art.render_abstract(drums, seed=3, width=96, height=96)
    assert img.size == (96, 96)
