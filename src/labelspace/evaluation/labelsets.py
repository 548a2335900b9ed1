"""``eval --task zsl --labels <set>``: every image against a whole WordNet label set, the ImageNet-21K protocol
of DeViSE (Frome et al. 2013, Table 2) and ConSE (Norouzi et al. 2014, Table 1).

Each image's true label is its class's synset (an ``imagenet:`` folder's wnid; other datasets map class
names by ``WordNet.synset`` and the overrides), ranked among every candidate of the set (``imagenet-2hops``,
``-3hops``, ``-21k``, each ``+1k``, ``wordnet:<wnid>``, a wnid file) that the classifier can score: synsets its
text model has no word for are left out and counted (``excluded``). A class whose synset is not a candidate
could never be a hit, so it is a one-line error before anything is computed (before any model loads, where
the set lacks it). Reported: flat hit@k and hP@k averaged over images (as the papers do) and over classes
(the mean of each class's mean, so the large classes of fall 2011 do not dominate), and chance k / candidates.

Images are scored ``CHUNK`` at a time, so one (chunk, candidates) score matrix is held however many images
there are (512 x 21,842 float64 is 89 MB). Ranking follows ``metrics.ranking``: ties and NaN count against
the model.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelspace.errors import LabelspaceError
from labelspace.metrics.classification import averaged, true_label_rank
from labelspace.metrics.hierarchy import hierarchical_precision_per_image, wordnet
from labelspace.vocab import LabelSet, packaged_wnids

KS, HP_KS = (1, 2, 5, 10, 20), (2, 5, 10, 20)  # the papers' columns
CHUNK = 512
LARGER = "use a larger set (imagenet-21k+1k: every fall-2011 synset; wordnet-nouns: every noun)"


def class_synsets(data, overrides: dict | None = None) -> list[str]:
    """Each dataset class's true synset: an ImageNet-style set's own wnids, else ``WordNet.synset`` of its name."""
    if getattr(data, "wnids", None):
        return list(data.wnids)
    return wordnet().synsets(data.class_names, overrides)


def synset_labels(labels: LabelSet) -> LabelSet:
    """``labels`` if it is a set of synsets; a set of plain names is a one-line error (no true synset to rank)."""
    if labels.wnids is None:
        raise LabelspaceError(f"--labels {labels.spec!r} holds plain names; evaluating a dataset against a label set "
                              "needs synsets (a WordNet set such as imagenet-21k, or a file of wnids)")
    return labels


def require_classes(labels: LabelSet, class_names: Sequence[str], wnids: Sequence[str],
                    text_model: str | None = None) -> None:
    """A one-line error naming the dataset classes whose synset is not a label of ``labels``: not in the set,
    or (``text_model`` given: ``labels`` are the candidates it left) excluded for having no word in it."""
    have = set(labels.wnids)
    missing = [(name, wnid) for name, wnid in zip(class_names, wnids) if wnid not in have]
    if not missing:
        return
    named = ", ".join(f"{name!r} ({wnid})" for name, wnid in missing[:5]) + (", ..." if len(missing) > 5 else "")
    count = f"{len(missing)} of {len(wnids)} dataset classes"
    if text_model is not None:
        raise LabelspaceError(f"{count} have no word in text model {text_model!r}, so {labels.spec} cannot score "
                              f"them: {named}; use another --text-model")
    in_1k = set(packaged_wnids("imagenet-1k"))
    plus_1k = not labels.spec.endswith("+1k") and all(wnid in in_1k for _, wnid in missing)
    fix = f"use --labels {labels.spec}+1k or a larger set" if plus_1k else LARGER
    raise LabelspaceError(f"{count} are not in {labels.spec}: {named}; {fix}")


def evaluate_labels(classifier, features, targets, class_wnids: Sequence[str], labels: LabelSet,
                    ks: Sequence[int] = KS, hp_ks: Sequence[int] = HP_KS, chunk: int = CHUNK) -> dict:
    """The module's metrics as a JSON-able dict: ``targets`` index ``class_wnids`` (one synset per dataset class,
    each a label of ``labels``, the candidates); ``hp_ks=()`` skips hP@k. hit@k with k at or above the
    candidate count (always 1) and hP@k with k above it are left out, with a ``note`` saying so."""
    targets = np.asarray(targets, dtype=np.int64)
    column = {wnid: i for i, wnid in enumerate(labels.wnids)}
    truth = np.array([column[w] for w in class_wnids], dtype=np.int64)[targets]
    n, n_labels = len(targets), len(labels)
    if n == 0:
        raise LabelspaceError("no images to evaluate in this dataset")
    hit_ks, hp_used = [k for k in ks if k < n_labels], [k for k in hp_ks if k <= n_labels]
    net = wordnet() if hp_used else None
    ranks = np.empty(n, dtype=np.int64)
    hp = {k: np.empty(n) for k in hp_used}  # each image's hP@k
    features = np.asarray(features)
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        scores = np.asarray(classifier.scores(features[rows], labels), dtype=np.float64)
        ranks[rows] = true_label_rank(scores, truth[rows])
        if hp_used:  # the correct sets are searched once per set and k, then cached
            for k, values in hierarchical_precision_per_image(scores, truth[rows], labels.wnids, net, hp_used).items():
                hp[k][rows] = values
    per_image = {**{f"hit@{k}": (ranks < k).astype(np.float64) for k in hit_ks},
                 **{f"hP@{k}": values for k, values in hp.items()}}
    metrics = {"candidates": n_labels, "excluded": labels.excluded, "images": n, "classes": len(np.unique(targets)),
               "per_image": {name: averaged(v, targets, "images") for name, v in per_image.items()},
               "per_class": {name: averaged(v, targets, "classes") for name, v in per_image.items()},
               "chance": {f"hit@{k}": k / n_labels for k in hit_ks}}
    skipped = [f"hit@{k}" for k in ks if k >= n_labels] + [f"hP@{k}" for k in hp_ks if k > n_labels]
    if skipped:
        metrics["note"] = f"{', '.join(skipped)} skipped: only {n_labels} candidates"
    return metrics
