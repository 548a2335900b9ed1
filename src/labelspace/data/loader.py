"""The input pipeline: images decoded and preprocessed in DataLoader workers while the model computes.

``image_batches`` yields ``(dataset positions, batch or None, skipped)`` in dataset order. Workers
(``--workers``; default ``devices.default_workers()``) decode and preprocess the next batches while the
current one is encoded; on CUDA the batches come in pinned memory so the copy to the GPU is
asynchronous (``non_blocking``). A corrupt or missing image is counted and skipped inside the worker.

``preprocess="cpu"`` runs the model's own (PIL) transform in the workers; ``preprocess="device"`` sends uint8
pixels instead and resizes (bicubic, antialiased), crops and
normalises them on the model's device (``device_transform``): the CPU work per image is almost nil, so
a GPU is not held back by PIL. Its difference from the PIL preprocessing is stated in the README.

``decoded_batches`` goes one step further for JPEG files: the workers only read the file bytes (after the
opener's size guards) and ``torchvision.io.decode_jpeg`` decodes the batch on the device in one call (nvJPEG
on CUDA). Other images are decoded by PIL in the workers; a file that fails to decode is counted and skipped.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Callable, Iterator

import numpy as np
import torch

from labelspace.data.datasets import FileImages, Subset
from labelspace.data.images import BadImage, jpeg_bytes
from labelspace.devices import resolve_workers
from labelspace.errors import LabelspaceError

PREPROCESS = ("auto", "cpu", "device")
# Workers are forked on Linux even inside spawned processes (torchrun, mp.spawn): datasets and transforms need
# not pickle. Elsewhere the platform's default start method.
_CONTEXT = "fork" if sys.platform.startswith("linux") else None


class _Preprocessed(torch.utils.data.Dataset):
    """Item ``i``: (i, preprocessed tensor, None) or (i, None, why) when the image cannot be read."""

    def __init__(self, dataset, preprocess: Callable):
        self.dataset, self.preprocess = dataset, preprocess

    def __len__(self) -> int:
        return len(self.dataset)

    def read(self, i: int):
        return self.preprocess(self.dataset.load(i))

    def __getitem__(self, i: int):
        try:
            return i, self.read(i), None
        except BadImage as e:
            return i, None, str(e)


class _Encoded(_Preprocessed):
    """Item ``i``'s ``(data, is_jpeg)``: a JPEG file's bytes, or any other image's uint8 pixels."""

    def __init__(self, dataset):
        super().__init__(dataset, uint8_pixels)

    def read(self, i: int):
        path = file_path(self.dataset, i)
        data = jpeg_bytes(path) if path is not None else None
        if data is None:
            return super().read(i), False
        return torch.frombuffer(bytearray(data), dtype=torch.uint8), True


def file_path(dataset, index: int):
    """The file whose whole image is image ``index`` of ``dataset`` (through subsets), or None (images in memory,
    crops of files, sets that change what they load)."""
    while isinstance(dataset, Subset):
        dataset, index = dataset.parent, int(dataset.indices[index])
    return dataset.paths[index] if isinstance(dataset, FileImages) and type(dataset).load is FileImages.load else None


def _collate(items: list, stack: bool = True) -> tuple[list[int], torch.Tensor | list | None, list[str]]:
    kept = [(i, x) for i, x, _ in items if x is not None]
    batch = [x for _, x in kept] if not stack else torch.stack([x for _, x in kept]) if kept else None
    return [i for i, _ in kept], batch, [why for _, x, why in items if x is None]


def _loader(items: torch.utils.data.Dataset, batch_size: int, workers: int | None, pin_memory: bool,
            stack: bool = True) -> Iterator:
    """Batches of ``items`` in order. One batch has nothing to overlap with: it is made here, with no worker to
    start and stop (about 0.3 s on the 2-core machine, a tenth of encoding 40 images)."""
    workers = min(resolve_workers(workers), max(0, -(-len(items) // batch_size) - 1))
    return _fetched(torch.utils.data.DataLoader(
        items, batch_size=batch_size, shuffle=False, num_workers=workers, multiprocessing_context=_CONTEXT if workers else None,
        collate_fn=functools.partial(_collate, stack=stack), pin_memory=pin_memory, prefetch_factor=4 if workers else None))


def _fetched(loader: torch.utils.data.DataLoader) -> Iterator:
    """The loader's batches; without workers each is made on one torch thread, as a worker makes it. The
    small per-image tensor ops of preprocessing lose to thread overhead: on the 2-core test machine under
    load, ToTensor + Normalize of one 224 px image took 46 ms on 2 threads and under 2 ms on one."""
    if loader.num_workers:
        yield from loader
        return
    batches = iter(loader)
    while True:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            batch = next(batches, None)
        finally:
            torch.set_num_threads(threads)
        if batch is None:
            return
        yield batch


def uint8_pixels(image) -> torch.Tensor:
    """A PIL image as a (3, H, W) uint8 tensor: what ``preprocess="device"`` sends to the device."""
    return torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1)


def image_batches(dataset, preprocess: Callable, batch_size: int, workers: int | None = None,
                  pin_memory: bool = False) -> Iterator[tuple[list[int], torch.Tensor | None, list[str]]]:
    """(positions, batch, messages naming the skipped images) of ``preprocess(dataset.load(i))`` in dataset
    order, prepared by ``workers`` processes."""
    with _equal_sizes(dataset.name):
        yield from _loader(_Preprocessed(dataset, preprocess), batch_size, workers, pin_memory)


def decoded_batches(dataset, to_input: Callable[[torch.Tensor], torch.Tensor], batch_size: int, device: torch.device,
                    workers: int | None = None) -> Iterator[tuple[list[int], torch.Tensor | None, list[str]]]:
    """``image_batches`` with JPEG files decoded on ``device`` (one batched ``decode_jpeg``) and each image put
    through ``to_input`` there (``device_transform``: images may differ in size until it has run)."""
    for positions, items, skipped in _loader(_Encoded(dataset), batch_size, workers, pin_memory=False, stack=False):
        jpegs = iter(_decode_jpegs([x for x, is_jpeg in items if is_jpeg], device))
        kept, inputs = [], []
        for i, (x, is_jpeg) in zip(positions, items):
            image = next(jpegs) if is_jpeg else x.to(device, non_blocking=True)
            if isinstance(image, str):
                skipped.append(f"image {dataset.describe(i)!r} could not be decoded on {device}; it may be "
                               f"truncated or corrupt ({image})")
                continue
            kept.append(i)
            inputs.append(to_input(image[None]))
        yield kept, torch.cat(inputs) if inputs else None, skipped


def _decode_jpegs(data: list[torch.Tensor], device: torch.device) -> list:
    """Each JPEG as a (3, H, W) uint8 RGB tensor on ``device``, or why it could not be decoded."""
    import warnings

    from torchvision.io import ImageReadMode, decode_jpeg

    if not data:
        return []
    with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders for TorchCodec's; they still work
        warnings.filterwarnings("ignore", "The image decoding and encoding", DeprecationWarning)
        try:
            return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
        except RuntimeError:  # one corrupt file fails the batched call: decode one by one to find it
            out = []
            for x in data:
                try:
                    out.append(decode_jpeg(x, mode=ImageReadMode.RGB, device=device))
                except RuntimeError as e:
                    out.append(" ".join(str(e).split())[-120:])
            return out


@contextlib.contextmanager
def _equal_sizes(name: str):
    """torch.stack on images of different sizes (device preprocessing, in a worker or not) as a one-line error."""
    try:
        yield
    except RuntimeError as e:
        if "stack expects each tensor to be equal size" in str(e):
            raise LabelspaceError(f"images of {name} differ in size: preprocess them on the CPU "
                                  "(--preprocess cpu)") from e
        raise


def _steps(transform) -> list:
    return list(getattr(transform, "transforms", [transform]))


def device_transform(transform) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The eval ``transform`` (torchvision Resize/CenterCrop/ToTensor/Normalize, as open_clip and timm build it)
    as a function of a (B, 3, H, W) uint8 batch on any device; None when it has other steps."""
    from torchvision import transforms as T

    steps = []
    for step in _steps(transform):
        name = getattr(step, "__name__", type(step).__name__)  # a function's name, else its class's
        if isinstance(step, T.Resize):
            steps.append(lambda x, s=step: T.functional.resize(x, s.size, s.interpolation, s.max_size,
                                                                antialias=True).clamp_(0, 1))
        elif isinstance(step, (T.CenterCrop, T.Normalize)):
            steps.append(step)
        elif name in ("ToTensor", "MaybeToTensor", "_convert_to_rgb", "MaybeConvertMode"):
            continue  # the batch is float RGB already
        else:
            return None

    def apply(batch: torch.Tensor) -> torch.Tensor:
        x = batch.float().div_(255)
        for step in steps:
            x = step(x)
        return x

    return apply


def check_preprocess(mode: str) -> str:
    """``mode`` when it is one of ``PREPROCESS``, else the one-line error naming them."""
    if mode not in PREPROCESS:
        raise LabelspaceError(f"--preprocess {mode!r}: unknown (accepted: {', '.join(PREPROCESS)})")
    return mode


def choose_preprocess(mode: str, dataset, device: torch.device, transform) -> str:
    """``cpu`` or ``device``: ``auto`` is ``device`` on CUDA for in-memory uint8 sets with a known transform."""
    if check_preprocess(mode) != "auto":
        if mode == "device" and device_transform(transform) is None:
            raise LabelspaceError(f"--preprocess device: the transform {' '.join(str(transform).split())} has steps "
                                  "other than resize, crop and normalise (use --preprocess cpu)")
        return mode
    root = dataset
    while hasattr(root, "parent"):
        root = root.parent
    in_memory = isinstance(getattr(root, "images", None), np.ndarray)
    return "device" if device.type == "cuda" and in_memory and device_transform(transform) is not None else "cpu"


class FastTokenizer:
    """open_clip's ``SimpleTokenizer`` (lower-case cleaning), each distinct word through its BPE once.

    The same ids as open_clip (tests compare all 80,000 ImageNet prompts) at a fraction of the cost:
    plain printable ASCII without ``&`` skips ftfy and HTML unescaping (which cannot change it), and
    a word's ids are remembered; any other text goes through open_clip's own ``encode``.
    """

    def __init__(self, reference):
        self.reference, self.context_length = reference, reference.context_length
        self.words: dict[str, list[int]] = {}

    def encode(self, text: str) -> list[int]:
        from open_clip.tokenizer import whitespace_clean

        ref = self.reference
        if not (text.isascii() and text.isprintable() and "&" not in text):
            return ref.encode(text)
        ids = []
        for word in ref.pat.findall(whitespace_clean(text.strip()).lower()):
            found = self.words.get(word)
            if found is None:
                pieces = ref.bpe("".join(ref.byte_encoder[b] for b in word.encode("utf-8"))).split(" ")
                found = self.words[word] = [ref.encoder[p] for p in pieces]
            ids += found
        return ids

    def counted(self, texts: list[str], context_length: int | None = None) -> tuple[torch.Tensor, int]:
        """(ids padded or cut to the context as open_clip does: end-of-text last, number of texts cut)."""
        length = context_length or self.context_length
        sot, eot = self.reference.sot_token_id, self.reference.eot_token_id
        out, cut = np.zeros((len(texts), length), dtype=np.int64), 0
        for i, text in enumerate(texts):
            row = [sot, *self.encode(text), eot]
            if len(row) > length:
                row, cut = row[:length], cut + 1
                row[-1] = eot
            out[i, :len(row)] = row
        return torch.from_numpy(out), cut

    def __call__(self, texts, context_length: int | None = None) -> torch.Tensor:
        return self.counted([texts] if isinstance(texts, str) else list(texts), context_length)[0]


def fast_tokenizer(tokenizer):
    """A ``FastTokenizer`` for open_clip's plain lower-casing BPE tokenizer; any other tokenizer as it is."""
    from open_clip.tokenizer import SimpleTokenizer

    if (isinstance(tokenizer, SimpleTokenizer) and tokenizer.reduction_fn is None
            and getattr(tokenizer.clean_fn, "__name__", "") == "_clean_lower"):
        return FastTokenizer(tokenizer)
    return tokenizer


def tokenize_counted(tokenizer, texts: list[str]) -> tuple[torch.Tensor, int]:
    """(token ids, how many texts were cut to fit): in one pass for a ``FastTokenizer``, else two."""
    if isinstance(tokenizer, FastTokenizer):
        return tokenizer.counted(list(texts))
    return tokenizer(list(texts)), count_truncated(tokenizer, texts)


def count_truncated(tokenizer, texts: list[str]) -> int:
    """How many texts do not fit the tokenizer's context (they are cut, and counted, not refused)."""
    limit = tokenizer.context_length
    if hasattr(tokenizer, "encoder"):  # open_clip SimpleTokenizer: start + text + end tokens
        return sum(len(tokenizer.encode(t)) + 2 > limit for t in texts)
    return sum(len(ids) > limit for ids in tokenizer.tokenizer(list(texts), truncation=False)["input_ids"])


class _StepBatches(torch.utils.data.Dataset):
    """Item ``step``: this process's pairs of that step, transformed and tokenized (in a worker)."""

    def __init__(self, data, transform, tokenizer, global_batch: int, seed: int, rank: int, world: int):
        self.data, self.transform, self.tokenizer = data, transform, tokenizer
        self.global_batch, self.seed, self.rank, self.world = global_batch, seed, rank, world

    def __len__(self) -> int:
        return 1 << 62  # steps are drawn from an endless sampler

    def __getitem__(self, step: int):
        from labelspace.data.captions import batch_indices

        rows = batch_indices(len(self.data), self.global_batch, step, self.seed, self.rank, self.world)
        return collate_pairs(self.data, rows, self.transform, self.tokenizer)


def collate_pairs(data, rows, transform, tokenizer) -> tuple[torch.Tensor, object, int, dict[int, str], object]:
    """(images, tokens or tower features, truncated captions, {unreadable pair index: why} found, class labels
    or None) of ``rows``.

    ``rows`` are indices into a map-style set, read with ``data.pair`` (an unreadable image is replaced by
    the next readable pair, so batches keep their size), or ready (image, caption[, label]) pairs. Unreadable
    pairs are handed back rather than counted here, so those found in DataLoader workers count once. Labels
    come from labelled sets (a third item per pair), for label-aware training.
    """
    before, skipped = (dict(data.unreadable), data.skipped) if data is not None else ({}, 0)
    pairs = [data.pair(int(row)) for row in rows] if data is not None else list(rows)
    found = {j: why for j, why in data.unreadable.items() if j not in before} if data is not None else {}
    if data is not None:
        data.skipped = skipped  # the caller counts ``found``, once per run
    images = torch.stack([torch.as_tensor(x if isinstance(x, (torch.Tensor, np.ndarray)) else transform(x))
                          for x, *_ in pairs])
    labels = torch.tensor([int(p[2]) for p in pairs]) if len(pairs[0]) > 2 else None
    texts = [p[1] for p in pairs]
    if isinstance(texts[0], str):
        tokens, truncated = tokenize_counted(tokenizer, texts)
        return images, tokens, truncated, found, labels
    return images, torch.stack([torch.as_tensor(t) for t in texts]), 0, found, labels


def caption_batches(data, transform, tokenizer, global_batch: int, seed: int, start_step: int = 0, rank: int = 0,
                    world: int = 1, workers: int | None = None, pin_memory: bool = False) -> Iterator[tuple]:
    """``collate_pairs`` of every step from ``start_step`` on, forever, prepared ahead by ``workers`` processes.

    Map-style sets are read by step (``captions.batch_indices``), so the batches are those of one process
    at any worker count; a shard stream is read in order in the main process.
    """
    import itertools

    from labelspace.data.captions import ShardStream, local_batches

    workers = resolve_workers(workers)
    if isinstance(data, ShardStream):
        for pairs in local_batches(data, global_batch, seed, start_step, rank, world):
            with _equal_sizes(data.name):
                batch = collate_pairs(None, pairs, transform, tokenizer)
            yield batch
        return
    steps = _StepBatches(data, transform, tokenizer, global_batch, seed, rank, world)
    loader = torch.utils.data.DataLoader(steps, batch_size=None, sampler=itertools.count(start_step),
                                         num_workers=workers, multiprocessing_context=_CONTEXT if workers else None, pin_memory=pin_memory, worker_init_fn=_quiet_worker,
                                         prefetch_factor=4 if workers else None, persistent_workers=False)
    with _equal_sizes(data.name):
        for batch in _fetched(loader):
            if workers:  # a worker's warnings are silenced: name its unreadable images here, in this process
                for j, why in batch[3].items():
                    if j not in data.unreadable:
                        data.unreadable[j] = why
                        logging.getLogger("labelspace").warning(f"skipped pair {j} of {data.name}: {why}")
            yield batch


def _quiet_worker(_: int) -> None:
    logging.getLogger("labelspace").disabled = True
