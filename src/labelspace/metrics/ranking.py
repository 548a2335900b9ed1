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


def ranked(scores, good) -> np.ndarray:
    """Column indices of each row, best first, with NaN and ties against the model (see the module)."""
    effective = effective_scores(scores, good)
    good = np.broadcast_to(np.asarray(good, dtype=bool), effective.shape)
    return np.lexsort((good, -effective), axis=-1)


def best_good_rank(scores, good) -> np.ndarray:
    """0-based rank of each row's best good column: how many wrong columns score at least as high.

    A row with no good column gets the number of wrong columns (never a hit)."""
    effective = effective_scores(scores, good)
    good = np.broadcast_to(np.asarray(good, dtype=bool), effective.shape)
    best = np.where(good, effective, -np.inf).max(axis=-1, keepdims=True)
    above = (effective >= best) | ~good.any(axis=-1, keepdims=True)
    return (above & ~good).sum(axis=-1)
