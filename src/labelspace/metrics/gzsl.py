"""Calibrated stacking for generalized zero-shot learning (Chao et al. 2016): the seen-unseen curve and AUSUC.

Subtracting a calibration factor gamma from every seen label's score trades seen accuracy s for unseen
accuracy u. An image's GZSL prediction is its best seen label or its best unseen label, so its correctness
changes at one gamma only, d = (best seen score) - (best unseen score): a seen-class image is right for
gamma < d (when its label beats the other seen labels), an unseen-class image for gamma > d (when its label
beats the other unseen labels); at gamma = d the tie counts against the model, as everywhere. u(gamma) and
s(gamma) are therefore step functions with their steps at the d's, and the curve is computed exactly: one
point per interval between consecutive breakpoints, not a grid. AUSUC is the trapezoid area under s as a
function of u over those points, from (0, best s) to (best u, 0) for a model whose scores are all finite.
"""
from __future__ import annotations

import numpy as np

from labelspace.errors import LabelspaceError
from labelspace.metrics.zsl import gzsl, harmonic_mean


def _check(scores, targets, unseen) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 scores (NaN and +inf refused; -inf is a label a model cannot name), targets, unseen column mask."""
    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets, dtype=np.int64)
    if scores.ndim != 2 or targets.shape != (len(scores),):
        raise LabelspaceError(f"scores must be (images, labels) and targets (images,), got {scores.shape} and "
                              f"{targets.shape}")
    if np.isnan(scores).any() or np.isposinf(scores).any():
        raise LabelspaceError("scores hold NaN or +inf: the model is broken (calibration needs real scores)")
    is_unseen = np.zeros(scores.shape[1], dtype=bool)
    is_unseen[unseen] = True
    if is_unseen.all() or not is_unseen.any():
        raise LabelspaceError(f"calibrated stacking needs seen and unseen labels, got {int(is_unseen.sum())} unseen "
                              f"of {len(is_unseen)}")
    return scores, targets, is_unseen


def stacked(scores, unseen, gamma: float) -> np.ndarray:
    """The calibrated scores: ``gamma`` subtracted from every seen label's column (``unseen``: mask or indices)."""
    scores = np.asarray(scores, dtype=np.float64)
    is_unseen = np.zeros(scores.shape[1], dtype=bool)
    is_unseen[unseen] = True
    return scores - gamma * (~is_unseen)


def calibrated_gzsl(scores, targets, unseen, gamma: float) -> dict[str, float]:
    """GZSL u, s and H of the calibrated scores at ``gamma`` (gamma = 0: the plain GZSL numbers)."""
    return {"gamma": float(gamma), **gzsl(stacked(scores, unseen, gamma), targets, unseen)}


def seen_unseen_curve(scores, targets, unseen) -> dict[str, np.ndarray]:
    """The exact seen-unseen curve: ``gamma`` (one inside each interval between breakpoints, increasing), with
    per-class ``u`` and ``s`` there (u non-decreasing, s non-increasing)."""
    scores, targets, is_unseen = _check(scores, targets, unseen)
    rows = np.arange(len(targets))
    on_unseen = is_unseen[targets]
    d = scores[:, ~is_unseen].max(axis=1) - scores[:, is_unseen].max(axis=1)
    own_group = np.where(on_unseen[:, None], is_unseen[None, :], ~is_unseen[None, :])
    rivals = np.where(own_group, scores, -np.inf)
    rivals[rows, targets] = -np.inf
    wins = scores[rows, targets] > rivals.max(axis=1)  # beats every other label of its own group
    points = np.unique(d[np.isfinite(d)])
    if len(points):
        gammas = np.concatenate([[points[0] - 1.0], (points[:-1] + points[1:]) / 2, [points[-1] + 1.0]])
    else:
        gammas = np.zeros(1)

    def per_class(images: np.ndarray, right_above: bool) -> np.ndarray:
        """Mean over classes of the share of images right at each gamma (right for gamma < d, or > d)."""
        accuracy = []
        for c in np.unique(targets[images]):
            mine = images & (targets == c)
            ds = np.sort(d[mine & wins])
            right = len(ds) - np.searchsorted(ds, gammas, side="right") if not right_above \
                else np.searchsorted(ds, gammas, side="left")
            accuracy.append(right / mine.sum())
        return np.mean(accuracy, axis=0) if accuracy else np.full(len(gammas), np.nan)

    return {"gamma": gammas, "u": per_class(on_unseen, True), "s": per_class(~on_unseen, False)}


def ausuc(curve: dict[str, np.ndarray]) -> float:
    """Area under the seen-unseen curve (trapezoids over its points, in increasing u)."""
    return float(np.trapezoid(curve["s"], curve["u"]))


def choose_gamma(scores, targets, unseen) -> tuple[float, float]:
    """(gamma, H there) maximising H on these scores (a validation set); among equal H the smallest gamma.
    When no gamma gives both u and s above 0, gamma is 0 (no calibration)."""
    curve = seen_unseen_curve(scores, targets, unseen)
    h = np.array([harmonic_mean(u, s) for u, s in zip(curve["u"], curve["s"])])
    best = int(np.argmax(h))
    return (float(curve["gamma"][best]), float(h[best])) if h[best] > 0 else (0.0, 0.0)
