"""Demo section: open-vocabulary ConSE over ImageNet-21K; the bundled photos against imagenet-21k+1k.

Each photo's subject is mapped to its WordNet synset (``WordNet.synset``: cat -> n02121620, ...) and ranked
among the 21,842 synsets of ``imagenet-21k+1k`` (the zero-shot "all" set plus the 1,000 training labels): its
top 5 with hypernym paths, hit@5 and hP@5 against that synset (ties count against the model), and the hedged
answer at P = 0.5 (``vocab.hedging``).
"""
from __future__ import annotations

import torch

from labelspace.api import answer_features, classifier
from labelspace.data import bundled_photos
from labelspace.data.images import open_image
from labelspace.io import markdown_table
from labelspace.metrics.hierarchy import hierarchical_precision_per_image, load_overrides, wordnet
from labelspace.vocab import label_set

LABELS, HEDGE, TOP = "imagenet-21k+1k", 0.5, 5


def section(context) -> str:
    photos, net = bundled_photos(), wordnet()
    truths = net.synsets([photos.class_names[t] for t in photos.targets], load_overrides())
    lines = [f"## Open vocabulary: ConSE over {LABELS}\n",
             f"The {len(photos)} bundled photos, each against all 21,842 synsets; truth = the WordNet synset of the "
             f"photo's subject; hedged at P = {HEDGE} of the shown scores. ConSE T=10, scores at its uncalibrated "
             "T = 0.05.\n"]
    for text_model in ("glove-6b-50d", "minilm"):
        model = classifier("conse", "efficientnet-lite0", text_model)
        features = model.image_encoder.encode(torch.stack([model.image_encoder.preprocess(open_image(p))
                                                           for p in photos.paths]))
        ranked, hedged, candidates, score_name = answer_features(model, features, label_set(LABELS), TOP, HEDGE)
        column = {wnid: i for i, wnid in enumerate(candidates.wnids)}
        targets = [column[w] for w in truths]
        hp = hierarchical_precision_per_image(model.scores(features, candidates), targets, candidates.wnids, net,
                                              (TOP,))[TOP]
        rows = []
        for path, truth, top, hp5, hedge in zip(photos.paths, truths, ranked, hp, hedged):
            hit = any(a["wnid"] == truth for a in top)
            rows.append([path.name, f"{net.name(truth).replace('_', ' ')} ({truth})",
                         "<br>".join(f"{a['label']} {a['score']:.3f}: {a['path']}" for a in top),
                         "yes" if hit else "no", f"{hp5:.2f}", f"{hedge['label']} ({hedge['probability']:.2f})"])
        hits = sum(r[3] == "yes" for r in rows)
        lines += [f"### EfficientNet-Lite0 + {text_model} ({len(candidates):,} candidates, {candidates.excluded} "
                  "without a word left out)\n",
                  *markdown_table(["photo", "truth", f"top {TOP} ({score_name}: path)", f"hit@{TOP}", f"hP@{TOP}",
                                   f"hedged at {HEDGE}"], rows),
                  f"\nhit@{TOP} {hits}/{len(photos)}, mean hP@{TOP} {hp.mean():.3f} "
                  f"(chance hit@{TOP} {TOP / len(candidates):.1e}).\n"]
    return "\n".join(lines)
