"""The Python verbs behind the CLI: ``classify`` images against any labels, and a zero-shot ``pipeline``."""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from labelspace.data.images import open_image
from labelspace.encoders import load_image_encoder, load_text_encoder
from labelspace.encoders.text import check_labels
from labelspace.errors import LabelspaceError
from labelspace.methods.clip import CLIPClassifier
from labelspace.methods.conse import ConSEClassifier

METHODS = ("conse", "clip")
DEFAULT_IMAGE_MODEL = {"conse": "efficientnet-lite0", "clip": "open_clip:ViT-B-32/openai"}


def classifier(method: str = "conse", image_model: str | None = None, text_model: str = "glove-6b-50d",
               top_t: int = 10, templates="openai", checkpoint: str | None = None, device="cpu",
               precision: str = "fp32"):
    """A ``Classifier`` (methods/base.py): ``conse`` (image encoder + text encoder) or ``clip`` (one CLIP model spec),
    encoding on ``device`` in ``precision`` (``labelspace.devices``: auto, cpu, cuda[:N], mps; fp32, bf16, fp16)."""
    if method not in METHODS:
        raise LabelspaceError(f"unknown method {method!r} (accepted: {', '.join(METHODS)})")
    image_model = image_model or DEFAULT_IMAGE_MODEL[method]
    if method == "clip":
        if checkpoint is not None:
            raise LabelspaceError("--checkpoint applies to timm:<name> image models; for CLIP pass the file as "
                                  "--image-model")
        return CLIPClassifier(image_model, templates, device=device, precision=precision)
    return ConSEClassifier(load_image_encoder(image_model, checkpoint, device=device, precision=precision),
                           load_text_encoder(text_model, device), top_t)


def _encode_images(model, pictures: Sequence[Image.Image]) -> torch.Tensor:
    return model.image_encoder.encode(torch.stack([model.image_encoder.preprocess(p) for p in pictures]))


def _ranked(scores: np.ndarray, labels: list[str], top: int | None) -> list[list[dict]]:
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return [[{"label": labels[j], "score": float(row[j])} for j in idx] for row, idx in zip(scores, order)]


def classify(images: Sequence, labels: Sequence[str], method: str = "conse", image_model: str | None = None,
             text_model: str = "glove-6b-50d", top: int = 5, top_t: int = 10, templates="openai",
             checkpoint: str | None = None, device="cpu", precision: str = "fp32") -> list[list[dict]]:
    """Rank ``labels`` for each image: one list of ``{"label", "score"}`` per image, best first.

    Scores are cosines for ConSE and label probabilities for CLIP. ``checkpoint`` holds local weights
    for a ``timm:<name>`` image model.
    """
    labels = check_labels(labels)
    pictures = [open_image(image) for image in images]  # bad files fail before any model loads
    model = classifier(method, image_model, text_model, top_t, templates, checkpoint, device, precision)
    features = _encode_images(model, pictures)
    scores = model.label_probabilities(features, labels) if method == "clip" else model.scores(features, labels)
    return _ranked(scores, labels, top)


class ZeroShotPipeline:
    """``pipeline(model)(image, candidate_labels=[...])`` -> ``[{"label", "score"}]`` sorted, like Hugging Face's.

    Label embeddings (prompt-ensembled) are cached in memory and on disk across calls.
    """

    def __init__(self, model, templates="openai", device="cpu", precision: str = "fp32"):
        self.classifier = CLIPClassifier(model, templates, device=device, precision=precision)

    def __call__(self, images, candidate_labels: Sequence[str], top_k: int | None = None):
        single = isinstance(images, (str, os.PathLike, Image.Image))
        labels = check_labels(candidate_labels)
        features = _encode_images(self.classifier, [open_image(i) for i in ([images] if single else images)])
        ranked = _ranked(self.classifier.label_probabilities(features, labels), labels, top_k)
        return ranked[0] if single else ranked


def pipeline(model: str = DEFAULT_IMAGE_MODEL["clip"], templates="openai", device="cpu",
             precision: str = "fp32") -> ZeroShotPipeline:
    return ZeroShotPipeline(model, templates, device, precision)
