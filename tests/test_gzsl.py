"""Calibrated stacking, the seen-unseen curve and AUSUC, CSLS and hubness: by hand, and through evaluate_split."""
import numpy as np
import pytest

from labelspace.data.splits import make_split
from labelspace.errors import LabelspaceError
from labelspace.evaluation import evaluate_split
from labelspace.methods.hubness import choose_csls_k, csls
from labelspace.metrics.gzsl import ausuc, calibrated_gzsl, choose_gamma, seen_unseen_curve
from labelspace.metrics.hubness import hubness, k_occurrence
from labelspace.metrics.zsl import gzsl

# labels S0, S1 seen, U unseen; d = best seen - best unseen per image: 1, 1.5, 1, -0.5
HAND = np.array([[3, 1, 2], [0, 2, 0.5], [2, 0, 1], [0, 1, 1.5]], dtype=float)
HAND_Y = np.array([0, 1, 2, 2])


def test_curve_and_ausuc_by_hand():
    # gamma < -0.5: s = 1, u = 0; (-0.5, 1): image 4 flips, u = 1/2; (1, 1.5): image 3 flips (u = 1) and image 1
    # (s = 1/2); > 1.5: image 2, s = 0.  Trapezoids: 0.5 * (1 + 1) / 2 + 0.5 * (1 + 0.5) / 2 + 0 = 0.875.
    curve = seen_unseen_curve(HAND, HAND_Y, [2])
    assert curve["u"].tolist() == [0, 0.5, 1, 1] and curve["s"].tolist() == [1, 1, 0.5, 0]
    assert curve["gamma"].tolist() == [-1.5, 0.25, 1.25, 2.5]
    assert ausuc(curve) == pytest.approx(0.875)
    # H is 2/3 on both middle intervals: the smaller gamma wins
    assert choose_gamma(HAND, HAND_Y, [2]) == pytest.approx((0.25, 2 / 3))


def test_gamma_zero_is_plain_gzsl_and_the_curve_is_the_gamma_sweep():
    rng = np.random.default_rng(0)
    scores, targets = rng.normal(size=(60, 6)), rng.integers(0, 6, 60)
    unseen = [4, 5]
    assert calibrated_gzsl(scores, targets, unseen, 0.0) == {"gamma": 0.0, **gzsl(scores, targets, unseen)}
    curve = seen_unseen_curve(scores, targets, unseen)
    for gamma, u, s in zip(curve["gamma"], curve["u"], curve["s"]):
        brute = calibrated_gzsl(scores, targets, unseen, gamma)
        assert (brute["u"], brute["s"]) == pytest.approx((u, s))


def test_broken_scores_are_errors():
    with pytest.raises(LabelspaceError, match="NaN"):
        seen_unseen_curve(np.array([[np.nan, 1.0], [0.0, 1.0]]), [0, 1], [1])
    with pytest.raises(LabelspaceError, match="seen and unseen labels"):
        seen_unseen_curve(HAND, HAND_Y, [0, 1, 2])


def test_csls_and_hubness_by_hand():
    scores = np.array([[0.9, 0.5, 0.1], [0.8, 0.2, 0.4], [0.7, 0.6, 0.3]])
    # k = 2: each image's 2 best labels average 0.7, 0.6, 0.65; each label's 2 best images 0.85, 0.55, 0.35
    expected = np.array([[0.25, -0.25, -0.85], [0.15, -0.75, -0.15], [-0.10, 0.0, -0.40]])
    assert np.allclose(csls(scores, 2), expected)
    # label 0 is every image's nearest (N_1 = 3, 0, 0: skewness 2 / 2**1.5); after CSLS 2, 1, 0 (skewness 0)
    assert k_occurrence(scores).tolist() == [3, 0, 0]
    assert hubness(scores) == pytest.approx(1 / np.sqrt(2))
    assert hubness(csls(scores, 2)) == 0.0
    with pytest.raises(LabelspaceError, match="finite"):
        csls(np.array([[0.0, -np.inf]]), 1)


class Table:
    """A classifier reading a fixed (images, labels) table: feature i is row i, columns named by ``names``."""

    def __init__(self, table, names):
        self.table, self.names = np.asarray(table, dtype=float), list(names)

    def scores(self, features, labels):
        return self.table[np.asarray(features)[:, 0].astype(int)][:, [self.names.index(c) for c in labels]]


NAMES = ["a", "b", "c", "d", "e", "f"]
SPLIT = make_split("t", ["a", "b", "c", "d"], ["e", "f"], ["d"])


def _data(seed=0, n=12):
    rng = np.random.default_rng(seed)
    targets = np.repeat(np.arange(len(NAMES)), n)
    table = rng.normal(size=(len(targets), len(NAMES)))
    table[np.arange(len(targets)), targets] += 1.5  # above chance
    table[:, :4] += 1.0  # a seen-class bias
    return np.arange(len(targets))[:, None].astype(float), targets, table


def test_calibration_reads_no_unseen_test_class():
    features, targets, table = _data()
    first = evaluate_split(Table(table, NAMES), features, targets, NAMES, SPLIT, hp_ks=(), calibrate=True)
    plain = evaluate_split(Table(table, NAMES), features, targets, NAMES, SPLIT, hp_ks=())
    assert first["gzsl"] == plain["gzsl"]  # gamma = 0 view unchanged
    assert first["calibrated"]["gamma"] > 0 and first["calibrated"]["H"] > plain["gzsl"]["H"]
    changed = table.copy()
    unseen_rows = np.isin(targets, [4, 5])
    changed[unseen_rows] = np.random.default_rng(1).normal(size=(unseen_rows.sum(), 6)) * 5
    changed[:, 4:] = np.random.default_rng(2).normal(size=(len(targets), 2)) * 5
    second = evaluate_split(Table(changed, NAMES), features, targets, NAMES, SPLIT, hp_ks=(), calibrate=True,
                            csls=True)
    again = evaluate_split(Table(table, NAMES), features, targets, NAMES, SPLIT, hp_ks=(), calibrate=True, csls=True)
    assert second["calibrated"]["gamma"] == again["calibrated"]["gamma"]
    assert second["hubness"]["csls_k"] == again["hubness"]["csls_k"]
    assert first["calibrated"]["gamma"] == evaluate_split(Table(changed, NAMES), features, targets, NAMES, SPLIT,
                                                          hp_ks=(), calibrate=True)["calibrated"]["gamma"]
    # ... while the validation class's images do move it
    moved = table.copy()
    moved[targets == 3, 3] += 3.0
    assert evaluate_split(Table(moved, NAMES), features, targets, NAMES, SPLIT, hp_ks=(),
                          calibrate=True)["calibrated"]["gamma"] != first["calibrated"]["gamma"]


def test_validation_model_scores_the_validation_view():
    features, targets, table = _data()
    final = Table(table, NAMES)
    final.validation_model = Table(table - 1.0 * (np.arange(6) == 3), NAMES)  # validation class d is new to it
    got = evaluate_split(final, features, targets, NAMES, SPLIT, hp_ks=(), calibrate=True)["calibrated"]
    alone = evaluate_split(Table(table, NAMES), features, targets, NAMES, SPLIT, hp_ks=(), calibrate=True)
    assert got["gamma"] != alone["calibrated"]["gamma"]
    assert got["gamma"] == choose_gamma(final.validation_model.scores(features[targets < 4], ["a", "b", "c", "d"]),
                                        targets[targets < 4], [3])[0]


def test_csls_k_is_chosen_by_validation_ausuc():
    features, targets, table = _data()
    k, rows = choose_csls_k(table[targets < 4][:, :4], targets[targets < 4], [3], (1, 5))
    assert [r["k"] for r in rows] == [1, 5] and k == max(rows, key=lambda r: r["AUSUC"])["k"]


def test_calibration_needs_validation_classes():
    features, targets, table = _data()
    with pytest.raises(LabelspaceError, match="no validation classes"):
        evaluate_split(Table(table, NAMES), features, targets, NAMES, make_split("t", ["a", "b", "c", "d"], ["e", "f"]),
                       hp_ks=(), calibrate=True)
