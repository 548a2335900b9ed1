"""DeViSE: Deep Visual-Semantic Embedding (Frome et al., NIPS 2013).

A linear map M takes (cached) image features v into a label-embedding space whose label vectors t
(word vectors, sentence embeddings, or random vectors as a control) are unit-normalised. Training
minimises the hinge rank loss

    loss(v, y) = sum_{j != y} max(0, margin - t_y . Mv + t_j . Mv)

over the training labels, vectorised over a batch and over all wrong labels at once. The paper's
cheaper variant keeps only the first margin-violating wrong label met in a random order
(``first_violation``). Inference ranks any candidate labels, seen or unseen, by cosine(Mv, t_j).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from labelspace.errors import LabelspaceError
from labelspace.methods.base import COSINE_TEMPERATURE, Classifier
from labelspace.numeric import unit_rows
from labelspace.zeroshot import label_vectors
from labelspace.training import TrainConfig, fit


def hinge_rank_loss(embedded: torch.Tensor, label_vectors: torch.Tensor, targets: torch.Tensor,
                    margin: float = 0.1, first_violation: bool = False,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean over the batch of the per-sample hinge rank loss; ``label_vectors`` (labels, dim) should be unit rows.

    With ``first_violation`` each sample keeps only the first violating wrong label in a random order
    (drawn from ``generator``), as in the paper's sampled variant.
    """
    scores = embedded @ label_vectors.T  # (batch, labels)
    true = scores.gather(1, targets[:, None])
    violation = (margin - true + scores).clamp(min=0)
    wrong = torch.ones_like(violation, dtype=torch.bool).scatter_(1, targets[:, None], False)
    violation = violation * wrong
    if not first_violation:
        return violation.sum(dim=1).mean()
    order = torch.rand(violation.shape, generator=generator).to(violation.device)
    order = order.masked_fill(violation.detach() <= 0, float("inf"))
    first = order.argmin(dim=1, keepdim=True)
    return violation.gather(1, first).mean()


class DeViSE(nn.Module):
    """The trainable part: features are centred on the training mean, then mapped linearly (no bias).

    ``M(v - mean)`` is computed as ``Mv - M mean``: the same map, without a batch-sized subtraction.
    """

    def __init__(self, feature_dim: int, label_dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(feature_dim))
        self.proj = nn.Linear(feature_dim, label_dim, bias=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.proj(features) - self.proj(self.mean)


def as_tensor(features) -> torch.Tensor:
    return features if isinstance(features, torch.Tensor) else torch.from_numpy(np.array(features, dtype=np.float32))


def train_devise(features, targets, label_vectors, config: TrainConfig, margin: float = 0.1,
                 first_violation: bool = False, **fit_options) -> tuple[DeViSE, object]:
    """Fit a DeViSE head on ``features`` whose ``targets`` index the rows of ``label_vectors``."""
    features, targets = as_tensor(features), torch.as_tensor(np.asarray(targets), dtype=torch.long)
    vectors = torch.from_numpy(unit_rows(label_vectors))
    if not 0 < margin < math.inf:
        raise LabelspaceError(f"margin must be positive, got {margin}")
    if len(targets) and (targets.min() < 0 or targets.max() >= len(vectors)):
        raise LabelspaceError(f"targets must index the {len(vectors)} label vectors")
    torch.manual_seed(config.seed)
    model = DeViSE(features.shape[1], vectors.shape[1])
    model.mean.copy_(features.mean(dim=0))

    def loss_fn(m, batch, generator):
        x, y = batch
        return hinge_rank_loss(m(x), vectors.to(x.device), y, margin, first_violation, generator)

    return model, fit(model, loss_fn, (features, targets), config, **fit_options)


class DeViSEClassifier(Classifier):
    """A trained DeViSE head as a ``Classifier``: cosine between mapped features and label vectors; its
    ``temperature`` is fitted on the validation classes by ``fit_on_split`` (``COSINE_TEMPERATURE`` before, and where
    the split has one validation class: ``calibrated`` False then)."""

    temperature = COSINE_TEMPERATURE

    def __init__(self, head: DeViSE, text_encoder, image_encoder=None):
        if text_encoder.dim != head.proj.out_features:
            raise LabelspaceError(f"text model {text_encoder.name!r} gives {text_encoder.dim}-d label vectors but "
                                  f"the DeViSE head maps into {head.proj.out_features}-d; use the text model it was trained with")
        self.head, self.text_encoder, self.image_encoder = head.eval(), text_encoder, image_encoder

    @torch.no_grad()
    def embed(self, features) -> np.ndarray:
        features = as_tensor(features)
        if features.ndim != 2 or features.shape[1] != self.head.proj.in_features:
            raise LabelspaceError(f"features must be (images, {self.head.proj.in_features}), got {tuple(features.shape)}; "
                                  "use the image model the head was trained on")
        return self.head(features.to(self.head.proj.weight.device)).cpu().numpy()

    def scores(self, features, labels: Sequence[str], templates=None) -> np.ndarray:
        """(images, labels) cosines of the mapped features to the label vectors (ensembled over ``templates``)."""
        return unit_rows(self.embed(features)) @ label_vectors(self.text_encoder, labels, templates).T
