import numpy as np
import pytest

from labelspace.errors import LabelspaceError
from labelspace.metrics import flat_hits, mean_per_class_accuracy, top_k_accuracy

# 4 samples x 3 labels, computed by hand:
# sample 0: true 0, ranks [0]        -> rank 0
# sample 1: true 1, scores .5 .2 .3  -> rank 2
# sample 2: true 2, scores .1 .1 .9  -> rank 0
# sample 3: true 2, tie .4 .4 .4     -> ties count against the true label -> rank 2
SCORES = np.array([[.9, .05, .05], [.5, .2, .3], [.1, .1, .9], [.4, .4, .4]])
TARGETS = np.array([0, 1, 2, 2])


def test_top_k_accuracy_by_hand():
    assert top_k_accuracy(SCORES, TARGETS, 1) == pytest.approx(2 / 4)
    assert top_k_accuracy(SCORES, TARGETS, 2) == pytest.approx(2 / 4)
    assert top_k_accuracy(SCORES, TARGETS, 3) == pytest.approx(1.0)


def test_flat_hits_match_top_k():
    assert flat_hits(SCORES, TARGETS, ks=(1, 2, 5)) == {1: 0.5, 2: 0.5, 5: 1.0}


def test_mean_per_class_accuracy_by_hand():
    # class 0: 1/1, class 1: 0/1, class 2: 1/2 -> mean 0.5; top-3: all 1
    assert mean_per_class_accuracy(SCORES, TARGETS) == pytest.approx((1 + 0 + 0.5) / 3)
    assert mean_per_class_accuracy(SCORES, TARGETS, k=3) == pytest.approx(1.0)


def test_mean_per_class_differs_from_accuracy_on_imbalance():
    scores = np.array([[1, 0]] * 9 + [[1, 0]], dtype=float)
    targets = np.array([0] * 9 + [1])
    assert top_k_accuracy(scores, targets) == pytest.approx(0.9)
    assert mean_per_class_accuracy(scores, targets) == pytest.approx(0.5)


@pytest.mark.parametrize("targets", [np.array([0, 1, 3, 0]), np.array([0, 1])])
def test_bad_targets_are_refused(targets):
    with pytest.raises(LabelspaceError):
        top_k_accuracy(SCORES, targets)
