"""Class-name presets: which classes to analyse, by the names the text models will read.

``voc`` (the seed's 20 PASCAL VOC names), ``pascal-5i-N`` (its folds of 5 consecutive classes),
``coco`` (80 classes), ``coco-20i-N`` (every 4th COCO class from the (N+1)-th, N = 0..3) and
``fashion-mnist``. A preset's aliases map other spellings of a class (VOC folder names such as
``tvmonitor``, COCO names such as ``airplane``) onto its own, so image folders of two datasets
end up with the same class names. Names match case-insensitively, with ``_`` read as a space.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from labelspace.cache import digest
from labelspace.data.datasets import FASHION_MNIST_CLASSES, ImageDataset, Subset
from labelspace.errors import LabelspaceError

PRESETS = ("voc", "pascal-5i-0..3", "coco", "coco-20i-0..3", "fashion-mnist")


@dataclass
class Preset:
    name: str
    classes: list[str]
    aliases: dict[str, str] = field(default_factory=dict)

    def canonical(self, name: str) -> str | None:
        """This preset's name for a class name, or None if the class is not in the preset."""
        key = name.strip().lower().replace("_", " ")
        own = {c.lower(): c for c in self.classes}
        return own.get(key) or own.get(self.aliases.get(key, "").lower())


def _packaged(name: str) -> Preset:
    data = json.loads((resources.files("labelspace") / "presets" / f"{name}.json").read_text())
    return Preset(data["name"], data["classes"], {k.lower(): v for k, v in data["aliases"].items()})


def load_preset(name: str) -> Preset:
    base, _, fold = name.rpartition("-")
    if name in ("voc", "coco"):
        return _packaged(name)
    if name == "fashion-mnist":
        return Preset(name, list(FASHION_MNIST_CLASSES))
    if base in ("pascal-5i", "coco-20i") and fold in ("0", "1", "2", "3"):
        full = _packaged("voc" if base == "pascal-5i" else "coco")
        k = int(fold)
        classes = full.classes[5 * k:5 * k + 5] if base == "pascal-5i" else full.classes[k::4]
        return Preset(name, classes, full.aliases)
    raise LabelspaceError(f"unknown class preset {name!r} (accepted: {', '.join(PRESETS)})")


class Relabelled(Subset):
    """The images of a dataset whose classes are in a preset, labelled with the preset's names."""

    def __init__(self, parent: ImageDataset, indices: np.ndarray, targets: np.ndarray, class_names: list[str],
                 name: str):
        super().__init__(parent, indices, name)
        self.targets, self.class_names, self.wnids = targets, class_names, None

    @property
    def fingerprint(self) -> str:
        return digest(super().fingerprint, self.targets.tobytes(), self.class_names)


def apply_preset(dataset: ImageDataset, preset: Preset) -> ImageDataset:
    """Keep the images of the preset's classes, relabelled in the preset's order; missing classes are an error."""
    if dataset.class_names == preset.classes:
        return dataset
    mapped = [preset.canonical(name) for name in dataset.class_names]
    missing = [c for c in preset.classes if c not in mapped]
    if missing:
        raise LabelspaceError(f"dataset {dataset.name!r} has no class for {', '.join(missing)} of preset {preset.name!r} "
                              f"(its classes: {', '.join(dataset.class_names)})")
    new_index = np.array([preset.classes.index(m) if m else -1 for m in mapped])
    targets = new_index[dataset.targets]
    keep = np.flatnonzero(targets >= 0)
    return Relabelled(dataset, keep, targets[keep], list(preset.classes), f"{dataset.name}|{preset.name}")
