"""midi2img.mood.calibration: the Platt fit is well determined (unique, exact, stable to
last-digit changes of its inputs), and the quadrant confidence both affect models give."""

from __future__ import annotations

import numpy as np
import pytest

from midi2img.mood.calibration import (
    expected_calibration_error,
    fit_platt,
    logit,
    quadrant_confidence,
    quadrant_right,
    raw_quadrant_probability,
    sigmoid,
)


def _valid_like(seed: int = 0, n: int = 198) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (n, 2) and true signs drawn from them (a calibrated model of EMOPIA valid's
    size)."""
    rng = np.random.default_rng(seed)
    prob = sigmoid(rng.normal(scale=2.0, size=(n, 2)))
    return prob, rng.random((n, 2)) < prob


def _platt_of(prob: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return fit_platt(logit(raw_quadrant_probability(prob)), quadrant_right(prob, truth))


def test_platt_is_the_exact_optimum() -> None:
    prob, truth = _valid_like()
    z, right = logit(raw_quadrant_probability(prob)), quadrant_right(prob, truth)
    w = fit_platt(z, right)
    # Platt's smoothed targets, weak prior: the gradient vanishes at the answer
    n1, n0 = right.sum(), (~right).sum()
    t = np.where(right, (n1 + 1) / (n1 + 2), 1 / (n0 + 2))
    p = sigmoid(w[0] * z + w[1])
    grad = np.array([(p - t) @ z, (p - t).sum()]) + 1e-3 * (w - [1.0, 0.0])
    assert np.abs(grad).max() < 1e-9
    assert 0.2 < w[0] < 3.0  # a sensible map, not a solver's wandering
    assert np.array_equal(fit_platt(z, right), w)  # deterministic to the bit


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_platt_is_stable_to_last_digit_changes(seed: int) -> None:
    """Inputs moved by ~1e-12 (another CPU's rounding) move the map by far less than 1e-6."""
    prob, truth = _valid_like(seed)
    w = _platt_of(prob, truth)
    rng = np.random.default_rng(100 + seed)
    for _ in range(5):
        moved = prob + rng.normal(size=prob.shape) * 1e-12
        assert np.abs(_platt_of(moved, truth) - w).max() < 1e-6


def test_platt_is_finite_when_classes_separate_or_scores_tie() -> None:
    z = np.array([-2.0, -1.0, 1.0, 2.0])
    w = fit_platt(z, z > 0)  # separable: plain maximum likelihood would run to infinity
    assert np.all(np.isfinite(w)) and w[0] > 0
    assert np.all(np.isfinite(fit_platt(np.ones(5), np.array([1, 0, 1, 1, 0]))))
    assert np.all(np.isfinite(fit_platt(z, np.ones(4, dtype=bool))))
    with pytest.raises(ValueError):
        fit_platt(np.array([]), np.array([]))
    with pytest.raises(ValueError):
        fit_platt(np.array([1.0, np.nan]), np.array([True, False]))


def test_quadrant_confidence_and_ece() -> None:
    prob = np.array([[0.9, 0.8], [0.3, 0.6], [0.5, 0.5]])
    raw = raw_quadrant_probability(prob)
    np.testing.assert_allclose(raw, [0.72, 0.42, 0.25])
    # the identity map gives the raw probability back
    np.testing.assert_allclose(quadrant_confidence(prob, np.array([1.0, 0.0])), raw)
    assert quadrant_right(prob, np.array([[True, True], [True, True], [True, True]])).tolist() \
        == [True, False, True]
    conf, right = np.array([0.95, 0.95, 0.15, 0.15]), np.array([1, 1, 0, 1])
    # bins 0.9-1.0: |0.95 - 1| (half the items), 0.1-0.2: |0.15 - 0.5|
    assert expected_calibration_error(conf, right) == pytest.approx(0.5 * 0.05 + 0.5 * 0.35)
