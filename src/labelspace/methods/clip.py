"""CLIP zero-shot: score image embeddings against prompt-ensembled label embeddings.

Meets the ``Classifier`` contract: ``image_encoder`` is the image-text model itself (so its image
features are cached by ``data.extract_features``) and ``scores`` works for any label set, with
label weights built once per (model, labels, templates) and cached on disk.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelspace.methods.conse import unit_rows
from labelspace.zeroshot.classifier import build_classifier


class CLIPClassifier:
    def __init__(self, model, templates="openai", cache_dir=None, device="cpu", precision: str = "fp32"):
        if isinstance(model, str):
            from labelspace.models import load_clip

            model = load_clip(model, device, precision)
        self.model = self.image_encoder = model
        self.templates, self.cache_dir = templates, cache_dir

    def label_weights(self, labels: Sequence[str]) -> np.ndarray:
        return build_classifier(self.model, list(labels), self.templates, cache_dir=self.cache_dir)

    def scores(self, features, labels: Sequence[str]) -> np.ndarray:
        """(images, labels) logits: the model's logit scale times cosine similarity (plus SigLIP's bias)."""
        logits = self.model.logit_scale * (unit_rows(features) @ self.label_weights(labels).T)
        return logits + self.model.logit_bias if self.model.logit_bias is not None else logits

    def label_probabilities(self, features, labels: Sequence[str]) -> np.ndarray:
        """Softmax over the labels; sigmoid per label for sigmoid-trained models (SigLIP)."""
        logits = self.scores(features, labels)
        if self.model.logit_bias is not None:
            return 1.0 / (1.0 + np.exp(-logits))
        logits = logits - logits.max(axis=1, keepdims=True)
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
