"""The one contract every zero-shot method meets, so one evaluation path serves them all.

A classifier owns the image encoder whose (cached) features it scores, and scores those
features against any candidate label set: ``scores(features, labels) -> (images, labels)``.
Methods are entries of ``labelspace.registry.METHODS``; ``create_classifier`` builds any of them from
one spec (``conse:efficientnet-lite0+minilm``, ``clip:open_clip:ViT-B-32/openai``, ``devise:runs/x``,
or a checkpoint folder).

A classifier trained on a split's seen classes may also carry ``validation_model``: the same method fitted
without the split's validation classes, on which GZSL calibration and CSLS choose their settings
(``evaluation.evaluate_split``); without it the classifier itself scores the validation classes.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from labelspace.registry import METHODS

DEFAULT_IMAGE_MODEL = {"conse": "efficientnet-lite0", "clip": "open_clip:ViT-B-32/openai"}


class Classifier(Protocol):
    image_encoder: object

    def scores(self, features: np.ndarray, labels: Sequence[str], templates=None) -> np.ndarray:
        """Higher is more likely; one row per image, one column per label; ``templates`` (optional) ensemble
        each label's prompts (``zeroshot.ensemble``)."""
        ...

    # optional: label_probabilities(features, labels, templates=None), shown by classify and serve


def create_classifier(spec: str, **options) -> Classifier:
    """The classifier a ``METHODS`` spec names; ``options`` (image_model, text_model, top_t, templates,
    checkpoint, device, precision) fill what the spec leaves out."""
    return METHODS.create(spec, **options)


def shown_scores(classifier, features, labels: Sequence[str], templates=None) -> np.ndarray:
    """What a user sees: label probabilities where the method has them (CLIP), its scores otherwise (cosines);
    with ``templates``, label vectors are prompt-ensembled (``zeroshot.ensemble``)."""
    score = getattr(classifier, "label_probabilities", classifier.scores)
    return score(features, labels) if templates is None else score(features, labels, templates=templates)


def rank_labels(scores: np.ndarray, labels: Sequence[str], top: int | None = None) -> list[list[dict]]:
    """Per image, the ``top`` labels as ``{"label", "score"}`` dicts, best first (ties keep label order)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return [[{"label": labels[j], "score": float(row[j])} for j in idx] for row, idx in zip(scores, order)]
