"""The Python verbs behind the CLI: ``classify`` images against any labels."""
from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from labelspace.encoders import load_image_encoder, load_text_encoder
from labelspace.encoders.text import check_labels
from labelspace.errors import LabelspaceError
from labelspace.methods.conse import ConSEClassifier

METHODS = ("conse",)


def open_image(image) -> Image.Image:
    """An RGB PIL image from a path or a PIL image; a missing or unreadable file is a clear error."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    path = Path(os.fspath(image))
    if not path.is_file():
        raise LabelspaceError(f"image {str(path)!r} does not exist")
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise LabelspaceError(f"image {str(path)!r} is not a readable image ({e.__class__.__name__})") from e


def quiet_load_image_encoder(spec: str):
    """Load an image encoder without the chatter some weight packages print."""
    with contextlib.redirect_stdout(io.StringIO()):
        return load_image_encoder(spec)


def classifier(method: str = "conse", image_model: str = "efficientnet-lite0", text_model: str = "glove-6b-50d",
               top_t: int = 10):
    if method not in METHODS:
        raise LabelspaceError(f"unknown method {method!r} (accepted: {', '.join(METHODS)})")
    return ConSEClassifier(quiet_load_image_encoder(image_model), load_text_encoder(text_model), top_t)


def _ranked(scores: np.ndarray, labels: list[str], top: int | None) -> list[list[dict]]:
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return [[{"label": labels[j], "score": float(row[j])} for j in idx] for row, idx in zip(scores, order)]


def classify(images: Sequence, labels: Sequence[str], method: str = "conse", image_model: str = "efficientnet-lite0",
             text_model: str = "glove-6b-50d", top: int = 5, top_t: int = 10) -> list[list[dict]]:
    """Rank ``labels`` for each image: one list of ``{"label", "score"}`` per image, best first."""
    labels = check_labels(labels)
    model = classifier(method, image_model, text_model, top_t)
    pictures = [open_image(image) for image in images]
    batch = torch.stack([model.image_encoder.preprocess(p) for p in pictures])
    return _ranked(model.scores(model.image_encoder.encode(batch), labels), labels, top)
