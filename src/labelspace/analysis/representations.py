"""Class representations: one vector per class, from a vision model or from a language model.

Vision (the seed's equation 1): ``R_i = 1/|C_i| sum_j f(I_ij)``, the mean of the encoded images
of class i, optionally of unit-normalised features. The per-image ``Features`` stay attached
(memory-mapped when cached) so the bootstrap can resample images within classes.

Language: the class name's vector from any object with ``.encode(labels) -> (n, dim)`` (word
vectors, sentence encoders, CLIP text towers). With ``templates`` ("a photo of a {}.") each
class vector is the mean of its unit-normalised prompt vectors (prompt ensembling, as open_clip's
``build_zero_shot_classifier`` does), so only the direction matters.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from labelspace.data.features import Features, group_sums
from labelspace.errors import LabelspaceError
from labelspace.zeroshot import label_vectors


@dataclass
class ClassRepresentations:
    """A (classes, dim) matrix of class vectors with descriptors of where it came from.

    ``domain`` names the image distribution (e.g. ``clean``, ``inverted``); vision models on the
    same domain are compared with each other, one model on two domains across domains.
    """

    class_names: list[str]
    vectors: np.ndarray
    model: str
    modality: str  # "vision" or "language"
    domain: str = ""
    dataset: str = ""
    features: Features | None = field(default=None, repr=False)
    normalize: bool = False

    @property
    def label(self) -> str:
        return f"{self.model} on {self.domain}" if self.modality == "vision" else self.model

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


def vision_representations(features: Features, model: str, domain: str = "", normalize: bool = False,
                           dataset: str = "") -> ClassRepresentations:
    """Class means of a model's image features (equation 1); every class needs an image."""
    return ClassRepresentations(list(features.class_names), features.class_means(normalize), model, "vision",
                                domain, dataset, features, normalize)


def text_representations(encoder, class_names: Sequence[str], model: str | None = None,
                         templates: Sequence[str] | None = None) -> ClassRepresentations:
    """Class-name vectors from ``encoder.encode(labels)``; ``templates`` enables prompt ensembling."""
    names = list(class_names)
    model = model or getattr(encoder, "name", type(encoder).__name__)
    vectors = np.asarray(label_vectors(encoder, class_names, list(templates) if templates else None), dtype=np.float32)
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
