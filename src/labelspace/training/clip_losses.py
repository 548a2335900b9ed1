"""CLIP training losses: symmetric InfoNCE (CLIP) and the pairwise sigmoid loss (SigLIP).

Across processes both use the *local-loss* form: each rank gathers every rank's features with
gradients (``torch.distributed.nn.all_gather``) but only scores its own rows against the whole
batch, so logit memory is (local batch x global batch), linear in the global batch, instead of the
full (global x global) matrix. With DDP averaging the gradients, the rank losses' mean and the
gradients equal the single-process loss on the concatenated batch.

The pure functions take the local rows, the gathered columns and the local rows' offset in the
global batch, so the same code serves one process, many processes and the memory benchmark.
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
    import torch.distributed.nn

    return torch.cat(torch.distributed.nn.all_gather(x), dim=0)


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, all_image: torch.Tensor, all_text: torch.Tensor,
                     logit_scale: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """Symmetric InfoNCE of the local rows against all columns; row i's positive is column offset + i.

    ``logit_scale`` is the multiplier (already exponentiated), features are unit rows.
    """
    labels = torch.arange(offset, offset + len(image), device=image.device)
    per_image = logit_scale * image @ all_text.T
    per_text = logit_scale * text @ all_image.T
    return (F.cross_entropy(per_image, labels) + F.cross_entropy(per_text, labels)) / 2


def sigmoid_loss(image: torch.Tensor, all_text: torch.Tensor, logit_scale: torch.Tensor, logit_bias: torch.Tensor,
                 offset: int = 0) -> torch.Tensor:
    """SigLIP: -sum log sigmoid(z_ij * (scale * x_i.y_j + bias)) over local images i and all texts j,
    divided by the local batch; z_ij = 1 for the pair, -1 otherwise."""
    logits = logit_scale * image @ all_text.T + logit_bias
    signs = -torch.ones_like(logits)
    signs[torch.arange(len(image)), torch.arange(offset, offset + len(image))] = 1
    return -F.logsigmoid(signs * logits).sum() / len(image)


class ContrastiveLoss(nn.Module):
    """CLIP's loss for one process or many (local-loss form, gathered with gradients)."""

    def forward(self, image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor,
                logit_bias: torch.Tensor | None = None) -> torch.Tensor:
        all_image, all_text = gather_with_grad(image), gather_with_grad(text)
        return contrastive_loss(image, text, all_image, all_text, logit_scale, rank_and_world()[0] * len(image))


class SigmoidLoss(nn.Module):
    """SigLIP's loss for one process or many (every rank's texts gathered with gradients)."""

    def forward(self, image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor,
                logit_bias: torch.Tensor | None = None) -> torch.Tensor:
        if logit_bias is None:
            raise ValueError("the sigmoid loss needs a model with a learned logit_bias (build it with loss='siglip')")
        return sigmoid_loss(image, gather_with_grad(text), logit_scale, logit_bias, rank_and_world()[0] * len(image))


LOSSES = {"clip": ContrastiveLoss, "siglip": SigmoidLoss}
