"""Zero-shot speed, side by side in one run, on open_clip ViT-B-32 (random init, CPU).

1. Classifier building for C classes x T templates (default 100 x 80, ImageNet names, OpenAI templates):
   labelspace's builder (real-length text batches) vs open_clip's ``build_zero_shot_classifier``
   (every text padded to 77 tokens). open_clip's builder runs on the first ``--reference-classes``
   classes only (all of it would take minutes here); its time for all C classes is extrapolated
   per text, and the weights of those classes are compared.
2. Cached rebuild: the same classifier again, read from disk (memory cache cleared) and from memory.
3. Image evaluation throughput: labelspace ``zeroshot_classification`` (decode, preprocess, encode,
   score; feature cache off) vs the bare ``encode_image`` forward on pre-decoded tensors, and vs a
   CLIP_benchmark-style loop (DataLoader, ``encode_image``, normalise, logits per batch).

    PYTHONPATH=src python benchmarks/zeroshot.py [--classes 100 --templates 80 --images 160 --rounds 3]
"""
from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch
from timing import class_weights, clip_benchmark_style, interleaved, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="open_clip:ViT-B-32")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--templates", type=int, default=80)
    parser.add_argument("--reference-classes", type=int, default=4)
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import open_clip

    from labelspace.data import fashion_mnist
    from labelspace.evaluation import zeroshot_classification
    from labelspace.methods.clip import CLIPClassifier
    from labelspace.models import load_clip
    from labelspace.zeroshot import template_set
    from labelspace.demo.speed import builder_speed

    torch.set_grad_enabled(False)
    model, load_s = timed(lambda: load_clip(args.model))
    print(f"model {model.name} ({model.cache_key.split('|')[1]}), loaded in {load_s:.1f} s, "
          f"torch threads {torch.get_num_threads()}")
    classes = list(open_clip.IMAGENET_CLASSNAMES[:args.classes])
    templates = template_set("openai")[:args.templates]
    cache = tempfile.mkdtemp(prefix="ls-bench-")
    r = builder_speed(model, classes, templates, args.reference_classes, cache)
    print(f"\n1. classifier: {len(classes)} classes x {len(templates)} templates = {r['texts']} texts; real token "
          f"length {r['mean_tokens']:.1f} on average (open_clip pads to {r['padded_tokens']})")
    print(f"   labelspace build_classifier: {r['ours_s']:7.1f} s  ({r['texts'] / r['ours_s']:6.1f} texts/s)")
    print(f"   open_clip builder          : {r['reference_s']:7.1f} s on {r['reference_classes']} classes "
          f"({r['reference_classes'] * len(templates) / r['reference_s']:6.1f} texts/s) -> {r['reference_full_s']:.1f} s "
          f"for {len(classes)} classes (extrapolated per text)")
    print(f"   speed-up {r['speedup']:.1f}x; max |weight difference| on the shared classes {r['max_diff']:.2e}")
    print(f"\n2. cached rebuild: from disk {r['disk_s'] * 1e3:.1f} ms, from memory {r['memory_s'] * 1e3:.3f} ms "
          f"({r['ours_s'] / r['disk_s']:.0f}x faster than building)")

    print(f"\n3. image evaluation: {args.images} Fashion-MNIST test images, batch {args.batch_size}")
    data = fashion_mnist("test").subset(np.arange(args.images), f"fashion-mnist:test[:{args.images}]")
    clf = CLIPClassifier(model, templates=["a photo of a {}."], cache_dir=cache)
    clf.label_weights(data.class_names)
    decoded = torch.stack([model.preprocess(data.load(i)) for i in range(len(data))])

    def bare():
        for start in range(0, len(decoded), args.batch_size):
            model.net.encode_image(decoded[start:start + args.batch_size])

    def ours_eval():
        return zeroshot_classification(clf, data, batch_size=args.batch_size, use_cache=False, progress=False)

    weights = class_weights(clf, data.class_names)
    bare()  # warm-up
    runs = {"bare encode_image on pre-decoded tensors": bare, "labelspace zeroshot_classification": ours_eval,
            "CLIP_benchmark-style DataLoader loop": lambda: clip_benchmark_style(model, data, weights, args.batch_size)}
    rates = {name: len(data) / seconds for name, seconds in interleaved(runs, args.rounds).items()}
    for name, rate in rates.items():
        print(f"   {name:42s}: {rate:6.1f} images/s (best of {args.rounds})")
    names = list(rates)
    print(f"   labelspace / bare forward: {rates[names[1]] / rates[names[0]]:.2f}; "
          f"labelspace / CLIP_benchmark-style: {rates[names[1]] / rates[names[2]]:.2f}")


if __name__ == "__main__":
    main()
