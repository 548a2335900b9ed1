"""The one ranking rule behind every metric: NaN and ties count against the model.

Each row of a score matrix ranks its columns; ``good`` marks the columns that would count as right (the
true label, a relevant caption, a label in the hierarchical correct set). A NaN score is the worst
score a good column can have and the best a wrong one can have, and among tied scores the wrong
columns come first. So a broken model (NaN scores) never scores a hit, a constant scorer never looks
better than chance, and every metric (flat hit@k, top-k, per-class, ZSL/GZSL, hP@k, retrieval, mAP)
agrees on what "ranked above" means: hP@1 equals hit@1 under ties.
"""
from __future__ import annotations

import numpy as np


def effective_scores(scores, good) -> np.ndarray:
    """``scores`` (float64) with each NaN replaced by -inf in a good column and +inf in a wrong one."""
    scores, good = np.asarray(scores, dtype=np.float64), np.asarray(good, dtype=bool)
    return np.where(np.isnan(scores), np.where(good, -np.inf, np.inf), scores)


def _order(scores, good) -> np.ndarray:
    """Every column of each row by (effective score descending, wrong before good), stable: the rule itself."""
    return np.lexsort((good, -effective_scores(scores, good)), axis=-1)


def ranked(scores, good, k: int | None = None) -> np.ndarray:
    """Column indices of each row, best first, with NaN and ties against the model (see the module).

    With ``k``, only each row's first k, equal to ``ranked(scores, good)[:, :k]`` but without sorting whole rows
    (hP@k over 20,842 labels needs the top 20 of each): a partition keeps the 2k highest raw scores of a row
    (NaN highest, where a wrong NaN ranks), and the first k of that pool are the row's first k whenever the k-th
    of them ranks strictly above the pool's lowest raw score, since no column outside scores more. Rows where
    it does not (ties or NaNs at the pool's edge) are sorted in full."""
    scores = np.asarray(scores)
    good = np.broadcast_to(np.asarray(good, dtype=bool), scores.shape)
    width = scores.shape[-1]
    if k is None or 2 * k >= width:
        return _order(scores, good)[..., :k]
    pool = np.sort(np.argpartition(scores, width - 2 * k, axis=-1)[:, width - 2 * k:], axis=-1)
    pool_scores, pool_good = np.take_along_axis(scores, pool, -1), np.take_along_axis(good, pool, -1)
    first = _order(pool_scores, pool_good)[:, :k]
    kth = np.take_along_axis(effective_scores(pool_scores, pool_good), first[:, -1:], -1)[:, 0]
    unsure = ~(kth > np.where(np.isnan(pool_scores), np.inf, pool_scores).min(axis=-1))
    top = np.take_along_axis(pool, first, -1)
    top[unsure] = _order(scores[unsure], good[unsure])[:, :k]
    return top


def best_good_rank(scores, good) -> np.ndarray:
    """0-based rank of each row's best good column: how many wrong columns score at least as high.

    A row with no good column gets the number of wrong columns (never a hit)."""
    effective = effective_scores(scores, good)
    good = np.broadcast_to(np.asarray(good, dtype=bool), effective.shape)
    best = np.where(good, effective, -np.inf).max(axis=-1, keepdims=True)
    above = (effective >= best) | ~good.any(axis=-1, keepdims=True)
    return (above & ~good).sum(axis=-1)
