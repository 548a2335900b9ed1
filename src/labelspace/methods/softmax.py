"""The DeViSE paper's baseline: a softmax classifier over the seen labels, on the same cached features.

It knows only the labels it was trained on: as a ``Classifier`` it gives log-probabilities to those
and -inf to any other candidate, so it never predicts an unseen label (GZSL u = 0 by construction); its
``probabilities`` over candidates are its own, renormalised over the candidates it knows.
ConSE turns its probabilities into a zero-shot model (``ConSEClassifier(..., seen=softmax)``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from labelspace.errors import LabelspaceError
from labelspace.methods.base import Classifier
from labelspace.methods.devise import as_tensor
from labelspace.training import TrainConfig, fit


def train_softmax(features, targets, n_labels: int, config: TrainConfig, **fit_options) -> tuple[nn.Linear, object]:
    """Fit a linear softmax layer on ``features`` with ``targets`` in [0, n_labels)."""
    features, targets = as_tensor(features), torch.as_tensor(np.asarray(targets), dtype=torch.long)
    torch.manual_seed(config.seed)
    model = nn.Linear(features.shape[1], n_labels)

    def loss_fn(m, batch, generator):
        x, y = batch
        return F.cross_entropy(m(x), y)

    return model, fit(model, loss_fn, (features, targets), config, **fit_options)


class SoftmaxClassifier(Classifier):
    """A trained softmax layer over ``labels`` as a ``Classifier``: its probabilities are its own (calibrated)."""

    calibrated = True

    def __init__(self, head: nn.Linear, labels: Sequence[str], image_encoder=None):
        if head.out_features != len(labels):
            raise LabelspaceError(f"softmax head has {head.out_features} outputs but {len(labels)} labels were given")
        self.head, self.labels, self.image_encoder = head.eval(), list(labels), image_encoder

    @torch.no_grad()
    def log_probabilities(self, features) -> np.ndarray:
        features = as_tensor(features)
        if features.ndim != 2 or features.shape[1] != self.head.in_features:
            raise LabelspaceError(f"features must be (images, {self.head.in_features}), got {tuple(features.shape)}; "
                                  "use the image model the softmax was trained on")
        return F.log_softmax(self.head(features.to(self.head.weight.device)), dim=1).cpu().numpy()

    def seen_probabilities(self, features) -> np.ndarray:
        return np.exp(self.log_probabilities(features))

    def candidates(self, labels: Sequence[str]) -> Sequence[str]:
        """Any labels, as long as the softmax knows some of them (it scores the others -inf)."""
        if not set(labels) & set(self.labels):
            raise LabelspaceError(f"a softmax over {len(self.labels)} trained labels cannot name any of the "
                                  f"{len(labels)} candidates (e.g. {labels[0]!r}); use conse, devise or clip")
        return labels

    def scores(self, features, labels: Sequence[str], templates=None) -> np.ndarray:
        """Log-probabilities of the seen labels; -inf for any other (a softmax cannot name them; no text, so
        ``templates`` change nothing)."""
        index = {label: i for i, label in enumerate(self.labels)}
        logp = self.log_probabilities(features)
        out = np.full((len(logp), len(labels)), -np.inf, dtype=np.float32)
        for column, label in enumerate(labels):
            if label in index:
                out[:, column] = logp[:, index[label]]
        return out
