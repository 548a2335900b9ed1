"""CLIP zero-shot: score image embeddings against prompt-ensembled label embeddings.

Meets the ``Classifier`` contract: ``image_encoder`` is the image-text model itself (so its image
features are cached by ``data.extract_features``) and ``scores`` works for any label set, with
label weights built once per (model, labels, templates) and cached on disk.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit

from labelspace.errors import LabelspaceError
from labelspace.methods.base import Classifier, MethodOptions
from labelspace.metrics.calibration import checked_scores
from labelspace.numeric import unit_rows
from labelspace.registry import METHODS
from labelspace.vocab import label_texts
from labelspace.zeroshot.classifier import build_classifier


class CLIPClassifier(Classifier):
    """Scores are the model's logits (T = 1); a sigmoid-trained model (SigLIP) gives independent per-label
    probabilities, as it was trained (``exclusive`` False). Calibrated: the logit scale was trained with them."""

    calibrated = True

    def __init__(self, model, templates="openai", cache_dir=None, device="cpu", precision: str = "fp32"):
        if isinstance(model, str):
            from labelspace.models import load_clip

            model = load_clip(model, device, precision)
        self.model = self.image_encoder = model
        self.templates, self.cache_dir = templates, cache_dir
        self.exclusive = model.logit_bias is None

    def label_weights(self, labels: Sequence[str], templates=None) -> np.ndarray:
        return build_classifier(self.model, label_texts(labels), templates or self.templates, cache_dir=self.cache_dir)

    def scores(self, features, labels: Sequence[str], templates=None) -> np.ndarray:
        """(images, labels) logits: the model's logit scale times cosine similarity (plus SigLIP's bias)."""
        logits = self.model.logit_scale * (unit_rows(features) @ self.label_weights(labels, templates).T)
        return logits + self.model.logit_bias if self.model.logit_bias is not None else logits

    def as_probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Softmax over the labels; sigmoid per label for sigmoid-trained models (SigLIP)."""
        return super().as_probabilities(scores) if self.exclusive else expit(checked_scores(scores))


@METHODS.register("clip", argument="<CLIP model spec>", optional=True,
                  description="CLIP zero-shot: prompt-ensembled label embeddings of any CLIP model "
                  "(default open_clip:ViT-B-32/openai)")
def _clip(argument: str, options: MethodOptions = MethodOptions()) -> CLIPClassifier:
    if options.checkpoint is not None:
        raise LabelspaceError("--checkpoint applies to timm:<name> image models; for CLIP pass the file as "
                              "--image-model")
    if options.text_model is not None:
        raise LabelspaceError("--text-model does not apply to --method clip (the CLIP model encodes the label text)")
    return CLIPClassifier(argument or options.image_model or "open_clip:ViT-B-32/openai", options.templates or "openai",
                          device=options.device, precision=options.precision)
