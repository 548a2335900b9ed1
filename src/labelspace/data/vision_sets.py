"""Datasets already on disk in someone else's format: torchvision's sets by name, Hugging Face folders.

Spec ``<name>:<root>[,split=...][,classes=<file>]`` for a torchvision set in ``TORCHVISION_SETS``
(``cifar10:/data/cifar``): read by torchvision's own class with ``download=False``, so its checks
(CIFAR's md5s) still run. Class names are CLIP's where it reported them
(``presets/datasets/<name>.json``), else the set's own (cleaned as CLIP_benchmark does), or
one per line from ``classes=<file>``. Spec ``hf:<folder>[,split=...][,image=...][,label=...]``: a
``datasets`` folder written by ``save_to_disk``, memory-mapped; the first Image and ClassLabel
columns unless named. Both read one item per ``load``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from labelspace.cache import digest, file_stats
from labelspace.data.datasets import ImageDataset, SpecOptions
from labelspace.data.images import BadImage, open_image
from labelspace.errors import LabelspaceError
from labelspace.prompts import dataset_preset


@dataclass(frozen=True)
class TorchvisionSet:
    """How to open one torchvision set: its class, its splits (first = default) and how the split is passed."""

    cls: str
    splits: tuple[str, ...] = ()  # empty: the set has no splits
    split_arg: str = "split"  # "split" (a string) or "train" (a bool)
    kwargs: dict = field(default_factory=dict)


TORCHVISION_SETS = {
    "cifar10": TorchvisionSet("CIFAR10", ("test", "train"), "train"),
    "cifar100": TorchvisionSet("CIFAR100", ("test", "train"), "train"),
    "mnist": TorchvisionSet("MNIST", ("test", "train"), "train"),
    "stl10": TorchvisionSet("STL10", ("test", "train")),
    "svhn": TorchvisionSet("SVHN", ("test", "train", "extra")),
    "flowers102": TorchvisionSet("Flowers102", ("test", "val", "train")),
    "food101": TorchvisionSet("Food101", ("test", "train")),
    "pets": TorchvisionSet("OxfordIIITPet", ("test", "trainval"), kwargs={"target_types": "category"}),
    "dtd": TorchvisionSet("DTD", ("test", "val", "train")),
    "caltech101": TorchvisionSet("Caltech101", kwargs={"target_type": "category"}),
    "sun397": TorchvisionSet("SUN397"),
    "eurosat": TorchvisionSet("EuroSAT"),
    "gtsrb": TorchvisionSet("GTSRB", ("test", "train")),
    "country211": TorchvisionSet("Country211", ("test", "valid", "train")),
    "fgvc_aircraft": TorchvisionSet("FGVCAircraft", ("test", "val", "trainval", "train"),
                                    kwargs={"annotation_level": "variant"}),
    "cars": TorchvisionSet("StanfordCars", ("test", "train")),
}
CLEANUP = {"underscores": lambda c: c.replace("_", " "),
           "underscores-and-slashes": lambda c: c.replace("_", " ").replace("/", " ")}


SPEC_PRESETS = {"voc": "voc2007", "imagenet": "imagenet1k"}  # spec kinds whose set CLIP reported under another name


def spec_templates(spec: str) -> str | None:
    """The name of the template set CLIP used for a dataset spec's set (``cifar10:/data`` -> ``cifar10``), or None."""
    kind = spec.partition(":")[0]
    name = SPEC_PRESETS.get(kind, kind)
    return name if (kind in TORCHVISION_SETS or kind in SPEC_PRESETS) and dataset_preset(name) else None


def read_class_file(path: str | os.PathLike, count: int | None, what: str) -> list[str]:
    """Class names, one per line; a count that does not match ``what`` (the data) is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise LabelspaceError(f"class-name file {str(path)!r} does not exist (expected one class name per line)")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if count is not None and len(names) != count:
        raise LabelspaceError(f"class-name file {str(path)!r} has {len(names)} names but {what} has {count} classes")
    return names


def _targets(ds) -> np.ndarray:
    """Every item's class without decoding an image (each torchvision set keeps them under its own name)."""
    for attribute in ("targets", "labels", "_labels", "y"):
        if getattr(ds, attribute, None) is not None:
            return np.asarray(getattr(ds, attribute), dtype=np.int64)
    return np.asarray([target for _, target in ds._samples], dtype=np.int64)


def guarded(decode, name: str) -> Image.Image:
    """An image another library decodes, through the one guarded opener; its decoding errors become ``BadImage``."""
    try:
        image = decode()
    except (OSError, ValueError, SyntaxError) as e:
        raise BadImage(f"image {name} could not be decoded ({type(e).__name__}: {' '.join(str(e).split())[:160]})") from e
    return open_image(image, name)


class TorchvisionImages(ImageDataset):
    """A torchvision dataset object behind the ``ImageDataset`` contract."""

    def __init__(self, name: str, ds, class_names: list[str], root: Path):
        self.name, self.ds, self.root = name, ds, root
        self.targets, self.class_names = _targets(ds), class_names

    def load(self, index: int) -> Image.Image:
        return guarded(lambda: self.ds[index][0], self.describe(index))

    @property
    def fingerprint(self) -> str:
        return digest(self.name, file_stats(sorted(self.root.iterdir())), self.targets.tobytes(),
                       self.class_names)


def torchvision_set(name: str, root: str | os.PathLike, split: str | None = None,
                    classes: str | os.PathLike | None = None) -> TorchvisionImages:
    """``TORCHVISION_SETS[name]`` under ``root`` (never downloaded), with CLIP's class names where known."""
    import torchvision.datasets

    info, root = TORCHVISION_SETS[name], Path(root)
    if info.splits:
        split = split or info.splits[0]
        if split not in info.splits:
            raise LabelspaceError(f"{name} split {split!r} is unknown (accepted: {', '.join(info.splits)})")
        kwargs = {"train": split == "train"} if info.split_arg == "train" else {"split": split}
    elif split is not None:
        raise LabelspaceError(f"{name} has no splits (torchvision reads it whole); drop split={split}")
    else:
        kwargs = {}
    cls = getattr(torchvision.datasets, info.cls)
    call = ", ".join([repr(str(root))] + [f"{k}={v!r}" for k, v in kwargs.items()] + ["download=True"])
    try:
        ds = cls(str(root), **kwargs, **info.kwargs, download=False)
    except (RuntimeError, FileNotFoundError) as e:
        raise LabelspaceError(f"{name} is not on disk under {str(root)!r} or is corrupted ({str(e).splitlines()[0]}); "
                              f"torchvision can download it: python -c \"import torchvision; "
                              f"torchvision.datasets.{info.cls}({call})\"") from e
    targets = _targets(ds)
    own = list(getattr(ds, "classes", None) or getattr(ds, "categories", None) or [])
    count = len(own) or int(targets.max()) + 1
    preset = dataset_preset(name) or {}
    if classes is not None:
        names = read_class_file(classes, count, f"{name} under {root}")
    elif "classes" in preset:
        names = preset["classes"]
        if len(names) != count:
            raise LabelspaceError(f"presets/datasets/{name}.json has {len(names)} class names but {name} under "
                                  f"{str(root)!r} has {count} classes (pass classes=<file> with one name per line)")
    else:
        names = [CLEANUP[preset["name_cleanup"]](c) for c in own] if "name_cleanup" in preset else own
    suffix = f",split={split}" if split else ""
    return TorchvisionImages(f"{name}:{root}{suffix}", ds, names, root)


def hf_folder(path: str | os.PathLike, split: str | None = None, image: str | None = None,
              label: str | None = None) -> "HFImages":
    """A Hugging Face ``datasets`` folder written by ``save_to_disk`` (a Dataset, or a DatasetDict + ``split``)."""
    try:
        import datasets
    except ImportError as e:
        raise LabelspaceError("hf:<folder> needs the Hugging Face datasets package (pip install datasets)") from e
    path = Path(path)
    expected = "a folder written by Dataset.save_to_disk (state.json, dataset_info.json) or DatasetDict.save_to_disk"
    if not path.is_dir():
        raise LabelspaceError(f"Hugging Face dataset folder {str(path)!r} does not exist (expected {expected})")
    try:
        ds = datasets.load_from_disk(str(path))
    except FileNotFoundError as e:
        found = ", ".join(sorted(p.name for p in path.iterdir())[:6]) or "an empty folder"
        raise LabelspaceError(f"{str(path)!r} is not a saved Hugging Face dataset (expected {expected}; found {found})") from e
    if isinstance(ds, datasets.DatasetDict):
        split = split or ("test" if "test" in ds else None)
        if split not in ds:
            raise LabelspaceError(f"split {split!r} is not in {str(path)!r} (accepted: {', '.join(ds)})")
        ds = ds[split]
    elif split is not None:
        raise LabelspaceError(f"{str(path)!r} holds one split (a saved Dataset); drop split={split}")
    features = ds.features
    image = image or next((k for k, f in features.items() if isinstance(f, datasets.Image)), None)
    label = label or next((k for k, f in features.items() if isinstance(f, datasets.ClassLabel)), None)
    for role, column, kind in (("image", image, datasets.Image), ("label", label, datasets.ClassLabel)):
        if column not in features or not isinstance(features[column], kind):
            raise LabelspaceError(f"{str(path)!r} has no {kind.__name__} column {column or ''} for the {role} "
                                  f"(its columns: {', '.join(f'{k}: {type(f).__name__}' for k, f in features.items())})")
    return HFImages(f"hf:{path}" + (f",split={split}" if split else ""), ds, image, label, path)


class HFImages(ImageDataset):
    def __init__(self, name: str, ds, image: str, label: str, path: Path):
        self.name, self.path = name, path
        self.ds = ds.select_columns([image])
        self.image = image
        self.targets = np.asarray(ds.with_format("numpy")[label], dtype=np.int64)
        self.class_names = list(ds.features[label].names)

    def load(self, index: int) -> Image.Image:
        return guarded(lambda: self.ds[int(index)][self.image], self.describe(index))

    @property
    def fingerprint(self) -> str:
        return digest(self.name, self.ds._fingerprint, self.targets.tobytes(), self.class_names)


def torchvision_spec(spec: str, name: str, arg: str) -> TorchvisionImages:
    options = SpecOptions(spec, arg)
    kwargs = dict(split=options.get("split", None), classes=options.get("classes", None))
    options.done()
    return torchvision_set(name, options.path, **kwargs)


def hf_spec(spec: str, arg: str) -> HFImages:
    options = SpecOptions(spec, arg)
    kwargs = dict(split=options.get("split", None), image=options.get("image", None), label=options.get("label", None))
    options.done()
    return hf_folder(options.path, **kwargs)
