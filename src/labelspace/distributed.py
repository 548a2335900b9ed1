"""The one process-group setup under ``torchrun``, shared by training and evaluation.

NCCL on CUDA (each process on the GPU ``LOCAL_RANK`` names, set before the group starts so
ranks do not all land on cuda:0), gloo on CPU. Alone (no ``RANK`` in the environment) nothing
is started and the rank is 0 of 1.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the current process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed() -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes in the environment, if any; (rank, world size)."""
    if "RANK" in os.environ and dist.is_available() and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return rank_and_world()


@contextmanager
def process_group() -> Iterator[tuple[int, int]]:
    """``init_distributed`` for a block; the group is destroyed at its end if this block started it."""
    started = not (dist.is_available() and dist.is_initialized())
    rank, world = init_distributed()
    try:
        yield rank, world
    finally:
        if started and dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
