"""CLIP training losses: symmetric InfoNCE (CLIP) and the pairwise sigmoid loss (SigLIP).

Across processes both use the *local-loss* form: each rank gathers every rank's features with
gradients (``all_gather_single`` of torch.distributed's functional collectives: its backward is a
reduce-scatter) but only scores its own rows against the whole batch, so logit memory is (local batch x
global batch), linear in the global batch, instead of the full (global x global) matrix. With DDP averaging the gradients, the rank losses' mean and the
gradients equal the single-process loss on the concatenated batch.

The pure functions take the local rows, the gathered columns and the local rows' offset in the
global batch, so the same code serves one process, many processes and the memory benchmark.

Label-aware targets (UniCL, Yang et al. 2022): with class ``labels`` for the pairs (images with captions made
from class names), every pair sharing a label is a positive: CLIP's targets spread evenly over them, SigLIP's
z_ij is +1 for them. Without labels each pair is its own class (labels = its position in the global batch),
which is the plain loss; so distinct labels give exactly the plain loss, through the same operations (CLIP:
rows with one positive use index targets, as without labels, which keeps the plain loss's memory; only
rows with several positives need the (local x global) target matrix).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from labelspace.distributed import rank_and_world

INIT_LOGIT_SCALE = math.log(1 / 0.07)
MAX_LOGIT_SCALE = math.log(100)
SIGLIP_INIT = (math.log(10), -10.0)  # SigLIP paper: t' = log 10, b = -10


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenation of ``x`` from every rank in rank order; gradients flow back to each rank's own rows."""
    if rank_and_world()[1] == 1:
        return x
    from torch.distributed._functional_collectives import all_gather_single  # differentiable

    return all_gather_single(x.contiguous(), 0, torch.distributed.group.WORLD)


def gather_labels(labels: torch.Tensor) -> torch.Tensor:
    """Every rank's labels in rank order (no gradients: they are targets)."""
    world = rank_and_world()[1]
    if world == 1:
        return labels
    parts = [torch.empty_like(labels) for _ in range(world)]
    torch.distributed.all_gather(parts, labels)
    return torch.cat(parts)


def positives(n_local: int, n_all: int, offset: int, labels: torch.Tensor | None, all_labels: torch.Tensor | None,
              device) -> torch.Tensor:
    """(local, all) boolean: which columns are positives of each local row. Without labels, only the pair itself."""
    if labels is None:
        labels = torch.arange(offset, offset + n_local, device=device)
        all_labels = torch.arange(n_all, device=device)
    return labels[:, None] == all_labels[None, :]


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, all_image: torch.Tensor, all_text: torch.Tensor,
                     logit_scale: torch.Tensor, offset: int = 0, labels: torch.Tensor | None = None,
                     all_labels: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE of the local rows against all columns; row i's positive is column offset + i, or with
    ``labels`` (local) and ``all_labels`` (every column's), each column of its label, with equal target weight.

    ``logit_scale`` is the multiplier (already exponentiated), features are unit rows.
    """
    if labels is None:
        targets = torch.arange(offset, offset + len(image), device=image.device)
    else:
        positive = positives(len(image), len(all_text), offset, labels, all_labels, image.device)
        count = positive.sum(dim=1, keepdim=True)
        targets = positive.int().argmax(dim=1) if bool((count == 1).all()) else positive / count
    per_image = logit_scale * image @ all_text.T
    per_text = logit_scale * text @ all_image.T
    return (F.cross_entropy(per_image, targets) + F.cross_entropy(per_text, targets)) / 2


def sigmoid_loss(image: torch.Tensor, all_text: torch.Tensor, logit_scale: torch.Tensor, logit_bias: torch.Tensor,
                 offset: int = 0, labels: torch.Tensor | None = None,
                 all_labels: torch.Tensor | None = None) -> torch.Tensor:
    """SigLIP: -sum log sigmoid(z_ij * (scale * x_i.y_j + bias)) over local images i and all texts j,
    divided by the local batch; z_ij = 1 for the pair (or, with labels, every pair of its label), -1 otherwise."""
    logits = logit_scale * image @ all_text.T + logit_bias
    signs = positives(len(image), len(all_text), offset, labels, all_labels, image.device) * 2.0 - 1.0
    return -F.logsigmoid(signs * logits).sum() / len(image)


class ContrastiveLoss(nn.Module):
    """CLIP's loss for one process or many (local-loss form, gathered with gradients)."""

    def forward(self, image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor,
                logit_bias: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
        all_image, all_text = gather_with_grad(image), gather_with_grad(text)
        all_labels = gather_labels(labels) if labels is not None else None
        return contrastive_loss(image, text, all_image, all_text, logit_scale, rank_and_world()[0] * len(image),
                                labels, all_labels)


class SigmoidLoss(nn.Module):
    """SigLIP's loss for one process or many (every rank's texts gathered with gradients)."""

    def forward(self, image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor,
                logit_bias: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
        if logit_bias is None:
            raise ValueError("the sigmoid loss needs a model with a learned logit_bias (build it with loss='siglip')")
        all_labels = gather_labels(labels) if labels is not None else None
        return sigmoid_loss(image, gather_with_grad(text), logit_scale, logit_bias, rank_and_world()[0] * len(image),
                            labels, all_labels)


LOSSES = {"clip": ContrastiveLoss, "siglip": SigmoidLoss}
