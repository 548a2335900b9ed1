"""Feature extraction throughput: labelspace's cached pipeline vs the bare model forward.

Side by side in one run, on the same model, images and batch size:
  * bare:    encoder.encode() on tensors already decoded and preprocessed (the floor);
  * ours:    extract_features() from the dataset (decode + preprocess + forward + write), cache off;
  * cached:  extract_features() a second time, reading the memory-mapped cache.
Usage: python benchmarks/features.py [--model efficientnet-lite0] [--images 512] [--batch-size 64]
"""
from __future__ import annotations

import argparse
import tempfile

import torch
from timing import interleaved, timed

from labelspace.data import extract_features, fashion_mnist
from labelspace.encoders import load_image_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    encoder = load_image_encoder(args.model)
    dataset = fashion_mnist("test").per_class(args.images // 10)
    n = len(dataset)
    decoded = [torch.stack([encoder.preprocess(dataset.load(i)) for i in range(s, min(s + args.batch_size, n))])
               for s in range(0, n, args.batch_size)]
    encoder.encode(decoded[0][:8])  # warm-up

    def run_bare():
        for batch in decoded:
            encoder.encode(batch)

    best = interleaved({"bare": run_bare, "ours": lambda: extract_features(encoder, dataset, args.batch_size,
                                                                           use_cache=False, progress=False)}, args.rounds)
    bare, ours = n / best["bare"], n / best["ours"]

    with tempfile.TemporaryDirectory() as cache:
        extract_features(encoder, dataset, args.batch_size, cache_dir=cache, progress=False)
        reread = n / timed(lambda: extract_features(encoder, dataset, args.batch_size, cache_dir=cache,
                                                    progress=False).features.sum())[1]  # touch every row

    print(f"model {args.model}, {n} Fashion-MNIST images, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"best of {args.rounds} alternating rounds")
    print(f"bare forward on pre-decoded tensors : {bare:8.1f} images/s")
    print(f"labelspace extract_features (fresh) : {ours:8.1f} images/s   ratio to bare {ours / bare:.2f} (goal >= 0.9)")
    print(f"labelspace extract_features (cached): {reread:8.1f} images/s   speed-up over fresh {reread / ours:.0f}x")


if __name__ == "__main__":
    main()
