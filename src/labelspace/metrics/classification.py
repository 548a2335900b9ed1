"""Flat classification metrics.

All take ``scores`` of shape (samples, labels), higher meaning more likely, and integer
``targets`` indexing the label columns. Ranks follow ``metrics.ranking``: NaN and ties count
against the true label, so a broken model never scores a hit and a constant scorer never
looks better than chance.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from labelspace.errors import LabelspaceError
from labelspace.metrics.ranking import best_good_rank


def _check(scores, targets) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    if scores.ndim != 2 or targets.ndim != 1 or len(scores) != len(targets):
        raise LabelspaceError(
            f"scores must be (samples, labels) and targets (samples,), got {scores.shape} and {targets.shape}"
        )
    if len(targets) and (targets.min() < 0 or targets.max() >= scores.shape[1]):
        raise LabelspaceError(f"targets must lie in [0, {scores.shape[1]}), got {targets.min()}..{targets.max()}")
    return scores, targets


def true_label_rank(scores, targets) -> np.ndarray:
    """0-based rank of the true label in each row: the number of other labels ranked at least as high."""
    scores, targets = _check(scores, targets)
    return best_good_rank(scores, np.arange(scores.shape[1]) == targets[:, None])


def top_k_accuracy(scores, targets, k: int = 1) -> float:
    """Share of samples whose true label is among the k highest-scoring labels."""
    if k < 1:
        raise LabelspaceError(f"k must be a positive integer, got {k}")
    ranks = true_label_rank(scores, targets)
    return float((ranks < k).mean()) if len(ranks) else float("nan")


def flat_hits(scores, targets, ks: Iterable[int] = (1, 2, 5, 10)) -> dict[int, float]:
    """DeViSE's flat hit@k: top-k accuracy for each k (k larger than the label count gives 1.0)."""
    ranks = true_label_rank(scores, targets)
    return {int(k): float((ranks < k).mean()) for k in ks}


def mean_per_class_accuracy(scores, targets, k: int = 1) -> float:
    """Top-k accuracy computed per true class, then averaged over the classes present.

    This is CLIP_benchmark's mean per-class recall and the per-class top-1 of the GZSL protocol.
    """
    ranks = true_label_rank(scores, targets)
    targets = np.asarray(targets)
    classes = np.unique(targets)
    return float(np.mean([(ranks[targets == c] < k).mean() for c in classes])) if len(classes) else float("nan")
