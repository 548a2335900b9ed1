"""Demo section: ConSE zero-shot on real photos and on Fashion-MNIST from class names alone."""
from __future__ import annotations

from labelspace.api import classify, classifier
from labelspace.data import bundled_photos, extract_features, fashion_mnist
from labelspace.metrics import mean_per_class_accuracy, top_k_accuracy

# Photo labels: the photos' own subjects plus distractors; most are not ImageNet-1k class names.
PHOTO_LABELS = ["cat", "coffee", "rocket", "astronaut", "motorcycle", "temple", "flower", "woman",
                "dog", "guitar", "car", "airplane", "elephant", "pizza", "violin", "submarine"]


def photo_rows(photos, ranked) -> list[str]:
    """Markdown rows ``| photo | truth | top-3 |`` and a top-1 line, for ``classify`` results on the photos."""
    lines, hits = [], 0
    for path, target, top3 in zip(photos.paths, photos.targets, ranked):
        truth = photos.class_names[target]
        hits += top3[0]["label"] == truth
        lines.append(f"| {path.name} | {truth} | " + ", ".join(f"{r['label']} {r['score']:.2f}" for r in top3) + " |")
    lines.append(f"\nTop-1: {hits}/{len(photos)} photos (chance {len(photos) / len(PHOTO_LABELS):.1f}/{len(photos)}).\n")
    return lines


def section(context) -> str:
    photos = bundled_photos()
    ranked = classify(photos.paths, PHOTO_LABELS, top=3)
    lines = ["## ConSE zero-shot (EfficientNet-Lite0 ImageNet head + GloVe 6B-50d, T=10)\n",
             f"### Bundled photos against {len(PHOTO_LABELS)} labels\n",
             f"Labels: {', '.join(PHOTO_LABELS)}.\n", f"| photo | truth | top-3 (probability among the {len(PHOTO_LABELS)} labels) |", "|---|---|---|"]
    lines += photo_rows(photos, ranked)

    test = fashion_mnist("test", context.root).per_class(context.per_class)
    lines += [f"### Fashion-MNIST test, {len(test)} images ({context.per_class} per class), only the 10 class names\n",
              "| text model | T | top-1 | mean per-class top-1 | top-2 | chance top-1 |", "|---|---|---|---|---|---|"]
    results = {}
    for text_model in ("glove-6b-50d", "minilm"):
        for top_t in (1, 10, 100):
            model = classifier("conse", "efficientnet-lite0", text_model, top_t)
            feats = extract_features(model.image_encoder, test)
            scores = model.scores(feats.features, test.class_names)
            acc, mpc = top_k_accuracy(scores, feats.targets), mean_per_class_accuracy(scores, feats.targets)
            results[(text_model, top_t)] = acc
            lines.append(f"| {text_model} | {top_t} | {acc:.3f} | {mpc:.3f} | "
                         f"{top_k_accuracy(scores, feats.targets, 2):.3f} | {1 / len(test.class_names):.3f} |")
    best = max(results, key=results.get)
    lines.append(f"\nBest: {best[0]} with T={best[1]} at {results[best]:.3f} top-1, "
                 f"{results[best] * len(test.class_names):.1f}x chance. Skipped images: {feats.skipped}.\n")
    return "\n".join(lines)
