"""Calibration of the affect models' probabilities: Platt maps, the quadrant confidence and its
expected calibration error.

Both models (:mod:`midi2img.mood.model`, :mod:`midi2img.mood.audio_model`) give a confidence
that the quadrant is right: the product of each axis' probability of its predicted sign,
recalibrated by a Platt map (slope and offset on the log-odds). :func:`fit_platt` fits such a
map so that it is well determined: Platt's (1999) smoothed targets and a weak prior towards the
identity map make the optimum unique and finite even when the classes separate, and Newton's
method solves it to machine precision, so inputs that differ in their last digits (another CPU)
give the same map to far better than 1e-6.
"""

from __future__ import annotations

import numpy as np

#: Precision of the prior that pulls a Platt map towards the identity (slope 1, offset 0). Weak:
#: the log-likelihood's curvature is of the order of the number of items.
PLATT_PRIOR_PRECISION = 1e-3
#: Newton's iterations stop when no parameter moves by more than this.
PLATT_TOLERANCE = 1e-13
_MAX_NEWTON_STEPS = 100


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function (its argument clipped to +-50)."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities (clipped to [1e-9, 1 - 1e-9])."""
    p = np.clip(p, 1e-9, 1.0 - 1e-9)
    return np.log(p / (1.0 - p))


def raw_quadrant_probability(prob: np.ndarray) -> np.ndarray:
    """The uncalibrated probability that the quadrant is right: the product of each axis'
    probability of its predicted sign, for probabilities ``P(axis > 0)`` of shape (n, 2)."""
    p = np.atleast_2d(prob)
    return np.prod(np.maximum(p, 1.0 - p), axis=1)


def quadrant_confidence(prob: np.ndarray, platt: np.ndarray) -> np.ndarray:
    """Probability that the quadrant given by the signs of ``prob`` (n, 2) is right:
    :func:`raw_quadrant_probability` recalibrated by ``platt`` (slope, offset on the
    log-odds)."""
    return sigmoid(logit(raw_quadrant_probability(prob)) * platt[0] + platt[1])


def quadrant_right(prob: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Whether the signs of ``prob`` (n, 2) give the true quadrant (``truth``: n x 2 booleans
    ``axis > 0``)."""
    return np.all((np.atleast_2d(prob) >= 0.5) == truth, axis=1)


def fit_platt(score: np.ndarray, right: np.ndarray, *,
              prior_precision: float = PLATT_PRIOR_PRECISION) -> np.ndarray:
    """Platt map ``(slope, offset)`` such that ``sigmoid(slope * score + offset)`` is the
    probability of ``right``.

    Maximises the likelihood of Platt's smoothed targets (``(N+ + 1) / (N+ + 2)`` for the
    positives, ``1 / (N- + 2)`` for the negatives) plus a Gaussian prior of precision
    ``prior_precision`` around the identity map, by Newton's method with a backtracking line
    search. The objective is strictly convex, so the map is unique and does not depend on a
    solver's stopping rule.

    Raises:
        ValueError: no items, mismatched shapes, non-finite scores, or no convergence.
    """
    z = np.asarray(score, dtype=np.float64).ravel()
    y = np.asarray(right, dtype=bool).ravel()
    if z.size == 0 or z.size != y.size:
        raise ValueError(f"fit_platt needs as many scores as labels, got {z.size} and {y.size}")
    if not np.all(np.isfinite(z)):
        raise ValueError("fit_platt needs finite scores")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    t = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    X = np.stack([z, np.ones_like(z)], axis=1)
    prior_mean = np.array([1.0, 0.0])

    def loss(w: np.ndarray) -> float:
        a = X @ w
        # -[t log s(a) + (1 - t) log(1 - s(a))] = log(1 + e^a) - t a, computed stably
        nll = np.logaddexp(0.0, a) - t * a
        return float(nll.sum() + 0.5 * prior_precision * np.sum((w - prior_mean) ** 2))

    w = prior_mean.copy()
    current = loss(w)
    for _ in range(_MAX_NEWTON_STEPS):
        p = sigmoid(X @ w)
        grad = X.T @ (p - t) + prior_precision * (w - prior_mean)
        hess = (X * (p * (1.0 - p))[:, None]).T @ X + prior_precision * np.eye(2)
        step = np.linalg.solve(hess, grad)
        if np.max(np.abs(step)) <= PLATT_TOLERANCE:
            return w - step
        if grad @ step < 1e-8:  # Newton's decrement: in the quadratic region, take full steps
            w = w - step       # (the loss's rounding noise would stall a line search here)
            current = loss(w)
            continue
        scale = 1.0
        while scale > 1e-10:
            trial = w - scale * step
            value = loss(trial)
            if value <= current:
                break
            scale *= 0.5
        else:  # no decrease at any step length: at the optimum to rounding
            return w
        w, current = trial, value
    raise ValueError("the Platt fit did not converge")


def expected_calibration_error(conf: np.ndarray, right: np.ndarray, *, bins: int = 10
                               ) -> float:
    """ECE: mean |confidence - accuracy| over equal-width confidence bins, weighted by count."""
    conf = np.asarray(conf, dtype=np.float64)
    right = np.asarray(right, dtype=np.float64)
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for k in range(bins):
        m = idx == k
        if m.any():
            total += m.mean() * abs(conf[m].mean() - right[m].mean())
    return float(total)


__all__ = ["PLATT_PRIOR_PRECISION", "expected_calibration_error", "fit_platt", "logit",
           "quadrant_confidence", "quadrant_right", "raw_quadrant_probability", "sigmoid"]
