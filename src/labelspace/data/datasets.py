"""Labelled image datasets as small domain objects.

Every dataset has ``class_names``, integer ``targets``, ``load(i)`` returning an RGB PIL image
(through ``data.images.open_image``: a bad file raises ``BadImage``, which feature extraction counts,
names via ``describe(i)`` and skips) and a ``fingerprint``
that changes whenever its content does, so cached features are keyed by it.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from labelspace.cache import digest, file_stats
from labelspace.data.images import open_image
from labelspace.errors import LabelspaceError
from labelspace.io import read_text
from labelspace.registry import DATASETS, split_count
from labelspace.vocab import LabelSet

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
]
FASHION_MNIST_DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"


class SpecOptions:
    """The ``,key=value`` options after a dataset spec's path: ``voc:/data/VOC2012,split=val,margin=0.1``.

    Comma-separated parts holding ``=`` are options; the rest (commas inside ``{...}`` included) is the path.
    Readers take each option with a type and default (numbers: finite and >= 0); an option given twice is
    refused, and ``done`` refuses the ones nobody took.
    """

    def __init__(self, spec: str, arg: str):
        self.spec, parts, depth, current = spec, [], 0, ""
        for ch in arg:
            depth += (ch == "{") - (ch == "}")
            if ch == "," and depth == 0:
                parts.append(current)
                current = ""
            else:
                current += ch
        parts.append(current)
        self.path = ",".join(p for p in parts if "=" not in p)
        options = [p.split("=", 1) for p in parts if "=" in p]
        keys = [k for k, _ in options]
        twice = next((k for k in keys if keys.count(k) > 1), None)
        if twice is not None:
            raise LabelspaceError(f"option {twice!r} is given twice in dataset spec {spec!r} (give each option once)")
        self.given = dict(options)
        self.taken: list[str] = []

    def get(self, key: str, default, kind=str, choices: Sequence | None = None):
        self.taken.append(key)
        if key not in self.given:
            return default
        raw, value = self.given[key], None
        if kind is bool:
            value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(raw.lower())
        else:
            try:
                value = kind(raw)
            except ValueError:
                pass
        numeric = kind in (int, float) and value is not None
        if value is None or (choices is not None and value not in choices) or \
                (numeric and not (math.isfinite(value) and value >= 0)):
            accepted = ", ".join(map(str, choices)) if choices else \
                {bool: "true or false", int: "an integer >= 0", float: "a finite number >= 0", str: "a string"}[kind]
            raise LabelspaceError(f"option {key}={raw!r} in dataset spec {self.spec!r} is not valid (accepted: {accepted})")
        return value

    def done(self) -> None:
        unknown = [k for k in self.given if k not in self.taken]
        if unknown:
            raise LabelspaceError(f"unknown option {unknown[0]!r} in dataset spec {self.spec!r} "
                                  f"(accepted: {', '.join(self.taken) or 'none'})")


class ImageDataset:
    """Base class: subclasses set ``name``, ``class_names``, ``targets`` and implement ``load``.

    ``wnids`` (one WordNet id per class, or None) lets hP@k use a dataset's true synsets; ``class_names`` may be
    a WordNet ``vocab.LabelSet`` (ImageNet folders with ``names=wordnet``), which label encoders and prompts read
    by its synsets and lemmas rather than its display names.
    """

    name: str
    class_names: list[str]
    targets: np.ndarray
    wnids: list[str] | None = None

    def __len__(self) -> int:
        return len(self.targets)

    def load(self, index: int) -> Image.Image:
        raise NotImplementedError

    def describe(self, index: int) -> str:
        """How a skipped image is named in reports: its file, else the dataset and position."""
        return f"{self.name}[{index}]"

    @property
    def fingerprint(self) -> str:
        raise NotImplementedError

    def subset(self, indices: Sequence[int], name: str | None = None) -> "Subset":
        return Subset(self, np.asarray(indices, dtype=np.int64), name)

    def per_class(self, n: int, seed: int = 0) -> "Subset":
        """The first ``n`` images of each class after a seeded shuffle: a balanced, reproducible subset."""
        order = np.random.default_rng(seed).permutation(len(self))
        picked = np.concatenate([order[self.targets[order] == c][:n] for c in range(len(self.class_names))])
        return self.subset(np.sort(picked), f"{self.name}[{n}/class,seed={seed}]")


class Subset(ImageDataset):
    def __init__(self, parent: ImageDataset, indices: np.ndarray, name: str | None = None):
        self.parent, self.indices = parent, indices
        self.name = name or f"{parent.name}[{len(indices)}]"
        self.class_names, self.wnids = parent.class_names, parent.wnids
        self.targets = parent.targets[indices]

    def load(self, index: int) -> Image.Image:
        return self.parent.load(int(self.indices[index]))

    def describe(self, index: int) -> str:
        return self.parent.describe(int(self.indices[index]))

    @property
    def fingerprint(self) -> str:
        return digest(self.parent.fingerprint, self.indices.tobytes())


class FileImages(ImageDataset):
    """Images stored as files, with one class per file."""

    def __init__(self, name: str, paths: Sequence[Path], targets: Sequence[int], class_names: Sequence[str]):
        if not paths:
            raise LabelspaceError(f"dataset {name!r} has no images (accepted suffixes: {', '.join(sorted(IMAGE_SUFFIXES))})")
        self.name, self.paths = name, [Path(p) for p in paths]
        self.targets = np.asarray(targets, dtype=np.int64)
        self.class_names = class_names if isinstance(class_names, LabelSet) else list(class_names)

    def load(self, index: int) -> Image.Image:
        return open_image(self.paths[index])

    def describe(self, index: int) -> str:
        return str(self.paths[index])

    @property
    def fingerprint(self) -> str:
        return digest(file_stats(self.paths), self.targets.tobytes(), list(self.class_names))


@DATASETS.register("folder", argument="<dir>", description="one sub-folder of images per class", options=())
def image_folder(root: str | os.PathLike) -> FileImages:
    """One sub-folder per class, class names from the folder names (sorted)."""
    root = Path(root)
    if not root.is_dir():
        raise LabelspaceError(f"image folder {str(root)!r} does not exist (expected a folder with one sub-folder per class)")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    paths, targets = [], []
    for c, cls in enumerate(classes):
        for p in sorted((root / cls).rglob("*")):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(p)
                targets.append(c)
    return FileImages(f"folder:{root}", paths, targets, classes)


def csv_rows(path: Path, what: str) -> list[list[str]]:
    """The rows ``path,<what>`` of a UTF-8 CSV (``read_text``), cells stripped; the one header rule: a first cell
    ``path`` is a header."""
    if not path.is_file():
        raise LabelspaceError(f"{what} CSV {str(path)!r} does not exist (expected rows of path,{what})")
    reader = csv.reader(io.StringIO(read_text(path, f"{what} CSV"), newline=""))
    try:
        rows = [[c.strip() for c in r] for r in reader if r]
    except csv.Error as e:  # a NUL byte, a field over csv's size limit
        raise LabelspaceError(f"{what} CSV {str(path)!r} line {reader.line_num} is not CSV ({e})") from e
    if rows and rows[0][0].lower() == "path":
        rows = rows[1:]
    bad = next((r for r in rows if len(r) < 2 or not r[1]), None)
    if bad is not None or not rows:
        raise LabelspaceError(f"{what} CSV {str(path)!r} needs rows of path,{what} (bad row: {bad!r})")
    return rows


@DATASETS.register("csv", argument="<file>", description="rows path,label (relative paths from the CSV's folder)",
                   options=())
def csv_images(path: str | os.PathLike) -> FileImages:
    """A CSV with columns ``path,label`` (header optional); relative paths are read from the CSV's folder."""
    path = Path(path)
    rows = csv_rows(path, "label")
    classes = sorted({r[1] for r in rows})
    index = {c: i for i, c in enumerate(classes)}
    return FileImages(f"csv:{path}", [path.parent / r[0] for r in rows], [index[r[1]] for r in rows], classes)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise LabelspaceError(f"{str(path)!r} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


class ArrayImages(ImageDataset):
    """Images held in a uint8 array (N, H, W) or (N, H, W, 3): IDX files, synthetic and shifted sets."""

    def __init__(self, name: str, images: np.ndarray, targets, class_names: Sequence[str]):
        self.name, self.images = name, images
        self.targets = np.asarray(targets, dtype=np.int64)
        self.class_names = list(class_names)

    def load(self, index: int) -> Image.Image:
        return open_image(Image.fromarray(self.images[index]), self.describe(index))

    @property
    def fingerprint(self) -> str:
        return digest(self.name, self.images.shape, hashlib.blake2b(self.images.tobytes(), digest_size=16).hexdigest(),
                       self.targets.tobytes(), self.class_names)


def fashion_mnist(split: str = "test", root: str | os.PathLike | None = None) -> ArrayImages:
    """Fashion-MNIST from Debian's dataset-fashion-mnist package, ``root`` or $LABELSPACE_FASHION_MNIST."""
    if split not in ("train", "test"):
        raise LabelspaceError(f"Fashion-MNIST split {split!r} is unknown (accepted: train, test)")
    root = Path(root or os.environ.get("LABELSPACE_FASHION_MNIST") or FASHION_MNIST_DEFAULT_ROOT)
    prefix = "train" if split == "train" else "t10k"
    images_path = root / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = root / f"{prefix}-labels-idx1-ubyte.gz"
    if not images_path.exists() or not labels_path.exists():
        raise LabelspaceError(
            f"Fashion-MNIST not found under {str(root)!r} (install Debian's dataset-fashion-mnist, "
            f"or pass --root / set LABELSPACE_FASHION_MNIST to a folder with {images_path.name} and {labels_path.name})"
        )
    return ArrayImages(f"fashion-mnist:{split}", _read_idx(images_path), _read_idx(labels_path), FASHION_MNIST_CLASSES)


def bundled_photos() -> FileImages:
    """Real photos that ship with scikit-image, scikit-learn and matplotlib, labelled by what they show."""
    import matplotlib
    import skimage
    import sklearn

    skimage_dir = Path(skimage.__file__).parent / "data"
    photos = [
        (skimage_dir / "chelsea.png", "cat"),
        (skimage_dir / "coffee.png", "coffee"),
        (skimage_dir / "rocket.jpg", "rocket"),
        (skimage_dir / "astronaut.png", "astronaut"),
        (skimage_dir / "motorcycle_left.png", "motorcycle"),
        (Path(sklearn.__file__).parent / "datasets" / "images" / "china.jpg", "temple"),
        (Path(sklearn.__file__).parent / "datasets" / "images" / "flower.jpg", "flower"),
        (Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg", "woman"),
    ]
    present = [(p, label) for p, label in photos if p.exists()]
    classes = sorted({label for _, label in present})
    return FileImages("photos", [p for p, _ in present], [classes.index(label) for _, label in present], classes)


def synthetic(n_classes: int = 4, per_class: int = 8, size: int = 32, seed: int = 0) -> ArrayImages:
    """Small offline set for tests: each class is a distinct colour and stripe orientation, plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images, targets = [], []
    for c in range(n_classes):
        colour = rng.integers(40, 216, size=3)
        angle = np.pi * c / n_classes
        stripes = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 0.6) > 0)[..., None]
        for _ in range(per_class):
            noise = rng.normal(0, 20, size=(size, size, 3))
            img = np.where(stripes, colour, 255 - colour) + noise
            images.append(np.clip(img, 0, 255).astype(np.uint8))
            targets.append(c)
    return ArrayImages(f"synthetic:{n_classes}x{per_class}@{size},seed={seed}", np.stack(images), targets,
                       [f"class{c}" for c in range(n_classes)])


@DATASETS.register("fashion-mnist", argument="train|test", optional=True,
                   description="Fashion-MNIST (Debian's dataset-fashion-mnist, or --root / LABELSPACE_FASHION_MNIST)")
def _fashion_mnist(argument: str, root: str | None = None) -> ArrayImages:
    return fashion_mnist(argument or "test", root)


@DATASETS.register("photos", description="real photos shipped by scikit-image, scikit-learn and matplotlib, labelled by what they show")
def _photos(argument: str, root: str | None = None) -> FileImages:
    return bundled_photos()


@DATASETS.register("synthetic", description="4 classes of striped synthetic images (tests and smoke runs)")
def _synthetic(argument: str, root: str | None = None) -> ArrayImages:
    return synthetic()


def load_dataset(spec: str, root: str | None = None) -> ImageDataset:
    """Dataset from a spec string.

    Any ``DATASETS`` entry (``labelspace list``), e.g. ``fashion-mnist[:train|test]``, ``folder:<dir>``,
    ``csv:<file>``; append ``@N`` to keep N images per class (seeded), e.g. ``fashion-mnist:test@200``.
    """
    base, per_class = split_count(spec, "images per class")
    dataset = DATASETS.create(base, root=root)
    return dataset if per_class is None else dataset.per_class(per_class)
