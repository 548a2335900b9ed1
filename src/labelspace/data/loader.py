"""The input pipeline: images decoded and preprocessed in DataLoader workers while the model computes.

``image_batches`` yields ``(dataset positions, batch or None, skipped)`` in dataset order. Workers
(``--workers``; default ``devices.default_workers()``) decode and preprocess the next batches while the
current one is encoded; on CUDA the batches come in pinned memory so the copy to the GPU is
asynchronous (``non_blocking``). A corrupt or missing image is counted and skipped inside the worker.

``preprocess="device"`` sends uint8 pixels instead and resizes (bicubic, antialiased), crops and
normalises them on the model's device (``device_transform``): the CPU work per image is almost nil, so
a GPU is not held back by PIL. Its difference from the PIL preprocessing is stated in the README.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from labelspace.devices import resolve_workers
from labelspace.errors import LabelspaceError

UNREADABLE = (OSError, ValueError, SyntaxError)  # what PIL raises on corrupt or missing files
PREPROCESS = ("auto", "pil", "device")


class _Preprocessed(torch.utils.data.Dataset):
    """Item ``i``: (i, preprocessed tensor) or (i, None) when the image cannot be read."""

    def __init__(self, dataset, preprocess: Callable):
        self.dataset, self.preprocess = dataset, preprocess

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        try:
            return i, self.preprocess(self.dataset.load(i))
        except UNREADABLE:
            return i, None


def _collate(items: list) -> tuple[list[int], torch.Tensor | None, int]:
    kept = [(i, x) for i, x in items if x is not None]
    batch = torch.stack([x for _, x in kept]) if kept else None
    return [i for i, _ in kept], batch, len(items) - len(kept)


def uint8_pixels(image) -> torch.Tensor:
    """A PIL image as a (3, H, W) uint8 tensor: what ``preprocess="device"`` sends to the device."""
    return torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1)


def image_batches(dataset, preprocess: Callable, batch_size: int, workers: int | None = None,
                  pin_memory: bool = False) -> Iterator[tuple[list[int], torch.Tensor | None, int]]:
    """Batches of ``preprocess(dataset.load(i))`` in dataset order, prepared by ``workers`` processes."""
    workers = resolve_workers(workers)
    loader = torch.utils.data.DataLoader(
        _Preprocessed(dataset, preprocess), batch_size=batch_size, shuffle=False, num_workers=workers,
        collate_fn=_collate, pin_memory=pin_memory, prefetch_factor=4 if workers else None)
    try:
        yield from loader
    except RuntimeError as e:  # torch.stack on images of different sizes (device preprocessing)
        if "stack expects each tensor to be equal size" in str(e):
            raise LabelspaceError(f"images of {dataset.name} differ in size: preprocess them on the CPU "
                                  "(--preprocess pil)") from e
        raise


def _steps(transform) -> list:
    return list(getattr(transform, "transforms", [transform]))


def device_transform(transform) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The eval ``transform`` (torchvision Resize/CenterCrop/ToTensor/Normalize, as open_clip and timm build it)
    as a function of a (B, 3, H, W) uint8 batch on any device; None when it has other steps."""
    from torchvision import transforms as T

    steps = []
    for step in _steps(transform):
        name = type(step).__name__ if not callable(step) or hasattr(step, "forward") else getattr(step, "__name__", "")
        if isinstance(step, T.Resize):
            steps.append(lambda x, s=step: T.functional.resize(x, s.size, s.interpolation, s.max_size,
                                                                antialias=True).clamp_(0, 1))
        elif isinstance(step, (T.CenterCrop, T.Normalize)):
            steps.append(step)
        elif name in ("ToTensor", "MaybeToTensor", "_convert_to_rgb"):
            continue  # the batch is float RGB already
        else:
            return None

    def apply(batch: torch.Tensor) -> torch.Tensor:
        x = batch.float().div_(255)
        for step in steps:
            x = step(x)
        return x

    return apply


def choose_preprocess(mode: str, dataset, device: torch.device, transform) -> str:
    """``pil`` or ``device``: ``auto`` is ``device`` on CUDA for in-memory uint8 sets with a known transform."""
    if mode not in PREPROCESS:
        raise LabelspaceError(f"unknown preprocessing {mode!r} (accepted: {', '.join(PREPROCESS)})")
    if mode != "auto":
        if mode == "device" and device_transform(transform) is None:
            raise LabelspaceError(f"--preprocess device: the transform {transform} has steps other than "
                                  "resize, crop and normalise (use pil)")
        return mode
    root = dataset
    while hasattr(root, "parent"):
        root = root.parent
    in_memory = isinstance(getattr(root, "images", None), np.ndarray)
    return "device" if device.type == "cuda" and in_memory and device_transform(transform) is not None else "pil"
