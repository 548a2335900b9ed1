"""Object crops, one view of a detection set (PASCAL VOC, COCO); the other, whole images with label sets,
is ``labelspace.data.eval_sets.MultiLabelSet``.

Readers fill plain arrays (one row per object or image: image index, box, class) and a list of
image paths as strings, so memory holds numbers and names only, never pixels: ``load(i)`` cuts one
box from its image, decoded once for all its objects. Boxes are 0-based pixel coordinates
``x0, y0, x1, y1`` (x1, y1 exclusive) checked against their image's size.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from labelspace.cache import digest, file_stats
from labelspace.data.datasets import ImageDataset
from labelspace.data.images import open_image
from labelspace.errors import LabelspaceError, moved_names

BOX_TOLERANCE = 1.0  # pixels a box may cross its image's border (rounding in COCO's float boxes)


def number(value, where: str) -> float:
    """``value`` as a finite float: a number, or the text of one (VOC's XML; a COCO file that quotes its numbers);
    anything else (other text, null, true, nan, inf) is a one-line error naming ``where``."""
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        result = math.nan
    if not math.isfinite(result):
        raise LabelspaceError(f"{where} is {value!r:.40}, not a finite number")
    return result


def check_box(box: Sequence[float], width: float, height: float, where: str) -> tuple[float, float, float, float]:
    """The box clipped to its image; a box of zero area or outside the image is a one-line error."""
    x0, y0, x1, y1 = box
    if not (x1 > x0 and y1 > y0):
        raise LabelspaceError(f"{where}: box {list(box)} has zero area (expected x0 < x1 and y0 < y1)")
    if x0 < -BOX_TOLERANCE or y0 < -BOX_TOLERANCE or x1 > width + BOX_TOLERANCE or y1 > height + BOX_TOLERANCE:
        raise LabelspaceError(f"{where}: box {list(box)} lies outside its {width:g}x{height:g} image")
    return max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))


def missing_images(paths: Sequence[str | Path], what: str) -> None:
    """One line naming the annotated images that are not on disk (how many, and the first few)."""
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise LabelspaceError(f"{len(missing)} image(s) named by {what} are missing: "
                              f"{', '.join(str(p) for p in missing[:3])}{' ...' if len(missing) > 3 else ''}")


class ObjectCrops(ImageDataset):
    """One item per object: its box widened by ``margin`` (a fraction of the box's width and height on
    each side, clipped to the image) cut from its image, labelled with the object's class."""

    def __init__(self, name: str, image_paths: Sequence[str], object_image: np.ndarray, boxes: np.ndarray,
                 targets: np.ndarray, class_names: Sequence[str], margin: float = 0.0):
        if not len(targets):
            raise LabelspaceError(f"dataset {name!r} has no objects left to crop (check its split and options)")
        self.name, self.image_paths, self.margin = name, list(image_paths), float(margin)
        self.object_image = np.asarray(object_image, dtype=np.int64)
        self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self.targets = np.asarray(targets, dtype=np.int64)
        self.class_names = list(class_names)
        self._last: tuple[int, Image.Image | None] = (-1, None)

    def crop_box(self, index: int, width: int, height: int) -> tuple[int, int, int, int]:
        """The integer pixel box ``load`` cuts for object ``index`` from a ``width`` x ``height`` image."""
        x0, y0, x1, y1 = self.boxes[index].tolist()
        dx, dy = self.margin * (x1 - x0), self.margin * (y1 - y0)
        return (max(0, math.floor(x0 - dx)), max(0, math.floor(y0 - dy)),
                min(width, math.ceil(x1 + dx)), min(height, math.ceil(y1 + dy)))

    def load(self, index: int) -> Image.Image:
        n = int(self.object_image[index])
        if self._last[0] != n:  # objects come grouped by image: decode each image once, keep only that one
            self._last = (n, open_image(self.image_paths[n]))
        image = self._last[1]
        return image.crop(self.crop_box(index, *image.size))

    def describe(self, index: int) -> str:
        return f"{self.image_paths[self.object_image[index]]} (object {index})"

    @property
    def fingerprint(self) -> str:
        return digest(self.name, file_stats(self.image_paths), self.object_image.tobytes(), self.boxes.tobytes(),
                       self.targets.tobytes(), self.class_names, self.margin)


__getattr__ = moved_names(__name__, {"LabelSets": "moved: use labelspace.data.eval_sets.MultiLabelSet "
                                                   "(the one multi-label type)"})
