"""Feature extraction sharded over ``torchrun`` processes, gathered in dataset order.

Each process encodes every ``world``-th image (or, for a set that says which items are its own,
``dataset.rank_positions(rank, world)``: whole webdataset shards); the parts are gathered and put
back in dataset order, so every metric is the same as in one process.
"""
from __future__ import annotations

import numpy as np

from labelspace.data.features import Features, extract_features
from labelspace.distributed import rank_and_world


def gathered_features(encoder, dataset, **kwargs) -> Features:
    """``extract_features`` over the whole dataset; in a process group each rank encodes one shard."""
    rank, world = rank_and_world()
    if world == 1:
        return extract_features(encoder, dataset, **kwargs)
    import torch.distributed as dist

    own = getattr(dataset, "rank_positions", None)
    positions = own(rank, world) if own else np.arange(rank, len(dataset), world)
    kwargs.setdefault("progress", rank == 0)
    part = extract_features(encoder, dataset.subset(positions), **kwargs)
    parts = [None] * world
    dist.all_gather_object(parts, (np.asarray(part.features), positions[part.indices], part.skipped_images))
    indices = np.concatenate([p[1] for p in parts])
    order = np.argsort(indices, kind="stable")
    features = np.concatenate([p[0] for p in parts])[order]
    skipped = [message for p in parts for message in p[2]]
    return Features(features, dataset.targets[indices[order]], indices[order], dataset.class_names, len(skipped),
                    skipped_images=skipped)
