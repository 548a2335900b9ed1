"""Hubness of nearest-label inference (Radovanovic et al. 2010): how lopsided the k-occurrence is.

N_k(label) counts the images that have the label among their k highest-scoring labels. With no hubs every
label is picked about equally often; a few labels picked by most images (hubs) make the distribution of
N_k right-skewed. Hubness is its skewness (``scipy.stats.skew``); 0 when every label is picked equally.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import skew

from labelspace.errors import LabelspaceError


def k_occurrence(scores, k: int = 1) -> np.ndarray:
    """N_k per label (column) of an (images, labels) score matrix; ties go to the earlier column."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or not 1 <= k <= scores.shape[1]:
        raise LabelspaceError(f"k must lie in [1, labels] for an (images, labels) matrix, got k={k} and {scores.shape}")
    if np.isnan(scores).any():
        raise LabelspaceError("scores hold NaN: the model is broken")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.bincount(top.ravel(), minlength=scores.shape[1])


def hubness(scores, k: int = 1) -> float:
    """Skewness of the k-occurrence distribution over the labels (0 when it is flat)."""
    counts = k_occurrence(scores, k)
    return float(skew(counts)) if counts.std() > 0 else 0.0
