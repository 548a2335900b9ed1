"""Webdataset tar shards as a labelled evaluation set.

Spec ``wds:<shards>[,classes=<file or preset>]`` (brace patterns such as ``shard-{000..009}.tar``):
samples are grouped by webdataset's key rule (the file name up to its first dot); each needs an
image member (jpg, jpeg, png or webp) and a label: ``cls`` (a class index; names from ``classes=``, a
file with one name per line or a packaged set that lists them, such as ``eurosat``) or ``txt`` (the class name itself;
the names are the sorted distinct texts unless ``classes=`` lists them). One pass over the tar
headers records where each image lies; ``load`` then reads that one member, so memory holds
offsets, never pixels. Under ``eval --distributed`` each process reads whole shards
(``rank_positions``: the samples of ``shards[rank::world]``). Samples lacking an image or a label
are counted in ``incomplete`` and named in ``incomplete_keys``.
"""
from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from labelspace.cache import digest, file_stats
from labelspace.data.datasets import ImageDataset, SpecOptions
from labelspace.data.images import open_image
from labelspace.errors import LabelspaceError

IMAGE_KEYS = ("jpg", "jpeg", "png", "webp")


def shard_paths(pattern: str) -> list[Path]:
    import braceexpand

    urls = [u for part in pattern.split(",") if part for u in braceexpand.braceexpand(part)]
    remote = [u for u in urls if "://" in u]
    if remote:
        raise LabelspaceError(f"wds evaluation reads local tar files; {remote[0]!r} is remote (download the shards first)")
    missing = [u for u in urls if not Path(u).is_file()]
    if not urls or missing:
        raise LabelspaceError(f"webdataset shards not found: {', '.join(missing[:3]) or 'none given'} "
                              "(give tar files, e.g. wds:data/shard-{000..009}.tar)")
    return [Path(u) for u in urls]


def _scan(shard: Path):
    """(key, image offset, image size, label kind, label text) per complete sample, and incomplete keys."""
    samples: dict[str, dict] = {}
    try:
        with tarfile.open(shard, "r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                base = os.path.basename(member.name)
                key = os.path.join(os.path.dirname(member.name), base.split(".", 1)[0])
                ext = base.split(".", 1)[1].lower() if "." in base else ""
                entry = samples.setdefault(key, {})
                if ext in IMAGE_KEYS:
                    entry["image"] = (member.offset_data, member.size)
                elif ext in ("cls", "txt"):
                    entry[ext] = tar.extractfile(member).read().decode("utf-8").strip()
    except tarfile.TarError as e:
        raise LabelspaceError(f"{str(shard)!r} is not a tar file (expected webdataset shards): {e}") from e
    complete, incomplete = [], []
    for key, entry in samples.items():
        label = ("cls", entry["cls"]) if "cls" in entry else ("txt", entry["txt"]) if "txt" in entry else None
        if "image" not in entry or label is None:
            incomplete.append(f"{shard.name}:{key}")
        else:
            complete.append((*entry["image"], *label))
    return complete, incomplete


def _class_names(classes: str) -> list[str]:
    """Names from a file, one per line, or from a packaged set that lists them (``presets/datasets/<name>.json``)."""
    from labelspace.data.vision_sets import read_class_file
    from labelspace.prompts import dataset_preset

    if Path(classes).is_file():
        return read_class_file(classes, None, "")
    preset = dataset_preset(classes)
    if preset is None or "classes" not in preset:
        raise LabelspaceError(f"classes={classes!r} is neither a file of class names (one per line) nor a packaged set "
                              "that lists them (such as eurosat)")
    return preset["classes"]


class ShardImages(ImageDataset):
    def __init__(self, pattern: str, classes: str | None = None):
        self.shards = shard_paths(pattern)
        shard_of, offsets, sizes, kinds, labels, self.incomplete_keys = [], [], [], set(), [], []
        for s, shard in enumerate(self.shards):
            complete, incomplete = _scan(shard)
            self.incomplete_keys += incomplete
            for offset, size, kind, label in complete:
                shard_of.append(s)
                offsets.append(offset)
                sizes.append(size)
                kinds.add(kind)
                labels.append(label)
        if not labels:
            raise LabelspaceError(f"no complete samples (an image and a cls or txt label) in {pattern!r}")
        self.incomplete = len(self.incomplete_keys)
        self.shard_of, self.offsets = np.asarray(shard_of, dtype=np.int32), np.asarray(offsets, dtype=np.int64)
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.name = f"wds:{pattern}" + (f",classes={classes}" if classes else "")
        if "cls" in kinds:
            if kinds != {"cls"}:
                raise LabelspaceError(f"shards {pattern!r} mix cls and txt labels (expected one kind)")
            bad = next((x for x in labels if not x.isdigit()), None)
            if bad is not None:
                raise LabelspaceError(f"cls label {bad!r} in {pattern!r} is not a class index")
            self.targets = np.asarray([int(x) for x in labels], dtype=np.int64)
            if classes is None:
                raise LabelspaceError(f"shards {pattern!r} hold cls indices: name their classes with "
                                      ",classes=<file with one name per line> or a packaged set that lists them, such as eurosat")
            self.class_names = _class_names(classes)
            if int(self.targets.max()) >= len(self.class_names):
                raise LabelspaceError(f"cls index {int(self.targets.max())} in {pattern!r} has no name among the "
                                      f"{len(self.class_names)} of {classes!r}")
        else:
            names = _class_names(classes) if classes else None
            self.class_names = names or sorted(set(labels))
            index = {c: i for i, c in enumerate(self.class_names)}
            unknown = next((x for x in labels if x not in index), None)
            if unknown is not None:
                raise LabelspaceError(f"txt label {unknown!r} in {pattern!r} is not among the classes of {classes!r}")
            self.targets = np.asarray([index[x] for x in labels], dtype=np.int64)

    def load(self, index: int) -> Image.Image:
        with open(self.shards[self.shard_of[index]], "rb") as f:
            f.seek(int(self.offsets[index]))
            data = f.read(int(self.sizes[index]))
        return open_image(data, self.describe(index))

    def describe(self, index: int) -> str:
        return f"sample {index} in {self.shards[self.shard_of[index]]}"

    def rank_positions(self, rank: int, world: int) -> np.ndarray:
        """The samples of this process's shards (``shards[rank::world]``), so each reads whole shards."""
        if len(self.shards) < world:
            raise LabelspaceError(f"{len(self.shards)} shard(s) for {world} processes: give at least one shard per process")
        return np.flatnonzero(self.shard_of % world == rank)

    @property
    def fingerprint(self) -> str:
        return digest(self.name, file_stats(self.shards), self.offsets.tobytes(), self.targets.tobytes(),
                       self.class_names)


def wds_spec(spec: str, arg: str) -> ShardImages:
    options = SpecOptions(spec, arg)
    classes = options.get("classes", None)
    options.done()
    return ShardImages(options.path, classes)
