"""One evaluation path for every method: a ``Classifier``, cached features, a dataset's classes, a split.

Scores are computed once over all labels (seen then unseen) and sliced into three views:

- ``seen``: seen-class images against the seen labels (the DeViSE paper's Table 1): flat hit@k,
  mean per-class top-1 and hierarchical precision hP@k over WordNet;
- ``zsl``: unseen-class images against the unseen labels only: per-class top-1;
- ``gzsl``: seen + unseen images against seen + unseen labels: u, s and H.

Without a split every class counts as seen and only the ``seen`` view is reported.

Options for generalized zero-shot (both need the split's validation classes, and neither reads the test's
unseen classes to choose anything):

- ``csls``: nearest-label inference on CSLS-corrected scores (``methods.hubness``), every view included;
  its k is chosen on the validation view. ``hubness`` reports the skewness of the 1-occurrence of the
  GZSL matrix, with and without the correction.
- ``calibrate``: calibrated stacking (``metrics.gzsl``): gamma maximises H on the validation view, and
  ``calibrated`` reports u, s, H at that gamma plus the AUSUC of the test matrix; ``curve`` holds its
  seen-unseen curve (lists, left out of the flat tables).

The *validation view* is the dataset's seen-class images scored against the seen labels, the validation
classes standing in for unseen ones, by ``classifier.validation_model`` when the classifier has one (the
same method fitted with the chosen settings on the seen classes minus the validation classes, so those are
new to it), else by the classifier itself (a method that never trained on the split's classes).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelspace.data.splits import ClassSplit, class_rows
from labelspace.errors import LabelspaceError
from labelspace.registry import EVAL_TASKS
from labelspace.metrics import flat_hits, mean_per_class_accuracy
from labelspace.methods.hubness import choose_csls_k, csls as csls_scores
from labelspace.metrics.gzsl import ausuc, calibrated_gzsl, choose_gamma, seen_unseen_curve
from labelspace.metrics.hubness import hubness
from labelspace.metrics.zsl import gzsl
from labelspace.vocab import labels_like


def validation_view(classifier, features, targets, labels: Sequence[str], split: ClassSplit):
    """(scores, targets, unseen columns) of the validation view; ``targets`` index ``labels`` (the split's)."""
    if not split.validation:
        raise LabelspaceError(f"split {split.name!r} has no validation classes: calibration and CSLS choose their "
                              "settings on them (add a 'validation' list of seen classes)")
    held_out = getattr(classifier, "validation_model", None) or classifier
    val_labels = labels_like(labels, [*split.train, *split.validation])
    mask, y = class_rows(targets, labels, val_labels)
    scores = np.asarray(held_out.scores(np.asarray(features)[mask], val_labels), dtype=np.float64)
    return scores, y, np.arange(len(split.train), len(val_labels))


@EVAL_TASKS.register("zsl",
                     description="the split protocol: seen hit@k and hP@k, zsl per-class top-1, gzsl u, s, H")
def evaluate_split(classifier, features, targets, class_names: Sequence[str], split: ClassSplit | None = None,
             ks: Sequence[int] = (1, 2, 5), hp_ks: Sequence[int] = (2, 5),
             overrides: dict | None = None, calibrate: bool = False, csls: bool = False) -> dict:
    """Metrics as a JSON-able dict; ``hp_ks=()`` skips WordNet (labels need not be nouns then). hit@k with k
    at or above the number of seen labels (always 1) and hP@k with k above it are left out, with a ``note``
    in the seen view saying so."""
    seen = list(split.seen) if split else list(class_names)
    labels = labels_like(class_names, split.labels if split else class_names)  # an ImageNet set's keep their synsets
    if split is not None:
        split.check(class_names)
    mask, y = class_rows(targets, class_names, labels)
    if not mask.any():
        raise LabelspaceError("no images of the evaluated classes in this dataset")
    scores = np.asarray(classifier.scores(np.asarray(features)[mask], labels), dtype=np.float64)
    n_seen = len(seen)
    if split is None and (calibrate or csls):
        raise LabelspaceError("calibration and CSLS need a split (seen, unseen and validation classes)")
    if split is not None and (calibrate or csls):
        val_scores, val_y, val_unseen = validation_view(classifier, np.asarray(features)[mask], y, labels, split)
    extra = {}
    if split is not None:
        extra["hubness"] = {"skew@1": hubness(scores)}
    if csls:
        k, _ = choose_csls_k(val_scores, val_y, val_unseen)
        scores, val_scores = csls_scores(scores, k), csls_scores(val_scores, k)
        extra["hubness"].update({"skew@1 csls": hubness(scores), "csls_k": k})
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
        unseen = np.arange(n_seen, len(labels))
        metrics["gzsl"] = gzsl(scores, y, unseen)
        if calibrate:
            gamma, val_h = choose_gamma(val_scores, val_y, val_unseen)
            curve = seen_unseen_curve(scores, y, unseen)
            metrics["calibrated"] = {**calibrated_gzsl(scores, y, unseen, gamma), "AUSUC": ausuc(curve),
                                     "validation_H": val_h}
            metrics["curve"] = {key: curve[key].tolist() for key in ("gamma", "u", "s")}
    return {**metrics, **extra}


def evaluate_zsl(model: str | None, dataset: str, split: str | None = None, image_model: str | None = None,
                 text_model: str | None = None, top_t: int | None = None, hierarchy: bool = True,
                 wordnet_overrides=None, root: str | None = None, checkpoint: str | None = None,
                 calibrate: bool = False, csls: bool = False, templates: str | None = None, device="cpu",
                 precision: str = "fp32", workers: int | None = None, preprocess: str = "auto",
                 labels: str | None = None) -> dict:
    """``--task zsl``: the split protocol's seen / zsl / gzsl views for ``conse``, a trained checkpoint, a CLIP
    model or a method spec, as one result dict (the layout of ``evaluate``'s); with ``labels`` (a label-set
    spec) instead every image against that set (``evaluation.labelsets``)."""
    from pathlib import Path

    from labelspace.data import extract_features, load_dataset
    from labelspace.data.splits import load_split
    from labelspace.evaluation.labelsets import HP_KS, class_synsets, evaluate_labels, require_classes, synset_labels
    from labelspace.methods.trained import load_classifier
    from labelspace.metrics.hierarchy import load_overrides, wordnet
    from labelspace.vocab import label_set

    if model is None:
        raise LabelspaceError("--model is required for --task zsl ('conse', a checkpoint folder, a CLIP spec or a "
                              "method spec such as conse:efficientnet-lite0+minilm)")
    split_only = [name for name, given in (("--split", split), ("--calibrate", calibrate), ("--csls", csls)) if given]
    if labels is not None and split_only:
        raise LabelspaceError(f"--labels {labels!r} (every image against a label set) takes no "
                              f"{', '.join(split_only)}: the split protocol's; use one or the other")
    the_split = load_split(split) if split else None
    data = load_dataset(dataset, root)
    if the_split is not None:
        the_split.check(data.class_names)
    overrides = load_overrides(wordnet_overrides, dataset) if hierarchy or labels is not None else None
    if labels is not None:  # checked before any model loads: a class outside the set could never be a hit
        candidates, wnids = synset_labels(label_set(labels)), class_synsets(data, overrides)
        require_classes(candidates, data.class_names, wnids)
    elif overrides is not None and getattr(data, "wnids", None):  # ImageNet-style data knows each class's synset
        overrides.update(zip(data.class_names, data.wnids))
    if overrides is not None and labels is None:  # a label with no synset fails here, before any encoding
        wordnet().synsets(the_split.seen if the_split else data.class_names, overrides)
    classifier, info = load_classifier(model, image_model, text_model, top_t, checkpoint=checkpoint,
                                       templates=templates, device=device, precision=precision)
    if labels is not None:  # before features: a class the text model cannot name could never be a hit either
        candidates = classifier.candidates(candidates)
        require_classes(candidates, data.class_names, wnids, info.get("text_model", ""))
    if (calibrate or csls) and Path(model).is_dir() and getattr(classifier, "validation_model", None) is None:
        raise LabelspaceError(f"checkpoint {model!r} has no validation-stage model (validation.safetensors) to choose "
                              "--calibrate/--csls settings on; retrain it with this version of `labelspace train`")
    feats = extract_features(classifier.image_encoder, data, workers=workers, preprocess=preprocess)
    if labels is not None:
        metrics = evaluate_labels(classifier, feats.features, feats.targets, wnids, candidates,
                                  hp_ks=HP_KS if hierarchy else ())
        protocol = {"labels": labels, "class_synsets": dict(zip(data.class_names, wnids))}
    else:
        metrics = evaluate_split(classifier, feats.features, feats.targets, feats.class_names, the_split,
                                 hp_ks=(2, 5) if hierarchy else (), overrides=overrides, calibrate=calibrate,
                                 csls=csls)
        protocol = {"split": the_split.name if the_split else None, "calibrated": True if calibrate else None,
                    "csls": True if csls else None, "split_classes": the_split.to_json() if the_split else None}
    return {"task": "zsl", "method": info["method"], "model": model, "dataset": dataset, **info, **protocol,
            "wordnet_overrides": str(wordnet_overrides) if wordnet_overrides and hierarchy else None,
            "images": len(feats.targets), "skipped": feats.skipped, "skipped_images": feats.skipped_images,
            "metrics": metrics}
