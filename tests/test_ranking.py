"""One ranking rule for every metric: NaN and ties count against the model."""
import numpy as np
import pytest
from sklearn.metrics import top_k_accuracy_score

from labelspace.metrics import flat_hits, mean_average_precision, mean_per_class_accuracy, retrieval_recall, top_k_accuracy
from labelspace.metrics.hierarchy import Hierarchy, hierarchical_precision
from labelspace.metrics.ranking import ranked
from labelspace.metrics.zsl import gzsl

TREE = Hierarchy({"a": ["animal"], "b": ["animal"], "c": ["thing"], "animal": ["root"], "thing": ["root"]})


def test_nan_scores_are_never_hits_in_any_metric():
    scores = np.full((6, 3), np.nan)
    targets = np.array([0, 1, 2, 0, 1, 2])
    assert flat_hits(scores, targets, (1, 2)) == {1: 0.0, 2: 0.0}
    assert top_k_accuracy(scores, targets, 2) == 0.0 and mean_per_class_accuracy(scores, targets) == 0.0
    assert gzsl(scores, targets, [2]) == {"u": 0.0, "s": 0.0, "H": 0.0}
    assert hierarchical_precision(scores, targets, ["a", "b", "c"], TREE, (1,)) == {1: 0.0}
    recall = retrieval_recall(np.full((3, 3), np.nan), [0, 1, 2], (1, 2))
    assert set(recall.values()) == {0.0}
    assert mean_average_precision(np.full((4, 2), np.nan), np.eye(4, 2)) == pytest.approx(0.25)  # 1 of 4 positives


def test_a_nan_true_score_ranks_last_and_a_nan_wrong_score_first():
    scores = np.array([[np.nan, 0.1, 0.2], [0.9, np.nan, 0.2], [0.9, 0.5, 0.2]])
    targets = np.array([0, 0, 0])
    assert flat_hits(scores, targets, (1, 2, 3)) == {1: pytest.approx(1 / 3), 2: pytest.approx(2 / 3), 3: 1.0}


def test_ties_count_against_the_model_and_hp_at_1_equals_hit_at_1():
    scores = np.zeros((3, 3))
    targets = np.array([0, 1, 2])
    assert flat_hits(scores, targets, (1,))[1] == 0.0
    assert hierarchical_precision(scores, targets, ["a", "b", "c"], TREE, (1,))[1] == 0.0
    rng = np.random.default_rng(0)
    rounded = np.round(rng.random((200, 3)), 1)  # many ties
    targets = rng.integers(0, 3, 200)
    assert hierarchical_precision(rounded, targets, ["a", "b", "c"], TREE, (1,))[1] == flat_hits(rounded, targets, (1,))[1]


def test_without_ties_metrics_equal_sklearn_and_the_order_is_argsort():
    rng = np.random.default_rng(1)
    scores, targets = rng.random((300, 7)), rng.integers(0, 7, 300)
    for k in (1, 2, 5):
        assert top_k_accuracy(scores, targets, k) == pytest.approx(top_k_accuracy_score(targets, scores, k=k, labels=range(7)))
    np.testing.assert_array_equal(ranked(scores, np.zeros_like(scores, bool)), np.argsort(-scores, axis=1))


@pytest.mark.parametrize("decimals, nan", [(None, 0.0), (2, 0.0), (1, 0.05), (0, 0.3)])
def test_the_first_k_by_partition_equal_the_full_sort(decimals, nan):
    rng = np.random.default_rng(2)
    scores = rng.random((200, 500))
    if decimals is not None:  # ties at the pool's edge; 0 decimals: a few values, mostly tied
        scores = np.round(scores, decimals)
    scores[rng.random(scores.shape) < nan] = np.nan
    good = rng.random(scores.shape) < 0.1
    for k in (1, 2, 5, 20, 100):
        np.testing.assert_array_equal(ranked(scores, good, k), ranked(scores, good)[:, :k])
