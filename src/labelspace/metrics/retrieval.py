"""Retrieval and multi-label metrics over a similarity / score matrix.

Ranks follow ``metrics.ranking`` (NaN and ties count against the query), as every metric does:
a constant scorer never looks better than chance and a NaN score is never a hit.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from labelspace.errors import LabelspaceError
from labelspace.metrics.ranking import best_good_rank, effective_scores


def retrieval_recall(similarity, caption_image, ks: Iterable[int] = (1, 5, 10)) -> dict[str, float]:
    """Recall@k both ways for images (rows) and captions (columns), several captions per image.

    ``caption_image[j]`` is the image of caption ``j``. Image-to-text: an image is a hit when any of
    its captions is in its top k. Text-to-image: a caption is a hit when its image is in its top k.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    caption_image = np.asarray(caption_image, dtype=np.int64)
    if similarity.ndim != 2 or similarity.shape[1] != len(caption_image):
        raise LabelspaceError(f"similarity must be (images, captions) with one image per caption, "
                              f"got {similarity.shape} and {caption_image.shape}")
    if len(caption_image) and (caption_image.min() < 0 or caption_image.max() >= similarity.shape[0]):
        raise LabelspaceError(f"caption images must lie in [0, {similarity.shape[0]})")
    relevant = caption_image[None, :] == np.arange(similarity.shape[0])[:, None]  # (images, captions)
    image_rank = best_good_rank(similarity, relevant)
    text_rank = best_good_rank(similarity.T, relevant.T)
    out = {}
    for k in ks:
        out[f"image_retrieval_recall@{k}"] = float((text_rank < k).mean())
        out[f"text_retrieval_recall@{k}"] = float((image_rank < k).mean())
    return out


def mean_average_precision(scores, multi_hot) -> float:
    """Multi-label mAP: average precision of each label's ranking of the samples, averaged over labels
    with at least one positive (ties count against the positives)."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(multi_hot).astype(bool)
    if scores.shape != truth.shape or scores.ndim != 2:
        raise LabelspaceError(f"scores and multi-hot targets must both be (samples, labels), got {scores.shape} and {truth.shape}")
    aps = []
    for label in np.flatnonzero(truth.any(axis=0)):
        positive = truth[:, label]
        s = effective_scores(scores[:, label], positive)
        # for each positive: precision among samples scoring at least as high as it
        at_least = (s[None, :] >= s[positive][:, None])
        aps.append(float(np.mean(at_least[:, positive].sum(1) / at_least.sum(1))))
    return float(np.mean(aps)) if aps else float("nan")
