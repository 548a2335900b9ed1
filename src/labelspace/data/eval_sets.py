"""Evaluation data beyond single-label classification: captioned images and multi-label images.

Both are or wrap an ordinary ``ImageDataset`` (so image features are extracted and cached as usual).
CSV specs: ``captions:<file>`` with rows ``path,caption`` (several rows per image for several
captions) and ``multilabel:<file>`` with rows ``path,label1;label2;...``. Relative paths are read
from the CSV's folder.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from labelspace.cache import digest, file_stats
from labelspace.data.datasets import FileImages, ImageDataset, csv_rows
from labelspace.data.images import open_image
from labelspace.data.pairs import CaptionSet
from labelspace.errors import LabelspaceError
from labelspace.registry import DATASETS


class MultiLabelSet(ImageDataset):
    """Whole images with any number of labels each: ``multi_hot`` (images, classes) over ``class_names``.

    The one multi-label type (``multilabel:<csv>``, and VOC and COCO with ``view=images``): an image set
    itself, so features are extracted and cached as usual; ``targets`` holds each image's first label, so
    single-label code still runs. Images with no label are dropped and counted in ``unlabelled``.
    """

    def __init__(self, name: str, image_paths: Sequence[str | Path], multi_hot: np.ndarray, class_names: Sequence[str]):
        self.multi_hot = np.asarray(multi_hot, dtype=bool)
        keep = self.multi_hot.any(axis=1)
        if not keep.any():
            raise LabelspaceError(f"dataset {name!r} has no labelled images (check its split and options)")
        self.unlabelled = int((~keep).sum())
        self.name = name
        self.image_paths = [str(p) for p, k in zip(image_paths, keep) if k]
        self.multi_hot = self.multi_hot[keep]
        self.targets = self.multi_hot.argmax(axis=1).astype(np.int64)
        self.class_names = list(class_names)

    @property
    def images(self) -> "MultiLabelSet":
        """The set itself (it used to wrap an image set here)."""
        return self

    def load(self, index: int) -> Image.Image:
        return open_image(self.image_paths[index])

    def describe(self, index: int) -> str:
        return self.image_paths[index]

    @property
    def fingerprint(self) -> str:
        return digest(self.name, file_stats(self.image_paths), self.multi_hot.tobytes(), self.class_names)


@DATASETS.register("captions", argument="<file>", description="captioned images for retrieval: rows path,caption",
                   options=())
def captions_csv(path) -> CaptionSet:
    path = Path(path)
    rows = csv_rows(path, "caption")
    image_paths = list(dict.fromkeys(r[0] for r in rows))
    position = {p: i for i, p in enumerate(image_paths)}
    images = FileImages(f"captions:{path}", [path.parent / p for p in image_paths], range(len(image_paths)), image_paths)
    return CaptionSet(images, [r[1] for r in rows], np.array([position[r[0]] for r in rows]))


@DATASETS.register("multilabel", argument="<file>", description="multi-label images: rows path,label1;label2;...",
                   options=())
def multilabel_csv(path) -> MultiLabelSet:
    path = Path(path)
    rows = csv_rows(path, "labels")
    labels = [[x.strip() for x in r[1].split(";") if x.strip()] for r in rows]
    classes = sorted({x for row in labels for x in row})
    index = {c: i for i, c in enumerate(classes)}
    multi_hot = np.zeros((len(rows), len(classes)), dtype=bool)
    for i, row in enumerate(labels):
        multi_hot[i, [index[x] for x in row]] = True
    return MultiLabelSet(f"multilabel:{path}", [path.parent / r[0] for r in rows], multi_hot, classes)
