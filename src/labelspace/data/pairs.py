"""Image-caption pairs: the one caption-pair type, read by CLIP training and by retrieval evaluation.

``CaptionData`` is what training reads (``pair(i) -> (image, caption)``, unreadable images replaced);
``CaptionSet`` is pairs held as an image dataset plus, per caption, its text and image position, so
retrieval evaluation extracts (and caches) each image's features once however many captions it has.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from labelspace.data.datasets import ImageDataset
from labelspace.data.images import BadImage
from labelspace.errors import LabelspaceError

log = logging.getLogger("labelspace")


class CaptionData:
    """Map-style image-caption pairs: ``load(i) -> (image, caption)``, or ``(image, caption, class index)`` for
    labelled sets (read by label-aware training); ``skipped`` counts dropped rows."""

    name: str
    skipped: int = 0

    def __len__(self) -> int:
        raise NotImplementedError

    def load(self, index: int):
        raise NotImplementedError

    @property
    def unreadable(self) -> dict[int, str]:
        return self.__dict__.setdefault("_unreadable", {})

    def pair(self, index: int):
        """``load(index)``, or when its image is unreadable the next readable pair (wrapping): a choice that
        depends on the data only, so resumed runs replay the same batches. Each bad image is counted in
        ``skipped`` and named in a warning once per process (``unreadable`` maps its index to why)."""
        bad = self.unreadable
        for j in (int(index + k) % len(self) for k in range(len(self))):
            if j in bad:
                continue
            try:
                return self.load(j)
            except BadImage as e:
                bad[j] = str(e)
                self.skipped += 1
                log.warning(f"skipped pair {j} of {self.name}: {e}")
        raise LabelspaceError(f"no readable image in {self.name}")


@dataclass
class CaptionSet(CaptionData):
    """Images and their captions; ``caption_image[j]`` is the image position of caption ``j``.
    ``name`` defaults to ``captions:<images' name>``."""

    images: ImageDataset
    captions: list[str]
    caption_image: np.ndarray
    skipped: int = 0
    name: str = ""

    def __post_init__(self):
        self.caption_image = np.asarray(self.caption_image, dtype=np.int64)
        self.name = self.name or f"captions:{self.images.name}"

    def __len__(self) -> int:
        return len(self.captions)

    def load(self, index: int):
        return self.images.load(int(self.caption_image[index])), self.captions[index]
