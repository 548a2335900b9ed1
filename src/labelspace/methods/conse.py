"""ConSE: Convex combination of Semantic Embeddings (Norouzi et al., ICLR 2014).

No training. An ordinary classifier over seen labels gives probabilities p(y|x); the image is
embedded as the probability-weighted mean of the word vectors of its top-T seen labels,

    f(x) = 1/Z * sum_{t=1..T} p(y_t|x) s(y_t),    Z = sum_{t=1..T} p(y_t|x),

and scored against any candidate labels' vectors by cosine similarity.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from labelspace.errors import LabelspaceError
from labelspace.methods.base import COSINE_TEMPERATURE, Classifier, MethodOptions
from labelspace.numeric import unit_rows
from labelspace.registry import METHODS
from labelspace.vocab.labelsets import synset_set
from labelspace.zeroshot import label_vectors, synset_bank


class ConSE:
    """ConSE over ``seen_labels`` with their vectors; seen labels whose vector is all-zero are ignored."""

    def __init__(self, seen_labels: Sequence[str], seen_vectors: np.ndarray, top_t: int = 10):
        if top_t < 1:
            raise LabelspaceError(f"top_t must be a positive integer, got {top_t}")
        seen_vectors = np.asarray(seen_vectors, dtype=np.float32)
        if len(seen_labels) != len(seen_vectors):
            raise LabelspaceError(f"{len(seen_labels)} seen labels but {len(seen_vectors)} seen vectors")
        self.seen_labels, self.top_t = list(seen_labels), top_t
        self.known = np.linalg.norm(seen_vectors, axis=1) > 0
        self.seen_vectors = unit_rows(seen_vectors)

    def embed(self, probs) -> np.ndarray:
        """Semantic embedding of each image from its seen-label probabilities (rows need not sum to 1)."""
        probs = np.asarray(probs, dtype=np.float32)
        if probs.ndim != 2 or probs.shape[1] != len(self.seen_labels):
            raise LabelspaceError(f"probabilities must be (images, {len(self.seen_labels)}), got {probs.shape}")
        probs = np.where(self.known, probs, 0.0)
        t = min(self.top_t, int(self.known.sum()))
        top = np.argpartition(-probs, t - 1, axis=1)[:, :t]
        weights = np.take_along_axis(probs, top, axis=1)
        weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
        return np.einsum("nt,ntd->nd", weights, self.seen_vectors[top])

    def scores(self, probs, candidate_vectors: np.ndarray) -> np.ndarray:
        """Cosine similarity of each image's embedding to each candidate label vector, (images, candidates)."""
        return unit_rows(self.embed(probs)) @ unit_rows(candidate_vectors).T


class ConSEClassifier(Classifier):
    """ConSE from a classifier of seen labels and a label-text encoder.

    ``seen`` is any object with ``labels`` and ``seen_probabilities(features)`` (e.g. a softmax trained on
    a split's seen classes); by default it is the image model's own ImageNet head, whose 1,000 labels are
    embedded by their synsets (``zeroshot.synsets``: the mean of their lemmas' vectors). Scores are cosines, shown
    as a softmax at ``COSINE_TEMPERATURE``: uncalibrated scores (``calibrated`` False) unless ``calibrate`` fits T.
    """

    temperature = COSINE_TEMPERATURE

    def __init__(self, image_encoder, text_encoder, top_t: int = 10, seen=None):
        if seen is None and (image_encoder.head is None or image_encoder.head_labels is None):
            raise LabelspaceError(f"ConSE needs an image model with a labelled classification head; "
                                  f"{image_encoder.name!r} has none (try efficientnet-lite0)")
        self.image_encoder, self.text_encoder, self.seen = image_encoder, text_encoder, seen
        if seen is None and image_encoder.head_wnids is not None:  # ImageNet heads: their synsets, not display names
            seen_labels = image_encoder.head_labels
            seen_vectors = synset_bank(text_encoder, synset_set("head", image_encoder.head_wnids))[0]
        else:
            seen_labels = image_encoder.head_labels if seen is None else seen.labels
            seen_vectors = text_encoder.encode(seen_labels, on_unknown="zero")
        self.conse = ConSE(seen_labels, seen_vectors, top_t)

    def seen_probabilities(self, features) -> np.ndarray:
        """p(y|x) over the seen labels, which ConSE combines."""
        if self.seen is not None:
            return self.seen.seen_probabilities(features)
        return torch.softmax(self.image_encoder.head_logits(features), dim=1).numpy()

    def scores(self, features, labels: Sequence[str], templates=None) -> np.ndarray:
        """(images, labels) cosine scores for any candidate label set (label vectors prompt-ensembled over
        ``templates`` when given)."""
        vectors = label_vectors(self.text_encoder, labels, templates)  # unit rows: no renormalised copy of a bank
        return unit_rows(self.conse.embed(self.seen_probabilities(features))) @ vectors.T


@METHODS.register("conse", argument="<image>+<text>", optional=True,
                  description="ConSE: the image model's ImageNet head, top-T label vectors, cosine to any labels "
                  "(default efficientnet-lite0+glove-6b-50d)")
def _conse(argument: str, options: MethodOptions = MethodOptions()) -> ConSEClassifier:
    from labelspace.encoders import load_image_encoder, load_text_encoder

    if options.templates is not None:
        raise LabelspaceError("--templates does not apply to --method conse (it encodes the bare class names)")
    image_model, text_model = options.image_model, options.text_model
    if argument:
        image_model, plus, text_model = argument.partition("+")
        if not (image_model and plus and text_model):
            raise LabelspaceError(f"conse spec needs IMAGE+TEXT encoders, got {argument!r} "
                                  "(e.g. 'conse:efficientnet-lite0+glove-6b-50d')")
    return ConSEClassifier(load_image_encoder(image_model or "efficientnet-lite0", options.checkpoint,
                                              device=options.device, precision=options.precision),
                           load_text_encoder(text_model or "glove-6b-50d", options.device), options.top_t or 10)
