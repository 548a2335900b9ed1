"""Models the server can load, named by one spec string ``METHOD:ARGS``, and the label-vector cache.

``conse:efficientnet-lite0+glove-6b-50d`` is ConSE over an image encoder and a text encoder (the
specs of ``labelspace encoders``). A new method is one line in ``LOADERS``: a function from ARGS to
a ``Classifier`` (``methods/base.py``: ``image_encoder`` with ``preprocess``/``encode``, and
``scores(features, labels)``).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from labelspace.api import classifier
from labelspace.errors import LabelspaceError

DEFAULT_MODEL = "conse:efficientnet-lite0+glove-6b-50d"


def _conse(args: str, device="cpu", precision: str = "fp32"):
    image_model, plus, text_model = args.partition("+")
    if not (image_model and plus and text_model):
        raise LabelspaceError(f"conse model spec needs IMAGE+TEXT encoders, got {args!r} (e.g. {DEFAULT_MODEL!r})")
    return classifier("conse", image_model, text_model, device=device, precision=precision)


LOADERS = {"conse": _conse}


def load_model(spec: str, device="cpu", precision: str = "fp32"):
    """The classifier a spec names; label vectors are cached by ``CachedTextEncoder`` when the server wraps it."""
    method, colon, args = spec.partition(":")
    if method not in LOADERS or not colon:
        raise LabelspaceError(f"unknown model spec {spec!r} (accepted: METHOD:ARGS with METHOD one of "
                              f"{', '.join(LOADERS)}, e.g. {DEFAULT_MODEL!r})")
    return LOADERS[method](args, device, precision)


class CachedTextEncoder:
    """A text encoder whose label vectors are kept in an LRU of ``maxsize`` labels.

    Requests repeat label sets, and a sentence encoder takes milliseconds per label; each label is
    encoded once per model. Thread-safe: inference runs on worker threads.
    """

    def __init__(self, encoder, maxsize: int = 20000):
        self.encoder, self.maxsize = encoder, maxsize
        self.dim, self.cache_key = encoder.dim, encoder.cache_key
        self.rows: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = self.misses = 0
        self.lock = threading.Lock()

    def encode(self, labels: Sequence[str], on_unknown: str = "error") -> np.ndarray:
        if on_unknown != "error":  # zero rows for unknown words must not answer a later strict call
            return self.encoder.encode(labels, on_unknown=on_unknown)
        with self.lock:
            found = {label: self.rows[label] for label in labels if label in self.rows}
            for label in found:
                self.rows.move_to_end(label)
            self.hits += len(found)
        missing = [label for label in dict.fromkeys(labels) if label not in found]
        if missing:
            found.update(zip(missing, self.encoder.encode(missing)))
            with self.lock:
                self.misses += len(missing)
                for label in missing:
                    self.rows[label] = found[label]
                while len(self.rows) > self.maxsize:
                    self.rows.popitem(last=False)
        return np.stack([found[label] for label in labels]) if labels else np.zeros((0, self.dim), np.float32)

    def stats(self) -> dict:
        return {"size": len(self.rows), "hits": self.hits, "misses": self.misses}
