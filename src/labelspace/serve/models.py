"""Models the server can load, named by the method specs of ``labelspace list``, and the label-vector cache.

``conse:efficientnet-lite0+glove-6b-50d`` is ConSE over an image encoder and a text encoder,
``clip:open_clip:ViT-B-32/openai`` a CLIP model, ``devise:runs/devise-glove`` a trained checkpoint: any
entry of ``labelspace.registry.METHODS`` (a new method registers itself there).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from labelspace.errors import moved_names
from labelspace.methods import create_classifier

DEFAULT_MODEL = "conse:efficientnet-lite0+glove-6b-50d"


def load_model(spec: str, device="cpu", precision: str = "fp32"):
    """The classifier a spec names; label vectors are cached by ``CachedTextEncoder`` when the server wraps it."""
    return create_classifier(spec, device=device, precision=precision)


__getattr__ = moved_names(__name__, {"LOADERS": "moved: a method registers in labelspace.registry.METHODS"})


class CachedTextEncoder:
    """A text encoder whose label vectors are kept in an LRU of ``maxsize`` labels.

    Requests repeat label sets, and a sentence encoder takes milliseconds per label; each label is
    encoded once per model. Thread-safe: inference runs on worker threads.
    """

    def __init__(self, encoder, maxsize: int = 20000):
        self.encoder, self.maxsize = encoder, maxsize
        self.name, self.dim, self.cache_key = encoder.name, encoder.dim, encoder.cache_key
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
