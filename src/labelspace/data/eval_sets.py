"""Evaluation data beyond single-label classification: captioned images and multi-label images.

Both wrap an ordinary ``ImageDataset`` (so image features are extracted and cached as usual).
CSV specs: ``captions:<file>`` with rows ``path,caption`` (several rows per image for several
captions) and ``multilabel:<file>`` with rows ``path,label1;label2;...``. Relative paths are read
from the CSV's folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelspace.data.datasets import FileImages, ImageDataset, csv_rows
from labelspace.registry import DATASETS


@dataclass
class CaptionSet:
    """Images and their captions; ``caption_image[j]`` is the image position of caption ``j``."""

    images: ImageDataset
    captions: list[str]
    caption_image: np.ndarray

    @property
    def name(self) -> str:
        return f"captions:{self.images.name}"


@dataclass
class MultiLabelSet:
    """Images with any number of labels each: ``multi_hot`` is (images, labels) over ``images.class_names``."""

    images: ImageDataset
    multi_hot: np.ndarray

    @property
    def name(self) -> str:
        return f"multilabel:{self.images.name}"


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
    images = FileImages(f"multilabel:{path}", [path.parent / r[0] for r in rows], [index[row[0]] for row in labels], classes)
    return MultiLabelSet(images, multi_hot)
