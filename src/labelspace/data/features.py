"""Batched image-feature extraction with an on-disk, memory-mapped cache.

Features are keyed by the encoder's ``cache_key`` (model, weights and preprocessing) and the
dataset's fingerprint, so a second run reads them back and any change to either recomputes.
An entry is written batch by batch with ordinary writes into a temporary folder and renamed into
place (``io.atomic_folder``): an interrupted run never leaves a half-written entry, a full disk is
one line, and of two processes writing one entry both get it. Images are decoded in DataLoader workers (``data.loader``)
and encoded on the encoder's device; the key never names the device (features agree across devices
within the precision's tolerance, see the README), but features resized on the device are kept apart from
those of the PIL transform.
"""
from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from labelspace.cache import default_cache_dir, digest
from labelspace.data.datasets import ImageDataset
from labelspace.data.loader import choose_preprocess, decoded_batches, device_transform, image_batches, uint8_pixels
from labelspace.devices import out_of_memory
from labelspace.errors import LabelspaceError
from labelspace.io import atomic_folder, new_file, remove_folder

log = logging.getLogger("labelspace")


@dataclass
class Features:
    """Features of the readable images of a dataset, in dataset order.

    ``indices`` are the dataset positions the rows come from (unreadable images are missing: ``skipped``
    counts them and ``skipped_images`` names each, with why), ``targets`` their class indices;
    ``features`` may be a read-only memory map.
    """

    features: np.ndarray
    targets: np.ndarray
    indices: np.ndarray
    class_names: Sequence[str]  # the dataset's (a WordNet LabelSet for ImageNet folders with names=wordnet)
    skipped: int
    cached: bool = False
    skipped_images: list[str] = field(default_factory=list)

    def class_means(self, normalize: bool = False) -> np.ndarray:
        """Mean feature of each class (optionally of unit-normalised features), shape (classes, dim)."""
        counts = np.bincount(self.targets, minlength=len(self.class_names))
        empty = [self.class_names[c] for c in np.flatnonzero(counts == 0)]
        if empty:
            raise LabelspaceError(f"classes with no images: {', '.join(empty)} (every class needs at least one image)")
        sums = group_sums(self.features, self.targets, np.arange(len(self.targets)), len(self.class_names),
                          normalize=normalize)
        return (sums / counts[:, None]).astype(np.float32)


def group_sums(features: np.ndarray, groups: np.ndarray, rows: np.ndarray, n_groups: int,
               weights: np.ndarray | None = None, normalize: bool = False, block: int = 8192) -> np.ndarray:
    """``out[g] = sum of weights[k] * features[rows[k]] over k with groups[k] == g``, shape (n_groups, dim).

    One sparse (groups x rows) matrix product per block of rows, so a memory-mapped array is read
    once, block by block; 100k x 2048 features group into 1000 sums in a fraction of a second
    (``np.add.at`` took about 20 s). ``normalize`` divides each row by its norm through the
    weights, without copying rows. Rows may repeat (bootstrap resamples); blocks add up in float64.
    """
    import scipy.sparse as sp

    groups, rows = np.asarray(groups), np.asarray(rows)
    weights = np.ones(len(rows), dtype=np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
    out = np.zeros((n_groups, features.shape[1]), dtype=np.float64)
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.arange(0, len(features) + block, block))
    for b, start in enumerate(range(0, len(features), block)):
        picked = order[bounds[b]:bounds[b + 1]]
        if not len(picked):
            continue
        x = np.asarray(features[start:start + block], dtype=np.float32)
        w = weights[picked]
        if normalize:
            w = w / np.maximum(np.sqrt(np.einsum("ij,ij->i", x, x)), 1e-12)[rows[picked] - start]
        out += sp.csr_matrix((w, (groups[picked], rows[picked] - start)), shape=(n_groups, len(x))) @ x
    return out


def _progress(disable: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), disable=disable, transient=True)


def _read_entry(entry: Path, cached: bool, feature_dim: int, class_names: Sequence[str]) -> Features:
    """A cache entry, checked: parseable metadata, and arrays whose shapes agree with it and the encoder; its
    ``class_names`` are the dataset's own (a ``LabelSet`` stays one: the entry's key holds the names)."""
    meta = json.loads((entry / "meta.json").read_text())
    features = np.load(entry / "features.npy", mmap_mode="r")
    targets, indices = np.load(entry / "targets.npy"), np.load(entry / "indices.npy")
    count = meta["count"]
    if features.shape != (count, feature_dim) or targets.shape != (count,) or indices.shape != (count,):
        raise ValueError(f"arrays {features.shape}, {targets.shape}, {indices.shape} do not fit {count} x {feature_dim}")
    return Features(features, targets, indices, class_names, meta["skipped"], cached=cached,
                    skipped_images=meta.get("skipped_images", []))


def report_skipped(features: Features, dataset_name: str) -> None:
    """Log each skipped image by name (one line each) after a one-line count."""
    if features.skipped:
        log.warning(f"skipped {features.skipped} unreadable image(s) of {dataset_name}:")
        for message in features.skipped_images:
            log.warning(f"  {message}")


@torch.inference_mode()
def extract_features(encoder, dataset: ImageDataset, batch_size: int = 64, cache_dir: str | os.PathLike | None = None,
                     use_cache: bool = True, progress: bool = True, workers: int | None = None,
                     preprocess: str = "auto", decode: str = "cpu") -> Features:
    """Encode every image of ``dataset`` with ``encoder`` (batched), reading or filling the cache.

    ``workers``: DataLoader processes decoding ahead (None: one per spare CPU, up to 8); ``preprocess``:
    ``cpu`` (the encoder's own PIL transform, in the workers), ``device`` (uint8 pixels resized and
    normalised on the encoder's device) or ``auto`` (``device`` on CUDA for in-memory sets). ``decode="device"``
    decodes JPEG files on the encoder's device too (``data.loader.decoded_batches``; preprocessing there).
    """
    if decode not in ("cpu", "device") or (decode == "device" and preprocess == "cpu"):
        raise LabelspaceError(f"decode={decode!r} with preprocess={preprocess!r}: decode is 'cpu' or 'device', and "
                              "decoding on the device preprocesses there too (preprocess 'auto' or 'device')")
    device = getattr(encoder, "device", torch.device("cpu"))
    mode = "device" if decode == "device" else preprocess
    on_device = choose_preprocess(mode, dataset, device, getattr(encoder, "transform", None)) == "device"
    # resizing on the device differs from the PIL transform (about 1e-3): its features are their own entry
    key = digest(encoder.cache_key, dataset.fingerprint, *(["preprocess=device"] if on_device else []))
    entry = Path(cache_dir or default_cache_dir()) / "features" / key
    if use_cache and entry.exists():
        try:
            found = _read_entry(entry, True, encoder.feature_dim, dataset.class_names)
            report_skipped(found, dataset.name)
            return found
        except (OSError, ValueError, KeyError, TypeError) as e:  # json errors are ValueErrors
            log.warning(f"feature cache entry {entry} is unreadable ({type(e).__name__}: {str(e)[:120]}); recomputing it")
            remove_folder(entry)

    skipped: list[str] = []
    batches = _encoded_batches(encoder, dataset, device, batch_size, progress, workers, on_device, decode, skipped)
    if use_cache:
        with atomic_folder(entry, len(dataset) * (4 * encoder.feature_dim + 16) + _HEADER) as tmp:
            _write_entry(tmp, batches, encoder, dataset, skipped)
        found = _read_entry(entry, False, encoder.feature_dim, dataset.class_names)  # ours, or a concurrent writer's
    else:
        rows = io.BytesIO()
        indices = _collect(batches, rows.write)
        found = Features(np.frombuffer(rows.getbuffer(), dtype=np.float32).reshape(-1, encoder.feature_dim),
                         dataset.targets[indices], indices, dataset.class_names, len(skipped), skipped_images=skipped)
    report_skipped(found, dataset.name)
    return found


def _encoded_batches(encoder, dataset: ImageDataset, device: torch.device, batch_size: int, progress: bool,
                     workers: int | None, on_device: bool, decode: str, skipped: list[str]):
    """(dataset positions, their features as a float32 array) batch by batch; each skipped image's message is
    appended to ``skipped``."""
    to_input = device_transform(encoder.transform) if on_device else (lambda batch: batch)
    if decode == "device":  # batches come decoded and preprocessed on the device
        batches, to_input = decoded_batches(dataset, to_input, batch_size, device, workers), (lambda batch: batch)
    else:
        batches = image_batches(dataset, uint8_pixels if on_device else encoder.preprocess, batch_size, workers,
                                pin_memory=device.type == "cuda")
    with _progress(not progress) as bar:
        task = bar.add_task(f"{encoder.name} on {dataset.name}", total=len(dataset), rate="")
        for positions, batch, batch_skipped in batches:
            skipped += batch_skipped
            if batch is not None:
                try:
                    features = encoder.encode(to_input(batch.to(device, non_blocking=True)))
                except torch.OutOfMemoryError as e:
                    raise out_of_memory(e, batch_size) from e
                yield positions, np.ascontiguousarray(features.float().cpu().numpy())
            bar.update(task, advance=len(positions) + len(batch_skipped), rate=f"{bar.tasks[0].speed or 0:.0f} img/s")


def _collect(batches, write) -> np.ndarray:
    """``write`` each batch's features in order; the dataset positions they come from."""
    kept: list[int] = []
    for positions, features in batches:
        write(features)
        kept.extend(positions)
    return np.asarray(kept, dtype=np.int64)


_HEADER = 128  # bytes: a padded .npy header (version 1.0), long enough for any float32 matrix's shape


def _npy_header(rows: int, dim: int) -> bytes:
    """The ``.npy`` header of a (rows, dim) float32 matrix in ``_HEADER`` bytes: the rows are written before their
    count (the readable images) is known."""
    text = repr({"descr": "<f4", "fortran_order": False, "shape": (rows, dim)}).encode()
    return b"\x93NUMPY\x01\x00" + (_HEADER - 10).to_bytes(2, "little") + text.ljust(_HEADER - 11) + b"\n"


def _write_entry(folder: Path, batches, encoder, dataset: ImageDataset, skipped: list[str]) -> None:
    """A cache entry's files in ``folder``: features written batch by batch with ordinary writes (a full disk is
    an error, not a memory map's SIGBUS), their space reserved first, so a full disk stops the run at once."""
    with new_file(folder / "features.npy") as f:
        f.reserve(_HEADER + len(dataset) * 4 * encoder.feature_dim)
        f.write(bytes(_HEADER))
        indices = _collect(batches, f.write)
        f.write_at(0, _npy_header(len(indices), encoder.feature_dim))
    for name, array in (("indices.npy", indices), ("targets.npy", dataset.targets[indices])):
        with new_file(folder / name) as f:
            np.save(f, array)
    meta = {"encoder": encoder.name, "cache_key": encoder.cache_key, "dataset": dataset.name,
            "class_names": list(dataset.class_names), "skipped": len(skipped), "skipped_images": skipped,
            "count": len(indices)}
    with new_file(folder / "meta.json") as f:
        f.write(json.dumps(meta, indent=1).encode())
