"""One spec string per encoder, like timm's ``create_model`` names.

Image specs: ``efficientnet-lite0|1|2`` (packaged weights) and ``timm:<name>``.
Text specs: ``glove-6b-50d`` (packaged), ``minilm`` (packaged), ``wordvec:<file>``, ``sentence:<dir>``,
``random:<dim>[:<seed>]`` (random label vectors, the DeViSE control).
Loaded encoders are kept per process, so repeated calls are free.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from labelspace.devices import resolve_device, resolve_precision
from labelspace.encoders import image, text
from labelspace.errors import LabelspaceError


@dataclass(frozen=True)
class EncoderInfo:
    spec: str
    modality: str
    description: str
    offline: bool


_FIXED = [
    EncoderInfo("efficientnet-lite0", "image", "EfficientNet-Lite0, ImageNet-1k, 224 px, 1280-d + 1000-way head", True),
    EncoderInfo("efficientnet-lite1", "image", "EfficientNet-Lite1, ImageNet-1k, 240 px, 1280-d + 1000-way head", True),
    EncoderInfo("efficientnet-lite2", "image", "EfficientNet-Lite2, ImageNet-1k, 260 px, 1280-d + 1000-way head", True),
    EncoderInfo("timm:<name>", "image", "any timm model; pretrained from the hub, or --checkpoint FILE", False),
    EncoderInfo("glove-6b-50d", "text", "GloVe 6B word vectors, 400k words, 50-d", True),
    EncoderInfo("minilm", "text", "all-MiniLM-L6-v2 sentence encoder, 384-d", True),
    EncoderInfo("wordvec:<file>", "text", "GloVe / word2vec / fastText vectors in text format", True),
    EncoderInfo("sentence:<dir>", "text", "any sentence-transformers model folder", True),
    EncoderInfo("random:<dim>[:<seed>]", "text", "fixed random label vectors (DeViSE's control), no semantics", True),
    EncoderInfo("open_clip:<arch>/<tag>", "image-text", "any open_clip model; tags download when online, "
                "<arch> alone is random init, <arch>/<file> a local state dict (--method clip)", False),
    EncoderInfo("hf:<repo-or-dir>", "image-text", "Hugging Face CLIP, SigLIP or dual encoder (--method clip)", True),
    EncoderInfo("<file>", "image-text", "OpenAI-format CLIP state dict or labelspace safetensors (--method clip)", True),
]


def list_encoders(modality: str | None = None) -> list[EncoderInfo]:
    return [e for e in _FIXED if modality in (None, e.modality)]


def _unknown(spec: str, modality: str) -> LabelspaceError:
    known = ", ".join(e.spec for e in list_encoders(modality))
    return LabelspaceError(f"unknown {modality} encoder {spec!r} (known: {known})")


def load_image_encoder(spec: str, checkpoint: str | None = None, pretrained: bool = True, device="cpu",
                       precision: str = "fp32") -> image.ImageEncoder:
    """The image encoder behind ``spec`` on ``device`` (``labelspace.devices``), encoding in ``precision``."""
    device = resolve_device(device)
    return _image_encoder(spec, checkpoint, pretrained, str(device), resolve_precision(precision, device))


@lru_cache(maxsize=8)
def _image_encoder(spec: str, checkpoint: str | None, pretrained: bool, device: str, precision: str):
    if spec.startswith("timm:") and len(spec) > 5:
        return image.TimmEncoder(spec[5:], checkpoint=checkpoint, pretrained=pretrained).to(device, precision)
    if spec not in image.EFFICIENTNET_LITE:
        raise _unknown(spec, "image")
    if checkpoint is not None:
        raise LabelspaceError(f"--checkpoint applies to timm:<name> image models, not {spec!r} (packaged weights)")
    return image.EfficientNetLite(spec).to(device, precision)


def load_text_encoder(spec: str, device="cpu"):
    """The label-text encoder behind ``spec``; sentence encoders run on ``device`` (word vectors are tables)."""
    return _text_encoder(spec, str(resolve_device(device)))


@lru_cache(maxsize=8)
def _text_encoder(spec: str, device: str):
    if spec == "glove-6b-50d":
        return text.glove_6b_50d()
    if spec == "minilm":
        return text.SentenceEncoder("minilm", text.minilm_dir(), device=device)
    if spec.startswith("wordvec:") and len(spec) > 8:
        return text.word_vector_file(spec[8:])
    if spec.startswith("sentence:") and len(spec) > 9:
        return text.SentenceEncoder(spec, spec[9:], device=device)
    if spec.startswith("random:"):
        dim, _, seed = spec[7:].partition(":")
        if dim.isdigit() and (not seed or seed.isdigit()):
            return text.RandomVectors(int(dim), int(seed or 0))
    raise _unknown(spec, "text")
