"""Hierarchical precision at ImageNet-21K scale, side by side with flat hit@k in one run: random scores for
10,000 images x the 20,842 candidate wnids of the zero-shot "all" list, over the real WordNet 3.0.

1. Time: flat hit@{1,2,5,10,20} vs hP@{2,5,10,20}, the first call (the correct sets' searches included) and
   again with the correct sets cached, interleaved; the ratio hP / flat.
2. Peak memory (tracemalloc, above the score matrix) of both, and of the former dense implementation (the
   dense reference of tests/test_hierarchy.py: a labels x labels matrix, float64 copies, full sorts),
   measured at two smaller image counts over all 20,842 labels and extrapolated linearly in images.

    PYTHONPATH=src python benchmarks/hierarchy.py [--images 10000 --labels /work/shared/data/imagenet-zsl/all.txt]
"""
from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path

import numpy as np
from timing import interleaved, timed

from labelspace.metrics import flat_hits
from labelspace.metrics.hierarchy import WordNet, hierarchical_precision, wordnet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_hierarchy import reference  # noqa: E402  the former dense implementation, kept as the tests' reference

HIT_KS, HP_KS = (1, 2, 5, 10, 20), (2, 5, 10, 20)
MB = 1e6


def peak(fn) -> float:
    """Peak bytes that ``fn()`` allocates above what is allocated already."""
    tracemalloc.start()
    fn()
    top = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--labels", default="/work/shared/data/imagenet-zsl/all.txt")
    parser.add_argument("--dense-images", type=int, nargs=2, default=(100, 200))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    (net, seconds) = timed(wordnet)
    wnids = Path(args.labels).read_text().split()
    rng = np.random.default_rng(0)
    scores = rng.random((args.images, len(wnids)), dtype=np.float32)
    targets = rng.integers(0, len(wnids), args.images)
    print(f"{args.images} images x {len(wnids)} labels ({scores.nbytes / MB:.0f} MB float32), "
          f"{len(np.unique(targets))} true classes; WordNet 3.0 parsed in {seconds:.2f} s, {len(net.edges)} nouns")

    hp, t_cold = timed(lambda: hierarchical_precision(scores, targets, wnids, net, HP_KS))
    hits, _ = timed(lambda: flat_hits(scores, targets, HIT_KS))
    sets = net.correct_sets(wnids)
    cached = sum(columns.nbytes + ends.nbytes for columns, ends, _ in sets.found.values())
    best = interleaved({"flat": lambda: flat_hits(scores, targets, HIT_KS),
                        "hP": lambda: hierarchical_precision(scores, targets, wnids, net, HP_KS)}, args.rounds)
    print("hit@k " + " ".join(f"{k}:{v:.4f}" for k, v in hits.items()) + "   hP@k " +
          " ".join(f"{k}:{v:.4f}" for k, v in hp.items()))
    print(f"flat hit@{{1,2,5,10,20}}:                  {best['flat']:.2f} s")
    print(f"hP@{{2,5,10,20}}, first call (searches):   {t_cold:.2f} s   ratio hP / flat {t_cold / best['flat']:.2f}x")
    print(f"hP@{{2,5,10,20}}, correct sets cached:     {best['hP']:.2f} s   ratio hP / flat {best['hP'] / best['flat']:.2f}x")
    print(f"correct sets of {len(sets.found)} classes, cached: {cached / MB:.1f} MB of index arrays")

    flat_peak = peak(lambda: flat_hits(scores, targets, HIT_KS))
    fresh = WordNet()
    cold_peak = peak(lambda: hierarchical_precision(scores, targets, wnids, fresh, HP_KS))
    warm_peak = peak(lambda: hierarchical_precision(scores, targets, wnids, fresh, HP_KS))
    print(f"peak memory above the scores: flat {flat_peak / MB:.0f} MB, hP first call {cold_peak / MB:.0f} MB, "
          f"cached {warm_peak / MB:.0f} MB")

    dense = {}
    for n in args.dense_images:
        dense[n] = peak(lambda: reference(scores[:n], targets[:n], wnids, net.edges, HP_KS))
    (small, a), (large, b) = dense.items()
    per_image = (b - a) / (large - small)
    estimate = a + per_image * (args.images - small)
    print(f"former dense implementation, peak at {small} / {large} images: {a / MB:.0f} / {b / MB:.0f} MB "
          f"({len(wnids) ** 2 / MB:.0f} MB of it the labels x labels matrix, {per_image / 1e3:.0f} kB per image)")
    print(f"  extrapolated to {args.images} images: {estimate / MB:.0f} MB, ratio dense / blocks "
          f"{estimate / cold_peak:.0f}x; over all {len(net.edges)} WordNet nouns the matrix alone is "
          f"{len(net.edges) ** 2 / MB:.0f} MB")


if __name__ == "__main__":
    main()
