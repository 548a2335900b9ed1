"""GZSL u/s/H by hand, the split files and their bad-input errors, the evaluation views."""
import json

import numpy as np
import pytest

from labelspace.data.splits import class_rows, load_split, make_split
from labelspace.errors import LabelspaceError
from labelspace.evaluation import evaluate_split
from labelspace.metrics.zsl import gzsl, harmonic_mean


def test_harmonic_mean_hand_computed():
    assert harmonic_mean(0.5, 0.8) == pytest.approx(2 * 0.4 / 1.3)  # 0.6153...
    assert harmonic_mean(0.0, 0.9) == 0.0 and harmonic_mean(0.0, 0.0) == 0.0


def test_gzsl_per_class_u_s_h():
    # labels 0, 1 seen; 2 unseen. Unseen class 2: 1 of 2 right -> u = 0.5.
    # seen class 0: 2/2, class 1: 0/1 -> s = 0.5 (per class, not 2/3 per image).
    scores = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=float)
    targets = np.array([0, 0, 1, 2, 2])
    got = gzsl(scores, targets, [2])
    assert got == pytest.approx({"u": 0.5, "s": 0.5, "H": 0.5})


class Fixed:
    """A classifier scoring each image by a table: image i gives row i, columns follow the labels asked."""

    def __init__(self, table):
        self.table = table

    def scores(self, features, labels):
        return np.array([[self.table[int(f[0])][label] for label in labels] for f in features])


def test_evaluate_views_slice_one_score_matrix():
    split = make_split("s", ["a", "b", "c"], ["d"], ["a"])
    names = ["a", "b", "c", "d"]
    table = [{"a": 3, "b": 2, "c": 1, "d": 0}, {"a": 0, "b": 1, "c": 2, "d": 3}, {"a": 3, "b": 0, "c": 1, "d": 2}]
    features = np.array([[0], [1], [2]], dtype=float)
    metrics = evaluate_split(Fixed(table), features, [0, 1, 3], names, split, ks=(1, 2), hp_ks=())
    assert metrics["seen"]["hit@1"] == 0.5 and metrics["seen"]["hit@2"] == 1.0  # image 1 (b): c above b
    assert metrics["zsl"] == {"images": 1, "labels": 1, "per_class_top1": 1.0}
    assert metrics["gzsl"] == {"u": 0.0, "s": 0.5, "H": 0.0}  # image 1: d on top; image 2 (d): a beats d
    metrics = evaluate_split(Fixed(table), features, [0, 1, 3], names, split, ks=(1, 2, 3), hp_ks=(5,))
    assert metrics["seen"]["note"] == "hit@3, hP@5 skipped: only 3 seen labels"
    assert "hP@5" not in metrics["seen"] and "hit@3" not in metrics["seen"] and metrics["seen"]["hit@2"] == 1.0


def test_packaged_split_and_bad_splits(tmp_path):
    split = load_split("fashion-mnist-zsl")
    assert set(split.unseen) == {"pullover", "dress", "sandal"} and not set(split.seen) & set(split.unseen)
    assert set(split.validation) <= set(split.seen)
    with pytest.raises(LabelspaceError, match="'dress' are both seen and unseen"):
        make_split("x", ["dress", "coat"], ["dress"])
    with pytest.raises(LabelspaceError, match="unknown classes 'gloves'"):
        make_split("x", ["coat", "bag", "gloves"], ["dress"]).check(["coat", "bag", "dress"])
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"seen": ["a", "b", "c"], "unseen": ["d"], "validation": ["q"]}))
    with pytest.raises(LabelspaceError, match="validation classes 'q' are not seen"):
        load_split(str(path))
    with pytest.raises(LabelspaceError, match="unknown split 'nope'"):
        load_split("nope")


def test_class_rows_reindexes_targets():
    mask, y = class_rows([0, 1, 2, 3, 1], ["a", "b", "c", "d"], ["d", "b"])
    assert mask.tolist() == [False, True, False, True, True] and y.tolist() == [1, 0, 1]
