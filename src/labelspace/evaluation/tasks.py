"""Evaluation tasks with CLIP_benchmark's metrics, for any ``Classifier`` (CLIP, DeViSE, ConSE).

- ``zeroshot_classification``: acc1, acc5, mean per-class recall over the dataset's class names;
- ``multilabel_classification``: mAP over the labels;
- ``zeroshot_retrieval``: image-to-text and text-to-image recall@1/5/10, several captions per image;
- ``linear_probe``: logistic regression on cached image features (``shots=k`` for a k-shot probe).

Image features come from ``gathered_features`` (cached; sharded when a process group is running).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelspace.errors import LabelspaceError
from labelspace.data.eval_sets import CaptionSet, MultiLabelSet
from labelspace.evaluation.distributed import gathered_features
from labelspace.numeric import unit_rows
from labelspace.metrics import mean_average_precision, mean_per_class_accuracy, retrieval_recall, top_k_accuracy
from labelspace.registry import EVAL_TASKS

TASKS = ("zeroshot_classification", "multilabel_classification", "zeroshot_retrieval", "linear_probe")
LABEL_TASKS = TASKS[:2]  # the tasks that embed label text (templates, a text model)


def classification_metrics(scores, targets) -> dict[str, float]:
    return {"acc1": top_k_accuracy(scores, targets, 1), "acc5": top_k_accuracy(scores, targets, 5),
            "mean_per_class_recall": mean_per_class_accuracy(scores, targets)}


@EVAL_TASKS.register("zeroshot_classification",
                     description="acc1, acc5, mean per-class recall against the dataset's class names")
def zeroshot_classification(classifier, dataset, class_names: Sequence[str] | None = None, **kwargs) -> dict:
    """Score every image against the class names (or ``class_names``, one per class index)."""
    feats = gathered_features(classifier.image_encoder, dataset, **kwargs)
    names = dataset.class_names if class_names is None else list(class_names)  # a LabelSet stays one
    if len(names) != len(dataset.class_names):
        raise LabelspaceError(f"{len(names)} class names given for {len(dataset.class_names)} classes")
    return {**classification_metrics(classifier.scores(feats.features, names), feats.targets),
            "images": len(feats.targets), "skipped": feats.skipped, "skipped_images": feats.skipped_images}


@EVAL_TASKS.register("multilabel_classification",
                     description="mAP over the labels of a multi-label set (multilabel:<csv>, voc/coco view=images)")
def multilabel_classification(classifier, data: MultiLabelSet, **kwargs) -> dict:
    feats = gathered_features(classifier.image_encoder, data, **kwargs)
    scores = classifier.scores(feats.features, data.class_names)
    return {"mAP": mean_average_precision(scores, data.multi_hot[feats.indices]), "images": len(feats.targets),
            "skipped": feats.skipped, "skipped_images": feats.skipped_images}


@EVAL_TASKS.register("zeroshot_retrieval",
                     description="image-to-text and text-to-image recall@1/5/10 on a captions:<csv> set (CLIP)")
def zeroshot_retrieval(model, data: CaptionSet, batch_size: int = 256, **kwargs) -> dict:
    """Recall@k both ways between image and caption embeddings of one image-text model."""
    from labelspace.zeroshot import encode_prompts

    feats = gathered_features(model, data.images, **kwargs)
    if feats.skipped:
        raise LabelspaceError(f"{feats.skipped} unreadable image(s) in {data.name}: retrieval needs every image "
                              f"({'; '.join(feats.skipped_images[:3])}{' ...' if feats.skipped > 3 else ''})")
    texts = encode_prompts(model, data.captions, batch_size)
    return {**retrieval_recall(unit_rows(feats.features) @ texts.T, data.caption_image),
            "images": len(feats.targets), "captions": len(data.captions)}


def _few_shot(targets: np.ndarray, shots: int, seed: int) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(len(targets))
    return np.sort(np.concatenate([order[targets[order] == c][:shots] for c in np.unique(targets)]))


@EVAL_TASKS.register("linear_probe",
                     description="logistic regression on cached image features (--shots k for k-shot)")
def linear_probe(encoder, train, test, shots: int | None = None, seed: int = 0,
                 cs: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0), **kwargs) -> dict:
    """Logistic regression on unit image features of ``train``, scored on ``test``.

    The inverse regularisation C is chosen on a stratified 20 % validation split of the training
    features (at least one per class; when every class has at least two), then the probe is refit on all of them.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    if list(train.class_names) != list(test.class_names):
        raise LabelspaceError("train and test datasets must have the same classes for a linear probe")
    tr, te = gathered_features(encoder, train, **kwargs), gathered_features(encoder, test, **kwargs)
    x, y = unit_rows(tr.features), tr.targets
    if shots is not None:
        if shots < 1:
            raise LabelspaceError(f"shots must be a positive integer, got {shots}")
        keep = _few_shot(y, shots, seed)
        x, y = x[keep], y[keep]
    best_c = 1.0
    classes = np.unique(y)
    if len(classes) > 1 and len(cs) > 1 and np.bincount(y)[classes].min() >= 2:
        xa, xb, ya, yb = train_test_split(x, y, test_size=max(0.2, len(classes) / len(y)), stratify=y, random_state=seed)
        accuracy = {c: LogisticRegression(C=c, max_iter=1000).fit(xa, ya).score(xb, yb) for c in cs}
        best_c = max(accuracy, key=accuracy.get)
    probe = LogisticRegression(C=best_c, max_iter=1000).fit(x, y)
    scores = np.full((len(te.targets), len(test.class_names)), -np.inf)
    scores[:, probe.classes_] = probe.predict_log_proba(unit_rows(te.features))  # classes absent from train: -inf
    return {**classification_metrics(scores, te.targets), "C": best_c, "train_images": len(y),
            "images": len(te.targets), "shots": shots}
