"""Class representations: one vector per class, from a vision model or from a language model, or WordNet.

Vision (the seed's equation 1): ``R_i = 1/|C_i| sum_j f(I_ij)``, the mean of the encoded images
of class i, optionally of unit-normalised features. The per-image ``Features`` stay attached
(memory-mapped when cached) so the bootstrap can resample images within classes.

Language: the class name's vector from any object with ``.encode(labels) -> (n, dim)`` (word
vectors, sentence encoders). With ``templates`` ("a photo of a {}.") each
class vector is the mean of its unit-normalised prompt vectors (prompt ensembling, as open_clip's
``build_zero_shot_classifier`` does), so only the direction matters.

A CLIP model (``models.ImageTextModel``) serves both sides: as an image model its class vectors are mean
image embeddings, named ``<model> (image)``; as a text model they are its zero-shot classifier weights
(``zeroshot.build_classifier``: prompt-ensembled label embeddings, ``CLIP_TEMPLATES`` unless ``templates``
are given), named ``<model> (text)``.

Without images, over a WordNet label set (``--classes imagenet-1k``): a network's class vectors are the
rows of its ImageNet classifier's ``head.weight`` (its class weights, not mean image features; the bias is
left out), a language model's are its synset vectors (``zeroshot.synset_bank``: the mean of the unit lemma
vectors), and WordNet itself gives no vectors but a similarity, Wu-Palmer (``WordNet.wu_palmer``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from labelspace.data.features import Features, group_sums
from labelspace.errors import LabelspaceError
from labelspace.metrics.hierarchy import wordnet
from labelspace.models import ImageTextModel
from labelspace.vocab import LabelSet
from labelspace.zeroshot import label_vectors
from labelspace.zeroshot.classifier import build_classifier

CLIP_TEMPLATES = "openai"  # a CLIP text side's prompts when none are given: CLIP's 80 ImageNet templates, as zero-shot


@dataclass
class ClassRepresentations:
    """A (classes, dim) matrix of class vectors, or a ready (classes, classes) ``similarity``, with descriptors
    of where it came from.

    ``domain`` names the image distribution (e.g. ``clean``, ``inverted``); vision models on the
    same domain are compared with each other, one model on two domains across domains. Class vectors
    with no images behind them (a classifier's weights) have no domain.
    """

    class_names: list[str]
    vectors: np.ndarray | None
    model: str
    modality: str  # "vision", "language" or "wordnet"
    domain: str = ""
    dataset: str = ""
    features: Features | None = field(default=None, repr=False)
    normalize: bool = False
    similarity: np.ndarray | None = field(default=None, repr=False)  # given instead of vectors (WordNet)

    @property
    def label(self) -> str:
        return f"{self.model} on {self.domain}" if self.domain else self.model

    def resampled_vectors(self, draws: np.ndarray) -> np.ndarray:
        """Class means of bootstrap resamples: ``draws`` (replicates, images) holds feature rows.

        Row ``draws[b, k]`` replaces image k (of the same class) in replicate b; returns
        (replicates, classes, dim). A language representation has no images and is returned as is.
        """
        if self.features is None:
            return np.broadcast_to(self.vectors, (len(draws),) + self.vectors.shape)
        n_classes = len(self.class_names)
        targets = np.asarray(self.features.targets)
        groups = (np.arange(len(draws))[:, None] * n_classes + targets[draws]).ravel()
        sums = group_sums(self.features.features, groups, draws.ravel(), len(draws) * n_classes,
                          normalize=self.normalize)
        counts = np.bincount(targets, minlength=n_classes)
        return (sums.reshape(len(draws), n_classes, -1) / counts[None, :, None]).astype(np.float32)


def side_name(encoder, side: str) -> str:
    """The name of a model's representations: a CLIP model's says which side, ``run:clip (image)``."""
    return f"{encoder.name} ({side})" if isinstance(encoder, ImageTextModel) else encoder.name


def vision_representations(features: Features, model: str, domain: str = "", normalize: bool = False,
                           dataset: str = "") -> ClassRepresentations:
    """Class means of a model's image features (equation 1); every class needs an image."""
    return ClassRepresentations(list(features.class_names), features.class_means(normalize), model, "vision",
                                domain, dataset, features, normalize)


def _wnids(labels) -> list[str]:
    if not isinstance(labels, LabelSet) or labels.wnids is None:
        raise LabelspaceError(f"class vectors without images need a WordNet label set such as imagenet-1k, not "
                              f"{getattr(labels, 'spec', 'a list of names')!r}")
    return labels.wnids


def head_representations(encoder, labels: LabelSet) -> ClassRepresentations:
    """The rows of an image model's ImageNet classifier weights (``head.weight``) for a WordNet label set."""
    if encoder.head is None or encoder.head_wnids is None:
        raise LabelspaceError(f"image model {encoder.name!r} has no ImageNet classification head to take class "
                              "vectors from")
    wnids, row = _wnids(labels), {w: i for i, w in enumerate(encoder.head_wnids)}
    missing = [n for n, w in zip(labels.names, wnids) if w not in row]
    if missing:
        raise LabelspaceError(f"image model {encoder.name!r} has no head row for {len(missing)} class(es) of "
                              f"{labels.spec!r} (e.g. {missing[0]!r}); its head holds the 1,000 ImageNet-1K classes")
    weight = encoder.head.weight.detach().float().cpu().numpy()
    return ClassRepresentations(list(labels.names), weight[[row[w] for w in wnids]], encoder.name, "vision")


def wordnet_representations(labels: LabelSet) -> ClassRepresentations:
    """WordNet's own relations between the synsets of a label set: their Wu-Palmer similarities."""
    return ClassRepresentations(list(labels.names), None, "WordNet Wu-Palmer", "wordnet",
                                similarity=wordnet().wu_palmer(_wnids(labels)))


GROUPS = {"n02084071": "dog", "n00015388": "other animal", "n00021939": "artifact"}  # the first that holds a class


def wordnet_groups(labels: LabelSet) -> list[str]:
    """Each class's coarse WordNet group, for colouring maps: dog, other animal, artifact or other."""
    net = wordnet()
    above = [net.ancestors(w) for w in _wnids(labels)]
    return [next((name for top, name in GROUPS.items() if top in up), "other") for up in above]


def text_representations(encoder, class_names: Sequence[str], model: str | None = None,
                         templates: Sequence[str] | None = None) -> ClassRepresentations:
    """Class-name vectors from ``encoder.encode(labels)``; ``templates`` enables prompt ensembling; a WordNet
    ``LabelSet``'s synset vectors by the lemma rule (``zeroshot.synsets``). A CLIP model's are its prompt-ensembled
    label embeddings (a ``LabelSet``'s label texts, as zero-shot prompts them), over ``CLIP_TEMPLATES`` by default."""
    names = list(class_names)
    if isinstance(encoder, ImageTextModel):
        model = side_name(encoder, "text")
        texts = class_names.texts if isinstance(class_names, LabelSet) else names
        vectors = np.asarray(build_classifier(encoder, texts, templates or CLIP_TEMPLATES), dtype=np.float32)
        return ClassRepresentations(names, vectors, model, "language")
    model = model or getattr(encoder, "name", type(encoder).__name__)
    prompts = (templates if isinstance(templates, str) else list(templates)) if templates else None  # str: a set, a file
    vectors = np.asarray(label_vectors(encoder, class_names, prompts), dtype=np.float32)
    if vectors.shape[0] != len(names):
        raise LabelspaceError(f"text model {model!r} returned {vectors.shape[0]} vectors for {len(names)} class names")
    return ClassRepresentations(names, vectors, model, "language")


def align_classes(names_a: Sequence[str], names_b: Sequence[str], what_a: str, what_b: str) -> np.ndarray:
    """Index that puts classes ``names_b`` in the order of ``names_a``; differing class sets are an error naming them."""
    names_a, names_b = list(names_a), list(names_b)
    if names_a == names_b:
        return np.arange(len(names_a))
    only_a = [n for n in names_a if n not in names_b]
    only_b = [n for n in names_b if n not in names_a]
    if only_a or only_b or len(names_a) != len(names_b):
        raise LabelspaceError(f"class names differ between {what_a!r} and {what_b!r}: only in the first "
                              f"{only_a or '-'}, only in the second {only_b or '-'} (compare the same classes, "
                              "or map names with a preset such as --preset voc)")
    return np.array([names_b.index(n) for n in names_a])
