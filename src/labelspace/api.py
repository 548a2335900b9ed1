"""The Python verbs behind the CLI: ``classify`` images against any labels, and a zero-shot ``pipeline``."""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from PIL import Image

from labelspace.data.images import open_image
from labelspace.encoders.text import check_labels
from labelspace.errors import moved_names
from labelspace.methods import DEFAULT_IMAGE_MODEL, create_classifier
from labelspace.methods.clip import CLIPClassifier


def classifier(method: str = "conse", image_model: str | None = None, text_model: str | None = None,
               top_t: int | None = None, templates=None, checkpoint: str | None = None, device="cpu",
               precision: str = "fp32"):
    """A ``Classifier`` (methods/base.py) from any method spec (``labelspace list``): ``conse`` (image encoder +
    text encoder), ``clip`` (one CLIP model spec), ``devise:<folder>``, ``softmax:<folder>``, ..., encoding on
    ``device`` in ``precision`` (``labelspace.devices``: auto, cpu, cuda[:N], mps; fp32, bf16, fp16)."""
    return create_classifier(method, image_model=image_model, text_model=text_model, top_t=top_t,
                             templates=templates, checkpoint=checkpoint, device=device, precision=precision)


def _encode_images(model, pictures: Sequence[Image.Image]) -> torch.Tensor:
    return model.image_encoder.encode(torch.stack([model.image_encoder.preprocess(p) for p in pictures]))


def classify(images: Sequence, labels: Sequence[str], method: str = "conse", image_model: str | None = None,
             text_model: str | None = None, top: int = 5, top_t: int | None = None, templates=None,
             checkpoint: str | None = None, device="cpu", precision: str = "fp32") -> list[list[dict]]:
    """Rank ``labels`` for each image: one list of ``{"label", "score"}`` per image, best first.

    Each score is the label's probability among ``labels`` (``Classifier.probabilities``: they sum to 1 over all
    the labels, except for SigLIP's independent per-label ones). ``checkpoint`` holds local weights for a
    ``timm:<name>`` image model.
    """
    labels = check_labels(labels)
    pictures = [open_image(image) for image in images]  # bad files fail before any model loads
    model = classifier(method, image_model, text_model, top_t, templates, checkpoint, device, precision)
    features = _encode_images(model, pictures)
    return model.rank(features, labels, top=top)


__getattr__ = moved_names(__name__, {"METHODS": "moved: the methods are labelspace.registry.METHODS.list()"})


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
        ranked = self.classifier.rank(features, labels, top=top_k)
        return ranked[0] if single else ranked


def pipeline(model: str = DEFAULT_IMAGE_MODEL["clip"], templates="openai", device="cpu",
             precision: str = "fp32") -> ZeroShotPipeline:
    return ZeroShotPipeline(model, templates, device, precision)
