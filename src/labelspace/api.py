"""The Python verbs behind the CLI: ``classify`` images against any labels, and a zero-shot ``pipeline``."""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import torch
from PIL import Image

from labelspace.data.images import open_image
from labelspace.encoders.text import check_labels
from labelspace.errors import LabelspaceError, moved_names
from labelspace.methods import DEFAULT_IMAGE_MODEL, create_classifier, rank_labels
from labelspace.methods.clip import CLIPClassifier
from labelspace.vocab import LabelSet, as_labels, check_hedge, describe, hedger, synset_names


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


def resolve_labels(labels: str | Sequence[str]):
    """Candidate labels as every verb takes them: a label-set spec (``imagenet-21k``, ``wordnet:<wnid>``, a file;
    ``labelspace list``) or a list of label names (stripped, each once)."""
    labels = as_labels(labels)
    return labels if isinstance(labels, LabelSet) else check_labels(labels)


def check_hedged(labels, hedge: float | None) -> None:
    """A hedged answer (``hedge``: a probability in (0, 1]) needs WordNet labels: one line otherwise."""
    if hedge is None:
        return
    check_hedge(hedge)
    if not isinstance(labels, LabelSet) or labels.wnids is None:
        raise LabelspaceError("hedging answers over WordNet: name a WordNet label set (e.g. imagenet-21k), not a list "
                              "of labels")


class Answers(NamedTuple):
    """``answers``: ranked ``{"label", "score"}`` per image (and ``wnid``, ``gloss``, ``path`` for a WordNet set), the
    hedged answer per image or None, the candidates scored (a WordNet set without the synsets the text model has
    no word for), and what the scores are (``Classifier.score_name``: "probability" or "score (uncalibrated)")."""

    ranked: list[list[dict]]
    hedged: list[dict] | None
    candidates: Sequence[str]
    score_name: str


def answers(images: Sequence, labels: str | Sequence[str], method: str = "conse", image_model: str | None = None,
            text_model: str | None = None, top: int = 5, top_t: int | None = None, templates=None,
            checkpoint: str | None = None, device="cpu", precision: str = "fp32",
            hedge: float | None = None) -> Answers:
    """``classify``'s ``Answers``: the ranked labels, the hedged answer per image where ``hedge`` is given
    (``hedged``), the candidate labels scored and what the scores are."""
    labels = resolve_labels(labels)
    check_hedged(labels, hedge)
    pictures = [open_image(image) for image in images]  # bad files fail before any model loads
    model = classifier(method, image_model, text_model, top_t, templates, checkpoint, device, precision)
    return answer_features(model, _encode_images(model, pictures), labels, top, hedge)


def answer_features(model, features, labels: Sequence[str], top: int | None = None, hedge: float | None = None,
                    templates=None) -> Answers:
    """``answers`` for encoded images, in one scoring pass of ``model``; ``templates`` (optional) prompt-ensemble
    the labels. ``check_hedged`` comes first."""
    labels = model.candidates(labels)
    scores = model.scores(features, labels, templates)
    probabilities = model.as_probabilities(scores)
    ranked = rank_labels(scores, labels, top, shown=probabilities)
    synsets = labels.wnids if isinstance(labels, LabelSet) else None
    if synsets is not None:
        index = {name: i for i, name in enumerate(labels.names)}
        ranked = [[{**item, **describe(synsets[index[item["label"]]])} for item in row] for row in ranked]
    hedged = None
    if hedge is not None:
        hedged = [{"label": synset_names([wnid])[0], "probability": mass, **describe(wnid)}
                  for wnid, mass in hedger(synsets).answer(probabilities, hedge)]
    return Answers(ranked, hedged, labels, model.score_name)


def classify(images: Sequence, labels: str | Sequence[str], method: str = "conse", image_model: str | None = None,
             text_model: str | None = None, top: int = 5, top_t: int | None = None, templates=None,
             checkpoint: str | None = None, device="cpu", precision: str = "fp32") -> list[list[dict]]:
    """Rank ``labels`` for each image: one list of ``{"label", "score"}`` per image, best first.

    ``labels``: a list of names, or a label-set spec (``"imagenet-21k"``, ``"wordnet:n02084071"``; ``labelspace
    list``), whose answers also carry ``wnid``, ``gloss`` and ``path`` (hypernyms, "tabby < domestic cat < cat").
    Each score is ``Classifier.probabilities``' value for the label: they sum to 1 over all the labels (except for
    SigLIP's independent per-label ones), and are calibrated probabilities where the classifier is ``calibrated``
    (CLIP, DeViSE), scores on that scale otherwise (ConSE's default). ``checkpoint`` holds local weights for a
    ``timm:<name>`` image model.
    """
    return answers(images, labels, method, image_model, text_model, top, top_t, templates, checkpoint, device,
                   precision).ranked


def hedged(images: Sequence, labels: str | Sequence[str], p: float = 0.5, **options) -> list[dict]:
    """Per image, the most specific WordNet synset whose subtree holds probability >= ``p`` (Deng et al. 2012,
    ``vocab.hedging``): ``{"label", "probability", "wnid", "gloss", "path"}``; options as ``classify``'s."""
    return answers(images, labels, hedge=p, **options).hedged


__getattr__ = moved_names(__name__, {"METHODS": "moved: the methods are labelspace.registry.METHODS.list()"})


class ZeroShotPipeline:
    """``pipeline(model)(image, candidate_labels=[...])`` -> ``[{"label", "score"}]`` sorted, like Hugging Face's.

    Label embeddings (prompt-ensembled) are cached in memory and on disk across calls.
    """

    def __init__(self, model, templates="openai", device="cpu", precision: str = "fp32"):
        self.classifier = CLIPClassifier(model, templates, device=device, precision=precision)

    def __call__(self, images, candidate_labels: Sequence[str], top_k: int | None = None):
        single = isinstance(images, (str, os.PathLike, Image.Image))
        labels = self.classifier.candidates(resolve_labels(candidate_labels))
        features = _encode_images(self.classifier, [open_image(i) for i in ([images] if single else images)])
        ranked = self.classifier.rank(features, labels, top=top_k)
        return ranked[0] if single else ranked


def pipeline(model: str = DEFAULT_IMAGE_MODEL["clip"], templates="openai", device="cpu",
             precision: str = "fp32") -> ZeroShotPipeline:
    return ZeroShotPipeline(model, templates, device, precision)
