"""The one process-group setup under ``torchrun``, shared by training and evaluation.

Where CUDA exists the group has both backends, gloo for CPU tensors and NCCL for CUDA ones, so
``--device cpu`` works on a GPU machine; a process training on CUDA is bound to its GPU (``device``,
``LOCAL_RANK`` modulo the GPUs seen) before the group starts, so ranks do not all land on cuda:0.
Without CUDA it is gloo. Alone (no ``RANK`` in the environment) nothing is started and the rank is 0 of 1.
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


def init_distributed(device: torch.device | None = None) -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes in the environment, if any; (rank, world size).
    ``device``: this process's resolved device (``labelspace.devices.resolve_device``); a CUDA one is bound."""
    if "RANK" in os.environ and dist.is_available() and not dist.is_initialized():
        gpu = device if device is not None and device.type == "cuda" else None
        if gpu is not None:
            torch.cuda.set_device(gpu)
        dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo", device_id=gpu)
    return rank_and_world()


@contextmanager
def process_group(device: torch.device | None = None) -> Iterator[tuple[int, int]]:
    """``init_distributed`` for a block; the group is destroyed at its end if this block started it."""
    started = not (dist.is_available() and dist.is_initialized())
    rank, world = init_distributed(device)
    try:
        yield rank, world
    finally:
        if started and dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
