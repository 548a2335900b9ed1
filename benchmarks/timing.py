"""What the benchmarks share: timing that waits for the device, best-of-rounds side by side, and the
CLIP_benchmark-style zero-shot loop they compare labelspace's evaluation with.

The scripts run as ``python benchmarks/<name>.py``, so this folder is on ``sys.path``: ``from timing import ...``.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

CPU = torch.device("cpu")


def sync(device: torch.device = CPU) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable, device: torch.device = CPU) -> tuple[object, float]:
    """(fn(), seconds), the device's queued work included."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


def best_of(fn: Callable, repeats: int, device: torch.device = CPU) -> tuple[object, float]:
    """(the last result, the fastest of ``repeats`` runs)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        out, seconds = timed(fn, device)
        best = min(best, seconds)
    return out, best


def interleaved(runs: dict[str, Callable], rounds: int, device: torch.device = CPU) -> dict[str, float]:
    """The fastest seconds of each run over ``rounds`` rounds that take the runs in turn, so load from other
    processes on a shared machine hits all of them alike."""
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            best[name] = min(best[name], timed(fn, device)[1])
    return best


def clip_benchmark_style(model, data, weights: torch.Tensor, batch_size: int, workers: int = 0) -> float:
    """CLIP_benchmark's zero-shot loop, the peer of labelspace's evaluation: a DataLoader over the model's own
    preprocessing, ``encode_image`` under the model's autocast on its device, normalise, logits per batch;
    returns the accuracy. ``weights``: (dim, classes) class embeddings."""
    device = model.device

    class Wrapped(torch.utils.data.Dataset):
        def __len__(self):
            return len(data)

        def __getitem__(self, i):
            return model.preprocess(data.load(i)), int(data.targets[i])

    correct = 0
    loader = torch.utils.data.DataLoader(Wrapped(), batch_size=batch_size, num_workers=workers,
                                         pin_memory=device.type == "cuda")
    weights = weights.to(device)
    with torch.inference_mode(), model.autocast():
        for images, targets in loader:
            features = torch.nn.functional.normalize(model.net.encode_image(images.to(device)), dim=-1)
            correct += int(((100.0 * features @ weights.to(features.dtype)).argmax(1).cpu() == targets).sum())
    return correct / len(data)


def class_weights(classifier, class_names) -> torch.Tensor:
    """A CLIP classifier's (dim, classes) label weights as a tensor, for ``clip_benchmark_style``."""
    return torch.from_numpy(np.array(classifier.label_weights(class_names))).T
