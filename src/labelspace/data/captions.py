"""Image-caption data for CLIP training, and the order in which each process reads it.

Sources (``caption_data(spec)``):

- ``captions:<file>`` (or the older ``csv:<file>``): rows ``path,caption`` (relative paths from the CSV's
  folder; missing files are counted and dropped when the set is opened, unreadable ones counted, named and
  replaced when read: ``CaptionData.pair``); a ``CaptionSet``, the type retrieval evaluation reads too;
- ``folder:<dir>``: one sub-folder per class, captions made from the class name and templates;
- ``wds:<shard>[,<shard>...]`` (brace patterns allowed): webdataset tar shards with ``jpg``/``png`` + ``txt``;
  samples lacking either are counted and skipped while streaming;
- ``synthetic-captions``: Fashion-MNIST items coloured and placed on a canvas, one or two per image, with
  captions describing them; offline, and some (colour, item) pairs never appear in training (held out
  for compositional zero-shot tests).

Map-style sets are read in global batches of a seeded per-epoch permutation; process ``r`` of ``w`` takes
rows ``r*b:(r+1)*b`` of each global batch (``b`` = global / w), so the concatenated batch is the same for
any number of processes, and step ``s`` is found in O(1) when resuming. Shards are split across
processes (``shards[r::w]``) and repeat; resuming skips the samples already read.
"""
from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from labelspace.data.datasets import ArrayImages, fashion_mnist, image_folder
from labelspace.data.eval_sets import captions_csv
from labelspace.data.images import BadImage, open_image
from labelspace.data.pairs import CaptionData, CaptionSet
from labelspace.errors import LabelspaceError, moved_names
from labelspace.prompts import class_prompts
from labelspace.registry import CAPTION_SOURCES, split_count
from labelspace.vocab import label_texts

log = logging.getLogger("labelspace")

COLOURS = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 240), "yellow": (235, 220, 40),
           "magenta": (220, 50, 220), "cyan": (40, 210, 220)}
ITEMS = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
POSITIONS = ["top left", "top right", "bottom left", "bottom right"]


def csv_captions(path: str | os.PathLike) -> CaptionSet:
    """``path,caption`` rows (via the evaluation CSV reader); rows whose image file is missing are counted and dropped."""
    data = captions_csv(path)
    present = np.array([Path(p).is_file() for p in data.images.paths])
    keep = np.flatnonzero(present[data.caption_image])
    if len(keep) == 0:
        raise LabelspaceError(f"none of the images named in {str(path)!r} exist (paths are read from the CSV's folder)")
    return CaptionSet(data.images, [data.captions[i] for i in keep], data.caption_image[keep],
                      skipped=len(data.captions) - len(keep), name=f"csv:{path}")


class TemplateCaptions(CaptionData):
    """A labelled image set whose captions are templates filled with the class name (seeded per image);
    ``load`` gives (image, caption, class index)."""

    def __init__(self, dataset, templates="simple", seed: int = 0, class_names: Sequence[str] | None = None):
        self.dataset, self.name = dataset, f"templates:{dataset.name}"
        self.prompts = class_prompts(label_texts(class_names or dataset.class_names), templates)  # never a wnid
        self.choice = np.random.default_rng(seed).integers(0, 1 << 30, len(dataset))

    def __len__(self) -> int:
        return len(self.dataset)

    def load(self, index: int):
        target = int(self.dataset.targets[index])
        prompts = self.prompts[target]
        return self.dataset.load(index), prompts[self.choice[index] % len(prompts)], target


@dataclass
class SyntheticCaptions(CaptionData):
    """Composed Fashion-MNIST scenes: ``images`` (n, size, size, 3) uint8, one caption each, and what is in them."""

    name: str
    images: np.ndarray
    captions: list[str]
    objects: list[list[tuple[str, str, str]]]  # per image: (colour, item, position)
    skipped: int = field(default=0)

    def __len__(self) -> int:
        return len(self.captions)

    def load(self, index: int):
        return Image.fromarray(self.images[index]), self.captions[index]

    def retrieval_set(self):
        """The pairs as an evaluation ``CaptionSet`` (one caption per image) for ``zeroshot_retrieval``."""
        images = ArrayImages(self.name, self.images, np.arange(len(self)), [str(i) for i in range(len(self))])
        return CaptionSet(images, list(self.captions), np.arange(len(self)))


__getattr__ = moved_names(__name__, {"PairList": "moved: use labelspace.data.pairs.CaptionSet "
                                                  "(the one caption-pair type)"})


def held_out_pairs() -> set[tuple[str, str]]:
    """(colour, item) pairs never shown in training: each item misses one colour, each colour misses some items."""
    colours = list(COLOURS)
    return {(colours[(3 * i) % len(colours)], item) for i, item in enumerate(ITEMS)}


def describe(objects: Sequence[tuple[str, str, str]]) -> str:
    """'a red bag at the top left and a blue sneaker at the bottom right'."""
    return " and ".join(f"a {colour} {item} at the {position}" for colour, item, position in objects)


def synthetic_captions(n: int = 2000, split: str = "train", size: int = 56, max_items: int = 2, seed: int = 0,
                       pairs: str = "seen", root: str | None = None) -> SyntheticCaptions:
    """``n`` scenes of one to ``max_items`` coloured Fashion-MNIST items in distinct quadrants of a ``size`` canvas.

    Items come from Fashion-MNIST's ``split`` (train scenes never share a picture with test scenes).
    ``pairs``: ``seen`` uses only (colour, item) pairs outside ``held_out_pairs()``, ``held-out`` only
    those, ``all`` any.
    """
    if n < 1:
        raise LabelspaceError(f"synthetic captions need n >= 1 scenes, got n={n}")
    if pairs not in ("seen", "held-out", "all"):
        raise LabelspaceError(f"pairs must be seen, held-out or all, got {pairs!r}")
    if size % 2 or size < 28 or not 1 <= max_items <= 4:
        raise LabelspaceError(f"size must be an even number >= 28 and max_items 1-4, got size={size}, max_items={max_items}")
    source = fashion_mnist(split, root)
    held = held_out_pairs()
    allowed = [(c, i) for c in COLOURS for i in range(len(ITEMS))
               if pairs == "all" or ((c, ITEMS[i]) in held) == (pairs == "held-out")]
    by_class = [np.flatnonzero(source.targets == c) for c in range(len(ITEMS))]
    rng = np.random.default_rng(seed)
    half, cell = size // 2, 28
    images = np.zeros((n, size, size, 3), dtype=np.uint8)
    captions, objects = [], []
    for k in range(n):
        count = int(rng.integers(1, max_items + 1))
        quadrants = rng.choice(len(POSITIONS), size=count, replace=False)
        scene = []
        for q in sorted(quadrants):
            colour, item = allowed[int(rng.integers(len(allowed)))]
            picture = source.images[int(rng.choice(by_class[item]))].astype(np.float32) / 255
            y = (q // 2) * half + (half - cell) // 2
            x = (q % 2) * half + (half - cell) // 2
            patch = picture[:, :, None] * np.asarray(COLOURS[colour], dtype=np.float32)
            images[k, y:y + cell, x:x + cell] = np.maximum(images[k, y:y + cell, x:x + cell], patch.astype(np.uint8))
            scene.append((colour, ITEMS[item], POSITIONS[q]))
        objects.append(scene)
        captions.append(describe(scene))
    return SyntheticCaptions(f"synthetic-captions:{split},n={n},size={size},items<={max_items},pairs={pairs},seed={seed}",
                             images, captions, objects)


def compositional_set(n: int = 300, size: int = 56, seed: int = 1, root: str | None = None) -> ArrayImages:
    """Single items in held-out (colour, item) pairs from Fashion-MNIST's test split, labelled over all pairs.

    Class names are every ``"<colour> <item>"`` pair (60), so a zero-shot classifier must put the
    never-seen combination above the seen ones that share its colour or its item.
    """
    scenes = synthetic_captions(n, "test", size, max_items=1, seed=seed, pairs="held-out", root=root)
    names = [f"{c} {i}" for c in COLOURS for i in ITEMS]
    targets = [names.index(f"{scene[0][0]} {scene[0][1]}") for scene in scenes.objects]
    return ArrayImages(f"compositional:{scenes.name}", scenes.images, targets, names)


COMPOSITIONAL_TEMPLATES = [f"a {{}} at the {p}" for p in POSITIONS]


class ShardStream:
    """Webdataset tar shards (``jpg``/``jpeg``/``png`` + ``txt``), streamed; incomplete samples are counted."""

    def __init__(self, urls: Sequence[str]):
        import braceexpand

        self.urls = [u for pattern in urls for u in braceexpand.braceexpand(pattern)]
        missing = [u for u in self.urls if "://" not in u and not Path(u).is_file()]
        if not self.urls or missing:
            raise LabelspaceError(f"webdataset shards not found: {', '.join(missing[:3]) or 'none given'} "
                                  "(give tar files, e.g. wds:data/shard-{000..009}.tar)")
        self.name, self.skipped = f"wds:{','.join(urls)}", 0

    def samples(self, rank: int = 0, world: int = 1) -> Iterator[tuple[Image.Image, str]]:
        """This process's shards (``urls[rank::world]``), repeated forever."""
        import webdataset as wds

        mine = self.urls[rank::world]
        if not mine:
            raise LabelspaceError(f"{len(self.urls)} shard(s) for {world} processes: give at least one shard per process")
        for _ in itertools.count():
            for sample in wds.WebDataset(mine, shardshuffle=False, empty_check=False):
                key = next((k for k in ("jpg", "jpeg", "png") if k in sample), None)
                if key is None or "txt" not in sample:
                    self.skipped += 1
                    continue
                try:
                    image = open_image(sample[key], f"{sample.get('__key__')}.{key} in {sample.get('__url__')}")
                except BadImage as e:
                    self.skipped += 1
                    log.warning(f"skipped a sample of {self.name}: {e}")
                    continue
                yield image, sample["txt"].decode("utf-8").strip()


def caption_data(spec: str, templates="simple", seed: int = 0, root: str | None = None):
    """A ``CAPTION_SOURCES`` entry from a spec string (see the module docstring), e.g. ``synthetic-captions@3000``;
    ``@N`` (N >= 1, ``registry.split_count``) only where the source takes a count."""
    base, count = split_count(spec, "scene count")
    entry, _ = CAPTION_SOURCES.parse(base)
    if count is not None and "count" not in entry.options:
        raise LabelspaceError(f"caption source {entry.name!r} takes no @N, got {spec!r} (only synthetic-captions@N: N scenes)")
    return CAPTION_SOURCES.create(base, templates=templates, seed=seed, root=root, count=count)


@CAPTION_SOURCES.register("captions", argument="<file>", options=(),
                          description="rows path,caption (the eval grammar; missing images are counted and dropped)")
def _csv_source(argument: str) -> CaptionSet:
    return csv_captions(argument)


@CAPTION_SOURCES.register("csv", argument="<file>", options=(),
                          description="the same as captions:<file> (the older name)")
def _csv_alias(argument: str) -> CaptionSet:
    return csv_captions(argument)


@CAPTION_SOURCES.register("folder", argument="<dir>", options=("templates", "seed"),
                          description="one sub-folder per class; captions from templates")
def _folder_source(argument: str, templates="simple", seed: int = 0) -> "TemplateCaptions":
    return TemplateCaptions(image_folder(argument), templates, seed)


@CAPTION_SOURCES.register("wds", argument="<shard>[,<shard>...]", options=(),
                          description="webdataset tar shards with jpg/png + txt (brace patterns allowed)")
def _wds_source(argument: str) -> "ShardStream":
    return ShardStream(argument.split(","))


@CAPTION_SOURCES.register("synthetic-captions", options=("seed", "root", "count"),
                          description="composed, coloured Fashion-MNIST scenes with captions (offline); @N scenes, "
                          "default 2000")
def _synthetic_source(argument: str, seed: int = 0, root=None, count=None) -> "SyntheticCaptions":
    return synthetic_captions(2000 if count is None else count, "train", seed=seed, root=root)


def batch_indices(n: int, global_batch: int, step: int, seed: int, rank: int = 0, world: int = 1) -> np.ndarray:
    """Rows of a map-style set for ``step``: this process's slice of the step's global batch (last partial batch dropped)."""
    per_epoch = n // global_batch
    if per_epoch == 0:
        raise LabelspaceError(f"the data has {n} pairs, fewer than one global batch of {global_batch}")
    epoch, within = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    local = global_batch // world
    start = within * global_batch + rank * local
    return order[start:start + local]


def local_batches(data, global_batch: int, seed: int, start_step: int = 0, rank: int = 0,
                  world: int = 1) -> Iterator[list]:
    """This process's (image, caption) lists, one per step from ``start_step`` on, forever."""
    if isinstance(data, ShardStream):
        local = global_batch // world
        stream = itertools.islice(data.samples(rank, world), start_step * local, None)
        while True:
            yield [next(stream) for _ in range(local)]
    for step in itertools.count(start_step):
        yield [data.pair(int(i)) for i in batch_indices(len(data), global_batch, step, seed, rank, world)]
