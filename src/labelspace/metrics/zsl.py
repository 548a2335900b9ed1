"""Zero-shot protocol metrics (Xian et al.): per-class top-1 on unseen classes, and GZSL u, s, H.

ZSL: candidates are the unseen labels only, samples are unseen-class images. GZSL: candidates are
seen + unseen labels; u and s are the per-class top-1 over unseen- and seen-class images, and
H = 2us / (u + s) their harmonic mean, which is high only when both are.
"""
from __future__ import annotations

import numpy as np

from labelspace.metrics.classification import mean_per_class_accuracy


def harmonic_mean(u: float, s: float) -> float:
    return 2 * u * s / (u + s) if u + s > 0 else 0.0


def gzsl(scores, targets, unseen) -> dict[str, float]:
    """u, s, H from scores over all labels; ``unseen`` is a boolean mask (or indices) of unseen label columns."""
    scores, targets = np.asarray(scores), np.asarray(targets)
    is_unseen = np.zeros(scores.shape[1], dtype=bool)
    is_unseen[unseen] = True
    on_unseen = is_unseen[targets]
    u = mean_per_class_accuracy(scores[on_unseen], targets[on_unseen])
    s = mean_per_class_accuracy(scores[~on_unseen], targets[~on_unseen])
    return {"u": u, "s": s, "H": harmonic_mean(u, s)}
