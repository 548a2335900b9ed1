"""The one contract every zero-shot method meets, so one evaluation path serves them all.

A classifier owns the image encoder whose (cached) features it scores, and scores those features against any
candidate label set: ``scores(features, labels) -> (images, labels)``, higher is more likely, used for ranking
and every metric. ``probabilities(features, labels)`` is what ``classify`` and ``serve`` show: a softmax over
the candidates of ``scores / temperature``, so each row sums to 1 (CLIP: its logits, T = 1; the softmax
baseline: its log-probabilities, T = 1, renormalised over the candidates it knows; DeViSE: cosines, T fitted
by temperature scaling on the validation classes; ConSE: cosines at ``COSINE_TEMPERATURE``, uncalibrated).
The one exception is ``exclusive = False`` (SigLIP): independent per-label probabilities, as the model was trained.
``calibrated`` says whether those numbers are calibrated probabilities (CLIP, the softmax baseline, DeViSE with a
fitted temperature, any classifier after ``calibrate``) or a ranking score on a [0, 1] scale (ConSE);
``score_name`` is what the CLI, the JSON answers and the web page call them.

Methods are entries of ``labelspace.registry.METHODS``; ``create_classifier`` builds any of them from one spec
(``conse:efficientnet-lite0+minilm``, ``clip:open_clip:ViT-B-32/openai``, ``devise:runs/x``, a checkpoint folder)
and ``MethodOptions`` (what the spec leaves out).

A classifier trained on a split's seen classes may also carry ``validation_model``: the same method fitted
without the split's validation classes, on which GZSL calibration and CSLS choose their settings
(``evaluation.evaluate_split``); without it the classifier itself scores the validation classes.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labelspace.metrics.calibration import fit_temperature, label_softmax
from labelspace.registry import METHODS
from labelspace.zeroshot import covered_labels

DEFAULT_IMAGE_MODEL = {"conse": "efficientnet-lite0", "clip": "open_clip:ViT-B-32/openai"}
COSINE_TEMPERATURE = 0.05  # for cosine scores without a fitted temperature: a 0.1 cosine gap is a factor e^2


class Classifier:
    """Base of every method: subclasses set ``image_encoder`` and implement ``scores``."""

    image_encoder: object = None
    temperature: float = 1.0
    exclusive: bool = True  # one label per image: probabilities sum to 1 over the candidates
    calibrated: bool = False  # whether ``probabilities`` are calibrated probabilities, not just scores on [0, 1]
    validation_model: Classifier | None = None

    def scores(self, features: np.ndarray, labels: Sequence[str], templates=None) -> np.ndarray:
        """Higher is more likely; one row per image, one column per label; ``templates`` (optional) ensemble
        each label's prompts (``zeroshot.ensemble``)."""
        raise NotImplementedError

    def probabilities(self, features: np.ndarray, labels: Sequence[str], templates=None) -> np.ndarray:
        """Softmax over ``labels`` of ``scores / temperature``: each row sums to 1."""
        return self.as_probabilities(self.scores(features, labels, templates))

    def as_probabilities(self, scores: np.ndarray) -> np.ndarray:
        return label_softmax(scores, self.temperature)

    @property
    def score_name(self) -> str:
        """What the shown numbers are called: "probability" where ``calibrated``, else "score (uncalibrated)"."""
        return "probability" if self.calibrated else "score (uncalibrated)"

    def rank(self, features: np.ndarray, labels: Sequence[str], templates=None, top: int | None = None):
        """Per image, the ``top`` labels as ``{"label", "score"}`` dicts, best first; the score shown is what
        ``probabilities`` gives (one scoring pass)."""
        scores = self.scores(features, labels, templates)
        return rank_labels(scores, labels, top, shown=self.as_probabilities(scores))

    def candidates(self, labels: Sequence[str]) -> Sequence[str]:
        """The labels this classifier can score: all of them, except the synsets of a WordNet ``LabelSet`` that
        its text model has no word for, which are left out and counted (``LabelSet.excluded``)."""
        text_encoder = getattr(self, "text_encoder", None)
        return labels if text_encoder is None else covered_labels(text_encoder, labels)

    def label_probabilities(self, features: np.ndarray, labels: Sequence[str], templates=None) -> np.ndarray:
        """The former name of ``probabilities``."""
        return self.probabilities(features, labels, templates)

    def calibrate(self, features: np.ndarray, targets, labels: Sequence[str]) -> float:
        """Fit ``temperature`` on held-out images whose ``targets`` index ``labels``; rankings do not change, and the
        probabilities shown are calibrated from then on."""
        self.temperature = fit_temperature(self.scores(features, labels), targets)
        self.calibrated = True
        return self.temperature


@dataclass(frozen=True)
class MethodOptions:
    """What a method spec may leave out, filled from the caller's options (CLI flags, API arguments)."""

    image_model: str | None = None
    text_model: str | None = None
    top_t: int | None = None
    checkpoint: str | None = None  # local weights of a timm:<name> image model
    templates: str | Sequence[str] | None = None
    device: object = "cpu"
    precision: str = "fp32"


def create_classifier(spec: str, **options) -> Classifier:
    """The classifier a ``METHODS`` spec names; ``options`` (the ``MethodOptions`` fields) fill what the spec
    leaves out."""
    return METHODS.create(spec, options=MethodOptions(**options))


def rank_labels(scores: np.ndarray, labels: Sequence[str], top: int | None = None,
                shown: np.ndarray | None = None) -> list[list[dict]]:
    """Per image, the ``top`` labels as ``{"label", "score"}`` dicts, best ``scores`` first (ties keep label
    order); the score given is ``shown`` (e.g. probabilities) where passed."""
    shown, scores = scores if shown is None else shown, np.asarray(scores)
    order = [top_columns(row, top) for row in scores]
    return [[{"label": labels[j], "score": float(row[j])} for j in idx] for row, idx in zip(shown, order)]


def top_columns(row: np.ndarray, top: int | None) -> np.ndarray:
    """The ``top`` columns of one score row, best first, ties in column order; only the values tied with or
    above the top-th are sorted (a row of 82K labels is not sorted whole for 5 answers)."""
    if top is None or top >= len(row) or not np.isfinite(row).all():
        return np.argsort(-row, kind="stable")[:top]
    contenders = np.flatnonzero(row >= np.partition(row, len(row) - top)[len(row) - top])
    return contenders[np.argsort(-row[contenders], kind="stable")][:top]
