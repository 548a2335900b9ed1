"""Probabilities from scores: softmax at a temperature, and temperature scaling (Guo et al. 2017)."""
import numpy as np
import pytest
import scipy.special
import torch

from labelspace.errors import LabelspaceError
from labelspace.metrics.calibration import fit_temperature, label_softmax


def test_label_softmax_equals_torch_softmax_and_gives_unnameable_labels_zero():
    scores = np.random.default_rng(0).normal(size=(5, 7))
    scores[0, 3] = -np.inf
    expected = torch.softmax(torch.from_numpy(scores) / 0.05, dim=1).numpy()
    np.testing.assert_allclose(label_softmax(scores, 0.05), expected, rtol=1e-10)
    assert label_softmax(scores, 0.05)[0, 3] == 0.0


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_broken_score_is_an_error_not_a_probability(bad):
    scores = np.zeros((2, 3))
    scores[1, 2] = bad
    with pytest.raises(LabelspaceError, match="NaN or \\+inf"):
        label_softmax(scores)


def test_a_row_with_no_nameable_label_is_an_error():
    with pytest.raises(LabelspaceError, match="every score is -inf"):
        label_softmax(np.full((1, 3), -np.inf))


@pytest.mark.parametrize("true_temperature", [0.05, 0.5])
def test_temperature_scaling_recovers_the_temperature_labels_were_drawn_at(true_temperature):
    rng = np.random.default_rng(1)
    cosines = rng.uniform(-1, 1, size=(20000, 6))
    p = scipy.special.softmax(cosines / true_temperature, axis=1)
    targets = (p.cumsum(axis=1) > rng.random((len(p), 1))).argmax(axis=1)  # one draw per row from p
    assert fit_temperature(cosines, targets) == pytest.approx(true_temperature, rel=0.05)


def test_temperature_scaling_minimises_the_nll_that_torch_computes():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(300, 4))
    targets = (scores + rng.normal(size=scores.shape)).argmax(axis=1)  # scores that carry some information
    fitted = fit_temperature(scores, targets)

    def nll(t):
        return torch.nn.functional.cross_entropy(torch.from_numpy(scores / t), torch.from_numpy(targets)).item()
    assert nll(fitted) <= min(nll(fitted * 0.9), nll(fitted * 1.1), nll(1.0))
