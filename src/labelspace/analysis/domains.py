"""Shifted domains made on the fly from an image array (offline stand-ins for PASCAL VOC vs COCO).

Each shift keeps the images, their order and their classes and changes only their look, so one
model's class representations on the clean and the shifted copy can be compared class by class:

- ``inverted``: ``255 - x`` (dark garments on a white background);
- ``blurred``: Gaussian blur, sigma = 1/28 of the image side (1 px on Fashion-MNIST);
- ``noisy``: additive Gaussian pixel noise, sigma 40 grey levels, clipped (seeded);
- ``colour-jittered``: each image's background and foreground get random RGB colours (seeded),
  ``out = bg + (fg - bg) * x / 255``.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from labelspace.data.datasets import ArrayImages, ImageDataset, Subset
from labelspace.errors import LabelspaceError

SHIFTS = ("inverted", "blurred", "noisy", "colour-jittered")


def _pixels(dataset: ImageDataset) -> np.ndarray:
    """The uint8 image array behind an array dataset or a subset of one."""
    if isinstance(dataset, ArrayImages):
        return dataset.images
    if isinstance(dataset, Subset) and isinstance(dataset.parent, ArrayImages):
        return dataset.parent.images[dataset.indices]
    raise LabelspaceError(f"shifted domains are made from image arrays (Fashion-MNIST, synthetic); "
                          f"{dataset.name!r} is not one")


def shift_pixels(images: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """Apply one of ``SHIFTS`` to uint8 images (N, H, W) or (N, H, W, 3)."""
    rng = np.random.default_rng(seed)
    x = images.astype(np.float32)
    if kind == "inverted":
        out = 255.0 - x
    elif kind == "blurred":
        sigma = images.shape[1] / 28
        out = gaussian_filter(x, sigma=(0, sigma, sigma) + (0,) * (x.ndim - 3))
    elif kind == "noisy":
        out = x + rng.normal(0.0, 40.0, size=x.shape)
    elif kind == "colour-jittered":
        grey = x if x.ndim == 3 else x.mean(axis=-1)
        bg, fg = (rng.uniform(0, 255, size=(len(x), 1, 1, 3)) for _ in range(2))
        out = bg + (fg - bg) * grey[..., None] / 255.0
    else:
        raise LabelspaceError(f"unknown domain shift {kind!r} (accepted: {', '.join(SHIFTS)})")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def shifted(dataset: ImageDataset, kind: str, seed: int = 0) -> ArrayImages:
    """A shifted copy of an array dataset: same images, order and classes, named ``<name>+<kind>``."""
    return ArrayImages(f"{dataset.name}+{kind}", shift_pixels(_pixels(dataset), kind, seed), dataset.targets,
                       dataset.class_names)
