"""The shared loop: resumable safetensors checkpoints, early stopping, the split protocol, loading back."""
import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from labelspace.data.splits import make_split
from labelspace.encoders import load_text_encoder
from labelspace.errors import LabelspaceError
from labelspace.methods.trained import fit_on_split, load_trained
from labelspace.training import TrainConfig, fit, load_checkpoint


def problem(seed=0, n=80, dim=16, classes=4):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)) * 2
    y = np.arange(n) % classes
    return torch.from_numpy((centres[y] + rng.standard_normal((n, dim))).astype(np.float32)), torch.from_numpy(y)


def ce(model, batch, generator):
    return F.cross_entropy(model(batch[0]), batch[1])


def linear(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(16, 4)


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_resumed_run_equals_uninterrupted_run(tmp_path, optimizer):
    data = problem()
    straight = linear()
    fit(straight, ce, data, TrainConfig(optimizer=optimizer, lr=0.05, epochs=4, batch_size=16))
    resumed = linear()
    fit(resumed, ce, data, TrainConfig(optimizer=optimizer, lr=0.05, epochs=2, batch_size=16), checkpoint=tmp_path)
    again = linear(seed=99)  # different init: everything must come from the checkpoint
    result = fit(again, ce, data, TrainConfig(optimizer=optimizer, lr=0.05, epochs=4, batch_size=16),
                 checkpoint=tmp_path, resume=True, model_config={"note": "x"})
    assert [r["epoch"] for r in result.history] == [0, 1, 2, 3]
    assert torch.allclose(straight.weight, again.weight, atol=1e-6)
    groups, progress, _ = load_checkpoint(tmp_path)
    assert len(progress["history"]) == 4 and json.loads((tmp_path / "config.json").read_text())["note"] == "x"
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_early_stopping_restores_best_epoch():
    data = problem()
    scores = iter([0.5, 0.9, 0.7, 0.6, 0.95, 0.1])
    snapshots = []

    def validate(model):
        snapshots.append(model.weight.detach().clone())
        return next(scores)

    model = linear()
    result = fit(model, ce, data, TrainConfig(lr=0.05, epochs=6, patience=2), validate=validate)
    assert result.stopped_early and result.best_epoch == 1 and len(result.history) == 4
    assert torch.equal(model.weight, snapshots[1])


def test_loss_falls_and_bad_config_is_refused():
    model = linear()
    result = fit(model, ce, problem(), TrainConfig(lr=0.05, epochs=5, batch_size=16))
    assert result.history[-1]["loss"] < 0.5 * result.history[0]["loss"]
    with pytest.raises(LabelspaceError, match="unknown optimizer 'adam'"):
        TrainConfig(optimizer="adam")


def test_protocol_refits_on_seen_and_loads_back(tmp_path):
    x, y = problem(n=160, classes=5)
    names = ["a", "b", "c", "d", "e"]
    split = make_split("t", ["a", "b", "c", "d"], ["e"], ["d"])
    text = load_text_encoder("random:8")
    model, report = fit_on_split("devise", x.numpy(), y.numpy(), names, split,
                                 TrainConfig(epochs=6, batch_size=16, patience=2),
                                 {"lr": [1e-2, 1e-3], "margin": [0.1]}, text, checkpoint=tmp_path)
    assert len(report["selection"]) == 2 and 1 <= report["chosen"]["epochs"] <= 6
    assert len(report["history"]) == report["chosen"]["epochs"]
    loaded = load_trained(tmp_path)
    assert np.allclose(loaded.scores(x[:5].numpy(), names), model.scores(x[:5].numpy(), names), atol=1e-6)
    softmax, _ = fit_on_split("softmax", x.numpy(), y.numpy(), names, split, TrainConfig(epochs=5, batch_size=16),
                              {"lr": [1e-2]}, checkpoint=tmp_path / "softmax")
    scores = load_trained(tmp_path / "softmax").scores(x.numpy(), names)
    assert np.isneginf(scores[:, 4]).all() and (scores[:, :4].argmax(1) == y.numpy()).mean() > 0.5
