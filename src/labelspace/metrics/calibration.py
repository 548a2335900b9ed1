"""Probabilities from scores: softmax over the candidate labels at a temperature, and temperature scaling.

A method that scores by cosine (DeViSE, ConSE) has no probabilities of its own; ``softmax(scores / T)`` gives
them, and temperature scaling (Guo et al., ICML 2017) fits the one scalar T by the negative log-likelihood of
held-out labels, which changes no ranking.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from labelspace.errors import LabelspaceError


def checked_scores(scores) -> np.ndarray:
    """``scores`` as float64 when every row has a finite score and none is NaN or +inf (a broken model's
    output); -inf marks a label the model cannot name."""
    scores = np.asarray(scores, dtype=np.float64)
    if np.isnan(scores).any() or np.isposinf(scores).any():
        raise LabelspaceError("scores hold NaN or +inf: the model is broken (check its weights and inputs)")
    if scores.size and not np.isfinite(scores).any(axis=1).all():
        raise LabelspaceError("no candidate label is one the model can name (every score is -inf)")
    return scores


def label_softmax(scores, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``checked_scores(scores) / temperature``: each row sums to 1, -inf gets 0."""
    if not (np.isfinite(temperature) and temperature > 0):
        raise LabelspaceError(f"temperature must be a positive finite number, got {temperature}")
    return softmax(checked_scores(scores) / temperature, axis=1)


def fit_temperature(scores, targets, bounds: tuple[float, float] = (1e-3, 1e2)) -> float:
    """The T in ``bounds`` minimising the mean negative log-likelihood of ``targets`` under softmax(scores / T)."""
    scores, targets = checked_scores(scores), np.asarray(targets)
    if scores.ndim != 2 or scores.shape[1] < 2 or len(scores) != len(targets) or not len(targets):
        raise LabelspaceError(f"temperature scaling needs (samples, >= 2 labels) scores and one target per sample, "
                              f"got {scores.shape} and {targets.shape}")

    def nll(log_t: float) -> float:
        return -float(np.mean(log_softmax(scores / np.exp(log_t), axis=1)[np.arange(len(targets)), targets]))

    found = minimize_scalar(nll, bounds=np.log(bounds), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))
