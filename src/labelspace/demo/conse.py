"""Demo section: ConSE zero-shot on real photos and on Fashion-MNIST from class names alone."""
from __future__ import annotations

from labelspace.api import classify, classifier
from labelspace.data import bundled_photos, extract_features, fashion_mnist
from labelspace.io import markdown_table
from labelspace.metrics import mean_per_class_accuracy, top_k_accuracy

# Photo labels: the photos' own subjects plus distractors; most are not ImageNet-1k class names.
PHOTO_LABELS = ["cat", "coffee", "rocket", "astronaut", "motorcycle", "temple", "flower", "woman",
                "dog", "guitar", "car", "airplane", "elephant", "pizza", "violin", "submarine"]


def photo_table(photos, ranked, score: str) -> list[str]:
    """A Markdown table ``| photo | truth | top-3 (score) |`` and a top-1 line, for ``classify`` on the photos."""
    rows, hits = [], 0
    for path, target, top3 in zip(photos.paths, photos.targets, ranked):
        truth = photos.class_names[target]
        hits += top3[0]["label"] == truth
        rows.append([path.name, truth, ", ".join(f"{r['label']} {r['score']:.2f}" for r in top3)])
    return [*markdown_table(["photo", "truth", f"top-3 ({score})"], rows),
            f"\nTop-1: {hits}/{len(photos)} photos (chance {len(photos) / len(PHOTO_LABELS):.1f}/{len(photos)}).\n"]


def section(context) -> str:
    photos = bundled_photos()
    ranked = classify(photos.paths, PHOTO_LABELS, top=3)
    lines = ["## ConSE zero-shot (EfficientNet-Lite0 ImageNet head + GloVe 6B-50d, T=10)\n",
             f"### Bundled photos against {len(PHOTO_LABELS)} labels\n",
             f"Labels: {', '.join(PHOTO_LABELS)}.\n"]
    lines += photo_table(photos, ranked, f"score among the {len(PHOTO_LABELS)} labels, uncalibrated")

    test = fashion_mnist("test", context.root).per_class(context.per_class)
    lines.append(f"### Fashion-MNIST test, {len(test)} images ({context.per_class} per class), "
                 "only the 10 class names\n")
    results, rows = {}, []
    for text_model in ("glove-6b-50d", "minilm"):
        for top_t in (1, 10, 100):
            model = classifier("conse", "efficientnet-lite0", text_model, top_t)
            feats = extract_features(model.image_encoder, test)
            scores = model.scores(feats.features, test.class_names)
            acc, mpc = top_k_accuracy(scores, feats.targets), mean_per_class_accuracy(scores, feats.targets)
            results[(text_model, top_t)] = acc
            rows.append([text_model, top_t, f"{acc:.3f}", f"{mpc:.3f}",
                         f"{top_k_accuracy(scores, feats.targets, 2):.3f}", f"{1 / len(test.class_names):.3f}"])
    lines += markdown_table(["text model", "T", "top-1", "mean per-class top-1", "top-2", "chance top-1"], rows)
    best = max(results, key=results.get)
    lines.append(f"\nBest: {best[0]} with T={best[1]} at {results[best]:.3f} top-1, "
                 f"{results[best] * len(test.class_names):.1f}x chance. Skipped images: {feats.skipped}.\n")
    return "\n".join(lines)
