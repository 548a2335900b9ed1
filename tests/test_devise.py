"""DeViSE: the vectorised hinge rank loss against a plain loop, training, the classifier contract."""
import numpy as np
import pytest
import torch

from labelspace.encoders import load_text_encoder
from labelspace.errors import LabelspaceError
from labelspace.methods.devise import DeViSEClassifier, hinge_rank_loss, train_devise
from labelspace.numeric import unit_rows
from labelspace.training import TrainConfig


def loop_loss(embedded, vectors, targets, margin, keys=None):
    """Per-sample reference: sum over wrong labels, or the first violating one in ``keys`` order."""
    total = 0.0
    for v, y, row_keys in zip(embedded, targets, keys if keys is not None else [None] * len(targets)):
        terms = {j: max(0.0, margin - float(vectors[y] @ v) + float(vectors[j] @ v))
                 for j in range(len(vectors)) if j != y}
        if row_keys is None:
            total += sum(terms.values())
        else:
            violating = [j for j in sorted(terms, key=lambda j: row_keys[j]) if terms[j] > 0]
            total += terms[violating[0]] if violating else 0.0
    return total / len(targets)


@pytest.mark.parametrize("margin", [0.1, 0.7])
def test_hinge_rank_loss_equals_per_sample_loop(margin):
    rng = np.random.default_rng(0)
    embedded = torch.from_numpy(rng.standard_normal((32, 12)).astype(np.float32)) * 0.3
    vectors = torch.from_numpy(unit_rows(rng.standard_normal((9, 12))))
    targets = torch.from_numpy(rng.integers(0, 9, 32))
    got = hinge_rank_loss(embedded, vectors, targets, margin)
    assert float(got) == pytest.approx(loop_loss(embedded.numpy(), vectors.numpy(), targets.numpy(), margin), rel=1e-5)
    assert float(got) > 0


def test_first_violation_variant_equals_loop_with_same_order():
    rng = np.random.default_rng(1)
    embedded = torch.from_numpy(rng.standard_normal((40, 8)).astype(np.float32)) * 0.2
    vectors = torch.from_numpy(unit_rows(rng.standard_normal((6, 8))))
    targets = torch.from_numpy(rng.integers(0, 6, 40))
    got = hinge_rank_loss(embedded, vectors, targets, 0.1, first_violation=True,
                          generator=torch.Generator().manual_seed(5))
    keys = torch.rand((40, 6), generator=torch.Generator().manual_seed(5)).numpy()
    assert float(got) == pytest.approx(loop_loss(embedded.numpy(), vectors.numpy(), targets.numpy(), 0.1, keys), rel=1e-5)
    full = hinge_rank_loss(embedded, vectors, targets, 0.1)
    assert 0 < float(got) < float(full)


def test_loss_gradient_matches_loop_gradient():
    rng = np.random.default_rng(2)
    vectors = torch.from_numpy(unit_rows(rng.standard_normal((5, 6))))
    targets = torch.from_numpy(rng.integers(0, 5, 10))
    a = torch.tensor(rng.standard_normal((10, 6)) * 0.3, dtype=torch.float32, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    hinge_rank_loss(a, vectors, targets, 0.2).backward()
    per_sample = [sum(torch.clamp(0.2 - vectors[y] @ b[i] + vectors[j] @ b[i], min=0) for j in range(5) if j != y)
                  for i, y in enumerate(targets.tolist())]
    (sum(per_sample) / 10).backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-6)


def clustered(seed=0, n=60, dim=32, classes=4):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)) * 3
    y = np.arange(n) % classes
    return (centres[y] + rng.standard_normal((n, dim))).astype(np.float32), y


def test_training_lowers_loss_and_ranks_held_out_points():
    x, y = clustered()
    xt, yt = clustered(seed=0, n=40)  # same centres, fresh noise
    xt = xt + np.random.default_rng(9).standard_normal(xt.shape).astype(np.float32) * 0.5
    text = load_text_encoder("random:16")
    labels = ["a", "b", "c", "d"]
    head, result = train_devise(x, y, text.encode(labels), TrainConfig(lr=1e-2, epochs=15, batch_size=16))
    assert result.history[-1]["loss"] < 0.2 * result.history[0]["loss"]
    scores = DeViSEClassifier(head, text).scores(xt, labels)
    assert (scores.argmax(1) == yt).mean() > 0.9


def test_training_is_deterministic():
    x, y = clustered()
    vectors = load_text_encoder("random:8").encode(["a", "b", "c", "d"])
    first, _ = train_devise(x, y, vectors, TrainConfig(epochs=3, batch_size=8, seed=3), first_violation=True)
    second, _ = train_devise(x, y, vectors, TrainConfig(epochs=3, batch_size=8, seed=3), first_violation=True)
    assert torch.equal(first.proj.weight, second.proj.weight)


def test_dimension_mismatches_are_clear_errors():
    x, y = clustered()
    head, _ = train_devise(x, y, np.eye(4, 8, dtype=np.float32), TrainConfig(epochs=1))
    with pytest.raises(LabelspaceError, match="8-d"):
        DeViSEClassifier(head, load_text_encoder("random:16"))
    with pytest.raises(LabelspaceError, match=r"features must be \(images, 32\)"):
        DeViSEClassifier(head, load_text_encoder("random:8")).scores(np.zeros((2, 10)), ["a"])


def test_random_label_vectors_are_fixed_per_label():
    text = load_text_encoder("random:50")
    a, b = text.encode(["dog", "cat"]), text.encode(["cat", "Dog", "emu"])
    assert text.dim == 50 and np.allclose(a[0], b[1]) and np.allclose(a[1], b[0])
    assert not np.allclose(load_text_encoder("random:50:1").encode(["dog"]), a[:1])


def test_devise_split_without_validation_classes_is_refused():
    from labelspace.data.splits import make_split
    from labelspace.methods.trained import fit_on_split

    split = make_split("no-val", ["a", "b", "c"], ["d"])
    features = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    with pytest.raises(LabelspaceError, match="no validation classes"):
        fit_on_split("devise", features, np.arange(8) % 4, ["a", "b", "c", "d"], split, TrainConfig(epochs=1),
                     {"lr": [0.01], "margin": [0.1]}, load_text_encoder("random:8"))


def test_devise_temperature_is_fitted_on_the_validation_classes_and_loaded_back(tmp_path):
    from labelspace.data.splits import make_split
    from labelspace.methods import COSINE_TEMPERATURE, create_classifier
    from labelspace.methods.trained import fit_on_split
    from labelspace.metrics.calibration import fit_temperature

    rng = np.random.default_rng(0)
    names = ["a", "b", "c", "d", "e", "f"]
    targets = np.repeat(np.arange(6), 30)
    text = load_text_encoder("random:8")
    # images near a linear image of their label's vector, so the map transfers to held-out labels
    features = (text.encode(names) @ rng.normal(size=(8, 12)))[targets] + 0.5 * rng.normal(size=(180, 12))
    split = make_split("six", names[:5], names[5:], validation=["d", "e"])
    fit_on_split("devise", features.astype(np.float32), targets, names, split, TrainConfig(epochs=5, seed=0),
                 {"lr": [0.01], "margin": [0.1]}, text, checkpoint=tmp_path / "ck")
    model = create_classifier(f"devise:{tmp_path / 'ck'}")
    held = np.isin(targets, [3, 4])
    expected = fit_temperature(model.validation_model.scores(features[held], ["d", "e"]), targets[held] - 3)
    assert model.temperature == pytest.approx(expected, rel=1e-4) and model.temperature != COSINE_TEMPERATURE
    assert model.calibrated and model.validation_model.calibrated and model.score_name == "probability"
    np.testing.assert_allclose(model.probabilities(features[:3], names).sum(axis=1), 1.0, rtol=1e-6)
    one = make_split("six-one", names[:5], names[5:], validation=["e"])  # one class: no temperature to fit
    unfitted, _ = fit_on_split("devise", features.astype(np.float32), targets, names, one, TrainConfig(epochs=2, seed=0),
                               {"lr": [0.01], "margin": [0.1]}, text)
    assert unfitted.temperature == COSINE_TEMPERATURE and unfitted.score_name == "score (uncalibrated)"
