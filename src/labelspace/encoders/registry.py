"""The encoder entries of ``IMAGE_ENCODERS`` and ``TEXT_ENCODERS`` (``labelspace.registry``), like timm's names.

Image specs: ``efficientnet-lite0|1|2`` (packaged weights) and ``timm:<name>`` (``checkpoint=`` a local file).
Text specs: ``glove-6b-50d`` (packaged), ``minilm`` (packaged), ``wordvec:<file>``, ``sentence:<dir>``,
``random:<dim>[:<seed>]`` (random label vectors, the DeViSE control).
Loaded encoders are kept per process, so repeated calls are free.
"""
from __future__ import annotations

from functools import lru_cache

from labelspace.devices import resolve_device, resolve_precision
from labelspace.encoders import image, text
from labelspace.errors import LabelspaceError
from labelspace.registry import IMAGE_ENCODERS, TEXT_ENCODERS, Entry

EncoderInfo = Entry  # the name before registries


def _efficientnet_lite(name: str, size: int):
    @IMAGE_ENCODERS.register(name, description=f"EfficientNet-Lite{name[-1]}, ImageNet-1k, {size} px, "
                             "1280-d + 1000-way head (packaged weights)")
    def load(argument: str, checkpoint: str | None = None, pretrained: bool = True) -> image.ImageEncoder:
        if checkpoint is not None:
            raise LabelspaceError(f"--checkpoint applies to timm:<name> image models, not {name!r} (packaged weights)")
        return image.EfficientNetLite(name)


for _name, (_, _, _size) in image.EFFICIENTNET_LITE.items():
    _efficientnet_lite(_name, _size)


@IMAGE_ENCODERS.register("timm", argument="<name>", offline=False,
                         description="any timm model; pretrained from the hub, or --checkpoint FILE")
def _timm(argument: str, checkpoint: str | None = None, pretrained: bool = True) -> image.ImageEncoder:
    return image.TimmEncoder(argument, checkpoint=checkpoint, pretrained=pretrained)


@TEXT_ENCODERS.register("glove-6b-50d", description="GloVe 6B word vectors, 400k words, 50-d (packaged)")
def _glove(argument: str, device: str = "cpu"):  # a table: no device
    return text.glove_6b_50d()


@TEXT_ENCODERS.register("minilm", description="all-MiniLM-L6-v2 sentence encoder, 384-d (packaged)")
def _minilm(argument: str, device: str = "cpu"):
    return text.SentenceEncoder("minilm", text.minilm_dir(), device=device)


@TEXT_ENCODERS.register("wordvec", argument="<file>", description="GloVe / word2vec / fastText vectors in text format")
def _wordvec(argument: str, device: str = "cpu"):  # a table: no device
    return text.word_vector_file(argument)


@TEXT_ENCODERS.register("sentence", argument="<dir>", description="any sentence-transformers model folder")
def _sentence(argument: str, device: str = "cpu"):
    return text.SentenceEncoder(f"sentence:{argument}", argument, device=device)


@TEXT_ENCODERS.register("random", argument="<dim>[:<seed>]",
                        description="fixed random label vectors (DeViSE's control), no semantics")
def _random(argument: str, device: str = "cpu"):  # a table: no device
    dim, _, seed = argument.partition(":")
    if not dim.isdigit() or (seed and not seed.isdigit()):
        raise LabelspaceError(f"text encoder 'random:{argument}' needs random:<dim>[:<seed>] with integers")
    return text.RandomVectors(int(dim), int(seed or 0))


def list_encoders() -> list[Entry]:
    """Every image and text encoder entry (CLIP models: ``labelspace.registry.CLIP_MODELS``)."""
    return IMAGE_ENCODERS.list() + TEXT_ENCODERS.list()


def load_image_encoder(spec: str, checkpoint: str | None = None, pretrained: bool = True, device="cpu",
                       precision: str = "fp32") -> image.ImageEncoder:
    """The image encoder behind ``spec`` on ``device`` (``labelspace.devices``), encoding in ``precision``."""
    device = resolve_device(device)
    return _image_encoder(spec, checkpoint, pretrained, str(device), resolve_precision(precision, device))


@lru_cache(maxsize=8)
def _image_encoder(spec: str, checkpoint: str | None, pretrained: bool, device: str, precision: str):
    return IMAGE_ENCODERS.create(spec, checkpoint=checkpoint, pretrained=pretrained).to(device, precision)


def load_text_encoder(spec: str, device="cpu"):
    """The label-text encoder behind ``spec``; sentence encoders run on ``device`` (word vectors are tables)."""
    return _text_encoder(spec, str(resolve_device(device)))


@lru_cache(maxsize=8)
def _text_encoder(spec: str, device: str):
    return TEXT_ENCODERS.create(spec, device=device)
