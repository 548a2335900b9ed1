"""One evaluation path for every method: a ``Classifier``, cached features, a dataset's classes, a split.

Scores are computed once over all labels (seen then unseen) and sliced into three views:

- ``seen``: seen-class images against the seen labels (the DeViSE paper's Table 1): flat hit@k,
  mean per-class top-1 and hierarchical precision hP@k over WordNet;
- ``zsl``: unseen-class images against the unseen labels only: per-class top-1;
- ``gzsl``: seen + unseen images against seen + unseen labels: u, s and H.

Without a split every class counts as seen and only the ``seen`` view is reported.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelspace.data.splits import ClassSplit, class_rows
from labelspace.errors import LabelspaceError
from labelspace.registry import EVAL_TASKS
from labelspace.metrics import flat_hits, mean_per_class_accuracy
from labelspace.metrics.zsl import gzsl


@EVAL_TASKS.register("zsl",
                     description="the split protocol: seen hit@k and hP@k, zsl per-class top-1, gzsl u, s, H")
def evaluate_split(classifier, features, targets, class_names: Sequence[str], split: ClassSplit | None = None,
             ks: Sequence[int] = (1, 2, 5), hp_ks: Sequence[int] = (2, 5),
             overrides: dict | None = None) -> dict:
    """Metrics as a JSON-able dict; ``hp_ks=()`` skips WordNet (labels need not be nouns then). hit@k with k
    at or above the number of seen labels (always 1) and hP@k with k above it are left out, with a ``note``
    in the seen view saying so."""
    class_names = list(class_names)
    seen = list(split.seen) if split else class_names
    labels = split.labels if split else class_names
    if split is not None:
        split.check(class_names)
    mask, y = class_rows(targets, class_names, labels)
    if not mask.any():
        raise LabelspaceError("no images of the evaluated classes in this dataset")
    scores = np.asarray(classifier.scores(np.asarray(features)[mask], labels), dtype=np.float64)
    n_seen = len(seen)
    on_seen = y < n_seen
    seen_scores, seen_y = scores[on_seen][:, :n_seen], y[on_seen]
    metrics = {"seen": {"images": int(on_seen.sum()), "labels": n_seen,
                        **{f"hit@{k}": v for k, v in flat_hits(seen_scores, seen_y, [k for k in ks if k < n_seen]).items()},
                        "per_class_top1": mean_per_class_accuracy(seen_scores, seen_y)}}
    too_big = [f"hit@{k}" for k in ks if k >= n_seen] + [f"hP@{k}" for k in hp_ks if k > n_seen]
    if too_big:  # hit@k with k >= the label count is 1 whatever the model does
        metrics["seen"]["note"] = f"{', '.join(too_big)} skipped: only {n_seen} seen labels"
    if hp_ks := [k for k in hp_ks if k <= n_seen]:
        from labelspace.metrics.hierarchy import hierarchical_precision, load_overrides, wordnet

        net = wordnet()
        nodes = net.synsets(seen, load_overrides() if overrides is None else overrides)
        metrics["seen"].update({f"hP@{k}": v for k, v in
                                hierarchical_precision(seen_scores, seen_y, nodes, net, hp_ks).items()})
    if split is not None:
        unseen_scores, unseen_y = scores[~on_seen][:, n_seen:], y[~on_seen] - n_seen
        metrics["zsl"] = {"images": int((~on_seen).sum()), "labels": len(split.unseen),
                          "per_class_top1": mean_per_class_accuracy(unseen_scores, unseen_y)}
        metrics["gzsl"] = gzsl(scores, y, np.arange(n_seen, len(labels)))
    return metrics


def evaluate_zsl(model: str | None, dataset: str, split: str | None = None, image_model: str | None = None,
                 text_model: str | None = None, top_t: int | None = None, hierarchy: bool = True,
                 wordnet_overrides=None, root: str | None = None, checkpoint: str | None = None) -> dict:
    """``--task zsl``: the split protocol's seen / zsl / gzsl views for ``conse`` or a trained checkpoint,
    as one result dict (the layout of ``evaluate``'s)."""
    from labelspace.data import extract_features, load_dataset
    from labelspace.data.splits import load_split
    from labelspace.methods.trained import load_classifier
    from labelspace.metrics.hierarchy import load_overrides

    if model is None:
        raise LabelspaceError("--model is required for --task zsl ('conse' or a checkpoint folder)")
    the_split = load_split(split) if split else None
    data = load_dataset(dataset, root)
    if the_split is not None:
        the_split.check(data.class_names)
    overrides = load_overrides(wordnet_overrides) if hierarchy else None
    classifier, info = load_classifier(model, image_model, text_model, top_t, checkpoint)
    feats = extract_features(classifier.image_encoder, data)
    metrics = evaluate_split(classifier, feats.features, feats.targets, feats.class_names, the_split,
                             hp_ks=(2, 5) if hierarchy else (), overrides=overrides)
    return {"task": "zsl", "method": info["method"], "model": model, "dataset": dataset, **info,
            "split": the_split.name if the_split else None,
            "split_classes": the_split.to_json() if the_split else None,
            "images": len(feats.targets), "skipped": feats.skipped, "skipped_images": feats.skipped_images,
            "metrics": metrics}
