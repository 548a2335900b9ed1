"""DeViSE training speed: the vectorised trainer against a straightforward per-sample numpy loop.

Workload: 60,000 x 1,280 random float32 features (the size of Fashion-MNIST train with EfficientNet-Lite
features), 10 labels with 50-d unit label vectors (GloVe's size), hinge rank loss with margin 0.1,
mini-batches of 256. The vectorised trainer is ``labelspace.methods.devise.train_devise`` (one full
epoch, timed). The per-sample versions compute the same loss and gradient one image at a time with
numpy (over all labels at once, or looping over the wrong labels as the loss is written) and apply one
SGD step per mini-batch; they are timed on a subset of the images and extrapolated linearly to 60,000
(their cost is the same for every image), which the output says.

    PYTHONPATH=src python benchmarks/devise.py [--subset 3000] [--threads N]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from labelspace.numeric import unit_rows
from labelspace.methods.devise import hinge_rank_loss, train_devise
from labelspace.training import TrainConfig

N, DIM, LABELS, LABEL_DIM, BATCH, MARGIN = 60_000, 1280, 10, 50, 256, 0.1


def sample_over_labels(v, target, vectors, weight):
    """Loss and label-space gradient direction of one image, numpy over all labels at once."""
    scores = vectors @ (weight @ v)
    violation = MARGIN - scores[target] + scores
    violation[target] = 0.0
    active = violation > 0
    return violation[active].sum(), vectors[active].sum(axis=0) - active.sum() * vectors[target]


def sample_label_loop(v, target, vectors, weight):
    """The same, written as the loss reads: a Python loop over the wrong labels."""
    mapped = weight @ v
    true = vectors[target] @ mapped
    loss, direction = 0.0, np.zeros(len(mapped), dtype=np.float32)
    for j in range(len(vectors)):
        if j != target:
            term = MARGIN - true + vectors[j] @ mapped
            if term > 0:
                loss += term
                direction += vectors[j] - vectors[target]
    return loss, direction


def per_sample_epoch(x, y, vectors, weight, mean, sample=sample_over_labels, lr=1e-3):
    """One epoch of the straightforward implementation: a Python loop over images, one SGD step per batch."""
    total = 0.0
    for lo in range(0, len(x), BATCH):
        grad = np.zeros_like(weight)
        for v, target in zip(x[lo:lo + BATCH], y[lo:lo + BATCH]):
            centred = v - mean
            loss, direction = sample(centred, target, vectors, weight)
            total += loss
            grad += np.outer(direction, centred)
        weight -= lr * grad / len(x[lo:lo + BATCH])
    return total / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subset", type=int, default=3000, help="images timed for the per-sample loop")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, DIM), dtype=np.float32)
    y = rng.integers(0, LABELS, N)
    vectors = unit_rows(rng.standard_normal((LABELS, LABEL_DIM)))
    print(f"workload: {N} x {DIM} features, {LABELS} labels, {LABEL_DIM}-d label vectors, batch {BATCH}, "
          f"torch threads {torch.get_num_threads()}")

    train_devise(x[:2048], y[:2048], vectors, TrainConfig(epochs=1, batch_size=BATCH))  # warm-up
    _, result = train_devise(x, y, vectors, TrainConfig(epochs=2, batch_size=BATCH))
    vectorised = min(r["seconds"] for r in result.history)
    print(f"vectorised trainer (torch, AdamW): {vectorised:.3f} s/epoch (best of 2 epochs)")

    weight = (rng.standard_normal((LABEL_DIM, DIM)) * 0.01).astype(np.float32)
    mean = x.mean(axis=0)
    head_loss = float(hinge_rank_loss(torch.from_numpy((x[:BATCH] - mean) @ weight.T), torch.from_numpy(vectors),
                                      torch.from_numpy(y[:BATCH]), MARGIN))
    loop_losses = [per_sample_epoch(x[:BATCH], y[:BATCH], vectors, weight.copy(), mean, sample)
                   for sample in (sample_over_labels, sample_label_loop)]
    print(f"same loss on one batch: vectorised {head_loss:.6f}, per-sample {loop_losses[0]:.6f} and {loop_losses[1]:.6f}")

    for title, sample in [("per-sample numpy, labels vectorised", sample_over_labels),
                          ("per-sample numpy, loop over labels", sample_label_loop)]:
        start = time.perf_counter()
        per_sample_epoch(x[:args.subset], y[:args.subset], vectors, weight.copy(), mean, sample)
        subset_seconds = time.perf_counter() - start
        looped = subset_seconds * N / args.subset
        print(f"{title}: {subset_seconds:.2f} s on {args.subset} images -> {looped:.1f} s/epoch extrapolated "
              f"to {N}; vectorised trainer is {looped / vectorised:.0f}x faster")


if __name__ == "__main__":
    main()
