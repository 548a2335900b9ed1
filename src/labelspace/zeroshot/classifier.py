"""Zero-shot classifier weights from class names and prompts, batched and cached on disk.

Prompt ensembling has one meaning in labelspace (``ensemble``): each class vector is the mean of its
prompts' unit text embeddings, renormalised, as CLIP and open_clip's ``build_zero_shot_classifier`` do.
Averaging in embedding space gives one vector per label, cached and reused for any image, and keeps
scores (and CLIP's softmax over labels) on the scale of a single prompt; the same rule serves CLIP,
ConSE and DeViSE label vectors, the analysis' text representations and the web app. Every distinct prompt is
encoded once, in batches of similar length (so causal towers trimmed to the real length do little
padding work). Weights are cached under ``<cache>/classifiers/`` keyed by the model's
``cache_key``, the class names and the prompts, and in memory for the process; an entry that does not
read back as finite (classes x embed_dim) weights is recomputed with a warning.
"""
from __future__ import annotations

import io
import logging
import os
import time
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from labelspace.cache import default_cache_dir, digest
from labelspace.io import atomic_write_bytes
from labelspace.notes import note
from labelspace.numeric import unit_rows
from labelspace.prompts import class_prompts
from labelspace.vocab import LabelSet

_MEMORY: dict[str, np.ndarray] = {}
log = logging.getLogger("labelspace")


def clear_memory() -> None:
    """Forget the weights and label banks kept in memory; the next build reads the disk cache (or encodes again)."""
    from labelspace.zeroshot.synsets import forget_banks

    _MEMORY.clear()
    forget_banks()


LARGE_BUILD = 50_000  # prompts from which a build says its size and estimated time, and shows progress
CHUNK_PROMPTS = 16_384  # prompts ensembled at a time: 82K labels x 80 templates never sit in memory at once


def encode_prompts(model, prompts: Sequence[str], batch_size: int = 256, progress=None) -> np.ndarray:
    """Unit text embeddings of ``prompts`` (float32, one row each), longest texts batched together.

    Models that tokenize apart (``tokenize`` + ``encode_tokens``) tokenize the next batch in a thread
    while the current one is encoded (the tokenizer, not the tower, limits a GPU), one batch ahead so memory
    stays bounded for millions of prompts. ``progress(n)`` (optional) is told of each batch encoded.
    """
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    out = np.empty((len(prompts), model.embed_dim), dtype=np.float32)
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    tokenize_apart = hasattr(model, "encode_tokens")
    with ThreadPoolExecutor(max_workers=1) as pool:
        def texts(n: int):
            batch = [prompts[i] for i in batches[n]]
            return pool.submit(model.tokenize, batch) if tokenize_apart else batch

        pending = texts(0) if batches else None
        for n, rows in enumerate(batches):
            current, pending = pending, texts(n + 1) if n + 1 < len(batches) else None  # one batch ahead
            encoded = model.encode_tokens(current.result()) if tokenize_apart else model.encode_text(current)
            out[rows] = encoded.float().cpu().numpy()
            if progress is not None:
                progress(len(rows))
    return unit_rows(out)


@contextmanager
def _build_progress(total: int, what: str | None):
    """A callback counting encoded prompts: silent below ``LARGE_BUILD``, else a note of the count before any
    encoding, one of the estimated time after the first batch, and a transient progress bar."""
    if total < LARGE_BUILD:
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    note(f"encoding {total:,} prompts ({what or 'label texts'}) in batches; cached once built")
    start, seen = time.perf_counter(), [0]
    with Progress(TextColumn("label embeddings"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("encode", total=total)

        def advance(done: int) -> None:
            if not seen[0]:
                rate = done / max(time.perf_counter() - start, 1e-9)
                note(f"about {(total - done) / rate / 60:.1f} min left for the {total:,} prompts, at {rate:.0f} "
                     "prompts/s (timed on the first batch)")
            seen[0] += done
            bar.advance(task, done)

        yield advance


def ensemble(encode, prompts: Sequence[Sequence[str]]) -> np.ndarray:
    """One unit vector per class from its prompts: ``encode(texts) -> (texts, dim)`` runs once per distinct prompt."""
    unique = list(dict.fromkeys(p for class_list in prompts for p in class_list))
    index = {p: i for i, p in enumerate(unique)}
    embeddings = unit_rows(encode(unique))
    return unit_rows(np.stack([embeddings[[index[p] for p in class_list]].mean(axis=0) for class_list in prompts]))


def label_vectors(text_encoder, labels: Sequence[str], templates=None) -> np.ndarray:
    """A text encoder's unit vectors of ``labels``: bare, or prompt-ensembled over ``templates``
    (``class_prompts``); a WordNet ``LabelSet``'s by the synset rule (``zeroshot.synsets``)."""
    if isinstance(labels, LabelSet) and labels.wnids is not None:
        from labelspace.zeroshot.synsets import synset_vectors

        return synset_vectors(text_encoder, labels, templates)
    if templates is None:
        return unit_rows(text_encoder.encode(list(labels)))
    return ensemble(text_encoder.encode, class_prompts(list(labels), templates))


def _class_chunks(prompts: list[list[str]]) -> list[list[list[str]]]:
    """Consecutive classes, about ``CHUNK_PROMPTS`` prompts at a time."""
    chunks, size = [[]], 0
    for class_prompts_ in prompts:
        if size and size + len(class_prompts_) > CHUNK_PROMPTS:
            chunks.append([])
            size = 0
        chunks[-1].append(class_prompts_)
        size += len(class_prompts_)
    return chunks


def classifier_key(model, class_names: Sequence[str], prompts: list[list[str]]) -> str:
    return digest(model.cache_key, list(class_names), prompts)


def build_classifier(model, class_names: Sequence[str], templates="openai", batch_size: int = 256,
                     cache_dir: str | os.PathLike | None = None, use_cache: bool = True) -> np.ndarray:
    """Unit classifier weights, shape (classes, embed_dim), one row per given class name."""
    class_names = [str(c) for c in class_names]
    prompts = class_prompts(class_names, templates)
    key = classifier_key(model, class_names, prompts)
    path = Path(cache_dir or default_cache_dir()) / "classifiers" / f"{key}.npy"
    if use_cache and key in _MEMORY:
        return _MEMORY[key]
    if use_cache and path.exists():
        try:
            cached = np.load(path)
            if cached.shape != (len(class_names), model.embed_dim) or not np.isfinite(cached).all():
                raise ValueError(f"shape {cached.shape} or values do not fit {len(class_names)} x {model.embed_dim}")
            cached.setflags(write=False)
            _MEMORY[key] = cached
            return cached
        except (OSError, ValueError, EOFError) as e:
            log.warning(f"classifier cache entry {path} is unreadable ({type(e).__name__}: {str(e)[:120]}); "
                        "recomputing it")
    with torch.inference_mode():
        what = f"{len(class_names):,} labels x {max(map(len, prompts), default=0)} templates"
        with _build_progress(sum(map(len, prompts)), what) as progress:
            weights = np.concatenate([ensemble(lambda texts: encode_prompts(model, texts, batch_size, progress), part)
                                      for part in _class_chunks(prompts)])
    weights.setflags(write=False)  # shared through the memory cache
    if use_cache:
        buffer = io.BytesIO()
        np.save(buffer, weights)
        atomic_write_bytes(path, buffer.getvalue())
        _MEMORY[key] = weights
    return weights
