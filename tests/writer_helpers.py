"""Writers in child processes for the durability tests: racing on one cache entry, or stopped mid-write (killed
by SIGKILL, as ``kill -9`` or the OOM killer would, or still running)."""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import torch

from labelspace.data import extract_features, synthetic
from labelspace.io import atomic_write_bytes

# forked, not spawned: a child starts at once instead of importing torch again (seconds on a loaded machine); the
# children run no parallel torch code that a fork could hang
FORK = multiprocessing.get_context("fork")


class Means:
    """An image encoder in three numbers: each image's mean colour (``key`` makes its own cache entries)."""

    name, feature_dim = "means", 3

    def __init__(self, key: str = "means-v1", on_encode=None):
        self.cache_key, self.on_encode = key, on_encode

    def preprocess(self, image):
        return torch.from_numpy(np.asarray(image, dtype=np.float32).mean((0, 1)))

    def encode(self, batch):
        if self.on_encode is not None:
            self.on_encode()
        return batch


def features_of(cache, key: str = "means-v1", on_encode=None):
    return extract_features(Means(key, on_encode), synthetic(per_class=2), cache_dir=cache, progress=False, workers=0)


def _race(cache: str, rounds: int, barrier, results) -> None:
    """Each round: wait for the other writer, then both fill the same new feature entry (meeting again once both
    have missed it in the cache, so they write it at the same moment) and the same file."""
    out = []
    for r in range(rounds):
        barrier.wait(timeout=60)
        try:
            features = np.asarray(features_of(cache, f"race-{r}", on_encode=lambda: barrier.wait(timeout=60)).features)
            atomic_write_bytes(Path(cache) / "classifiers" / f"{r}.npy", features.tobytes())
            out.append(hashlib.sha256(features.tobytes()).hexdigest())
        except Exception as e:  # noqa: BLE001 - the test counts and shows them
            out.append(f"{type(e).__name__}: {e}")
    results.put(out)


def race(cache: Path, rounds: int) -> list[list[str]]:
    """Two processes' per-round results (a features hash, or the error) of ``_race``."""
    barrier, results = FORK.Barrier(2), FORK.Queue()
    writers = [FORK.Process(target=_race, args=(str(cache), rounds, barrier, results)) for _ in range(2)]
    for w in writers:
        w.start()
    out = [results.get(timeout=120) for _ in writers]
    for w in writers:
        w.join(timeout=30)
    return out


def _stopped_writer(kind: str, target: str, kill: bool) -> None:
    stop = (lambda *_: os.kill(os.getpid(), signal.SIGKILL)) if kill else (lambda *_: time.sleep(600))
    if kind == "file":
        os.fsync = stop  # the bytes are written, the rename has not happened
        atomic_write_bytes(target, b"\0" * 1000)
    else:
        features_of(target, "stopped-" + str(kill), on_encode=stop)


def stopped_writer(kind: str, target: Path, kill: bool):
    """A child process stopped in the middle of writing ``target`` (``kind`` "file") or a feature cache entry under
    the cache folder ``target`` ("features"): killed, or alive (sleeping; the caller kills it). Returns the process
    and the hidden temporaries it left, once they exist."""
    folder = target.parent if kind == "file" else target / "features"
    before = _hidden(folder)
    writer = FORK.Process(target=_stopped_writer, args=(kind, str(target), kill))
    writer.start()
    if kill:
        writer.join(timeout=60)
        assert writer.exitcode == -signal.SIGKILL
    deadline = time.monotonic() + 60
    while not (left := _hidden(folder) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left, f"the writer left nothing in {folder}"
    return writer, left


def _hidden(folder: Path) -> set[Path]:
    return set(folder.glob(".*")) if folder.is_dir() else set()
