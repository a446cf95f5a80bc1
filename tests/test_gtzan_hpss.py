"""The fast HPSS used by the genre features equals librosa's."""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi

from midi2img.gtzan.hpss import hpss, median_filter_freq, median_filter_time


def test_running_medians_equal_scipy() -> None:
    rng = np.random.default_rng(1)
    S = rng.random((97, 211)).astype(np.float32)
    S[:, 50:60] = 0.5  # ties
    assert np.array_equal(median_filter_time(S), ndi.median_filter(S, size=(1, 31),
                                                                   mode="reflect"))
    assert np.array_equal(median_filter_freq(S, 7), ndi.median_filter(S, size=(7, 1),
                                                                      mode="reflect"))


def test_hpss_equals_librosa() -> None:
    import librosa

    rng = np.random.default_rng(2)
    sr = 22050
    t = np.arange(sr * 3) / sr
    y = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * rng.standard_normal(t.size)
         * (np.sin(2 * np.pi * 3 * t) > 0.9)).astype(np.float32)
    h, p = hpss(y)
    h_ref, p_ref = librosa.effects.hpss(y)
    assert np.allclose(h, h_ref, atol=1e-6) and np.allclose(p, p_ref, atol=1e-6)
