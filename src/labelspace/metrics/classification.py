"""Flat classification metrics.

All take ``scores`` of shape (samples, labels), higher meaning more likely, and integer
``targets`` indexing the label columns. Ranks follow ``metrics.ranking``: NaN and ties count
against the true label, so a broken model never scores a hit and a constant scorer never
looks better than chance. Scores are read a block of rows at a time (``score_blocks``), so a numpy memmap
or an iterator of row blocks works as well as an array, and memory stays bounded for any number of images.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from labelspace.errors import LabelspaceError
from labelspace.metrics.ranking import best_good_rank

# Scores per block of rows: about 4M of them, so a block's float64 temporaries stay near 32 MB each, however
# many images and labels (10,000 x 20,842 float32 scores are 834 MB; a float64 copy would be 1.7 GB more).
BLOCK_SCORES = 1 << 22


def score_blocks(scores, targets, labels: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(targets, scores) of consecutive blocks of rows, so no metric holds more than a block of temporaries.

    ``scores``: a 2-D array-like of (samples, labels), a numpy memmap read block by block, or an iterator (a
    generator) of 2-D row blocks, for scores computed a block at a time; ``labels``: the expected column
    count, when known. The checks run as blocks arrive; a bad shape or target is a one-line error."""
    targets = np.asarray(targets, dtype=np.int64)
    if targets.ndim != 1:
        raise LabelspaceError(f"targets must be (samples,), got {targets.shape}")
    blocks = scores
    if not isinstance(scores, Iterator):
        matrix = scores if hasattr(scores, "shape") else np.asarray(scores)
        if len(matrix.shape) != 2 or len(matrix) != len(targets):
            raise LabelspaceError(f"scores must be (samples, labels) and targets (samples,), "
                                  f"got {tuple(matrix.shape)} and {targets.shape}")
        rows = max(1, BLOCK_SCORES // max(1, matrix.shape[1]))
        blocks = (matrix[start:start + rows] for start in range(0, len(matrix), rows))
    done = 0
    for block in blocks:
        block = np.asarray(block)
        labels = block.shape[1] if labels is None and block.ndim == 2 else labels
        if block.ndim != 2 or block.shape[1] != labels or done + len(block) > len(targets):
            raise LabelspaceError(f"score blocks must be (rows, {labels}) and hold one row per target "
                                  f"({len(targets)}), got a block of {block.shape} after {done} rows")
        y = targets[done:done + len(block)]
        if len(y) and (y.min() < 0 or y.max() >= labels):
            raise LabelspaceError(f"targets must lie in [0, {labels}), got {y.min()}..{y.max()}")
        done += len(block)
        if len(block):
            yield y, block
    if done != len(targets):
        raise LabelspaceError(f"score blocks held {done} rows for {len(targets)} targets")


def class_mean(values, targets) -> float:
    """Mean over the true classes present of each class's mean of ``values`` (one per sample), so a class
    weighs the same however many images it has: the per-class average of CLIP_benchmark and GZSL."""
    classes, inverse = np.unique(np.asarray(targets), return_inverse=True)
    values = np.asarray(values, dtype=np.float64)
    return float(np.mean(np.bincount(inverse, values) / np.bincount(inverse))) if len(classes) else float("nan")


def averaged(values, targets, over: str) -> float:
    """``values`` (one per sample) averaged over "images" or over "classes" (``class_mean``)."""
    if over not in ("images", "classes"):
        raise LabelspaceError(f"average must be 'images' or 'classes', got {over!r}")
    if over == "classes":
        return class_mean(values, targets)
    return float(np.mean(values)) if len(values) else float("nan")


def true_label_rank(scores, targets) -> np.ndarray:
    """0-based rank of the true label in each row: the number of other labels ranked at least as high.

    Computed per block of rows (``score_blocks``), so memory stays bounded for any number of images."""
    ranks = [best_good_rank(block, np.arange(block.shape[1]) == y[:, None]) for y, block in score_blocks(scores, targets)]
    return np.concatenate(ranks) if ranks else np.zeros(0, dtype=np.int64)


def top_k_accuracy(scores, targets, k: int = 1) -> float:
    """Share of samples whose true label is among the k highest-scoring labels."""
    if k < 1:
        raise LabelspaceError(f"k must be a positive integer, got {k}")
    ranks = true_label_rank(scores, targets)
    return float((ranks < k).mean()) if len(ranks) else float("nan")


def flat_hits(scores, targets, ks: Iterable[int] = (1, 2, 5, 10), average: str = "images") -> dict[int, float]:
    """DeViSE's flat hit@k: top-k accuracy for each k (k larger than the label count gives 1.0), averaged over
    "images" as the papers do or over "classes" (``class_mean``)."""
    ranks = true_label_rank(scores, targets)
    return {int(k): averaged(ranks < k, targets, average) for k in ks}


def mean_per_class_accuracy(scores, targets, k: int = 1) -> float:
    """Top-k accuracy computed per true class, then averaged over the classes present.

    This is CLIP_benchmark's mean per-class recall and the per-class top-1 of the GZSL protocol.
    """
    return class_mean(true_label_rank(scores, targets) < k, targets)
