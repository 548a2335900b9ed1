"""Feature extraction sharded over ``torchrun`` processes (gloo on CPU, NCCL-free), gathered in dataset order.

Each process encodes every ``world``-th image; the shards are gathered and put back in dataset
order, so every metric is the same as in one process.
"""
from __future__ import annotations

import os

import numpy as np

from labelspace.data.features import Features, extract_features


def init_distributed() -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes in the environment; (rank, world size)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        if "RANK" not in os.environ:
            return 0, 1
        dist.init_process_group("gloo")
    return dist.get_rank(), dist.get_world_size()


def rank_and_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gathered_features(encoder, dataset, **kwargs) -> Features:
    """``extract_features`` over the whole dataset; in a process group each rank encodes one shard."""
    rank, world = rank_and_world()
    if world == 1:
        return extract_features(encoder, dataset, **kwargs)
    import torch.distributed as dist

    positions = np.arange(rank, len(dataset), world)
    kwargs.setdefault("progress", rank == 0)
    part = extract_features(encoder, dataset.subset(positions), **kwargs)
    parts = [None] * world
    dist.all_gather_object(parts, (np.asarray(part.features), positions[part.indices], part.skipped))
    indices = np.concatenate([p[1] for p in parts])
    order = np.argsort(indices, kind="stable")
    features = np.concatenate([p[0] for p in parts])[order]
    return Features(features, dataset.targets[indices[order]], indices[order], dataset.class_names,
                    sum(p[2] for p in parts))
