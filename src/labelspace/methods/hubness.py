"""Hubness correction of nearest-label inference: cross-domain similarity local scaling (CSLS).

CSLS (Conneau et al. 2018; the idea of Dinu et al. 2015) replaces a score s(x, y) by
``2 s(x, y) - r_label(x) - r_image(y)``, where r_label(x) is the mean score of image x's k best labels and
r_image(y) the mean score of label y's k best images in the scored pool. A hub label, close to many images,
has a high r_image and is pushed down. r_label(x) is constant along a row, so it never changes which label
an image gets; it is kept so the values are CSLS's. The images' pool is the matrix's own rows (their labels
are never read). k is chosen on validation classes (``choose_csls_k``), never on the test's.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelspace.errors import LabelspaceError
from labelspace.metrics.gzsl import ausuc, seen_unseen_curve

K_CANDIDATES = (1, 3, 10, 30, 100)


def _top_mean(scores: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Mean of the k largest values along ``axis`` (k capped at that axis's length)."""
    k = min(k, scores.shape[axis])
    return -np.mean(np.partition(-scores, k - 1, axis=axis).take(range(k), axis=axis), axis=axis)


def csls(scores, k: int) -> np.ndarray:
    """The CSLS-corrected (images, labels) matrix with neighbourhood size ``k`` on both sides."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or k < 1:
        raise LabelspaceError(f"CSLS needs an (images, labels) matrix and k >= 1, got {scores.shape} and k={k}")
    if not np.isfinite(scores).all():
        raise LabelspaceError("CSLS needs finite scores (NaN/inf found; a softmax over seen labels scores other "
                              "labels -inf and cannot be corrected)")
    return 2 * scores - _top_mean(scores, k, axis=1)[:, None] - _top_mean(scores, k, axis=0)[None, :]


def choose_csls_k(scores, targets, unseen, candidates: Sequence[int] = K_CANDIDATES) -> tuple[int, list[dict]]:
    """The k (among ``candidates``) whose CSLS scores give the largest AUSUC on these validation scores (their
    ``unseen`` columns are the validation classes); the smallest k among equals. Returns (k, one row per k)."""
    rows = [{"k": int(k), "AUSUC": ausuc(seen_unseen_curve(csls(scores, k), targets, unseen))} for k in candidates]
    return max(rows, key=lambda r: r["AUSUC"])["k"], rows
