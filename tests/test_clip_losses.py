"""CLIP/SigLIP losses: equal to open_clip's, and a 2-process gloo run equal to one process on the whole batch."""
import os
import warnings

import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss, SigLipLoss

from labelspace.training.clip_losses import ContrastiveLoss, SigmoidLoss, contrastive_loss, sigmoid_loss


def _features(n=12, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g), dim=-1), F.normalize(torch.randn(n, d, generator=g), dim=-1)


def test_contrastive_loss_equals_open_clip():
    image, text = _features()
    scale = torch.tensor(1 / 0.07)
    assert torch.allclose(ContrastiveLoss()(image, text, scale), ClipLoss()(image, text, scale), atol=1e-6)


def test_sigmoid_loss_equals_open_clip():
    image, text = _features()
    scale, bias = torch.tensor(10.0), torch.tensor(-10.0)
    assert torch.allclose(SigmoidLoss()(image, text, scale, bias), SigLipLoss()(image, text, scale, bias), atol=1e-5)


def test_label_aware_targets_with_distinct_labels_are_the_plain_loss_exactly():
    image, text = _features()
    scale, bias = torch.tensor(1 / 0.07), torch.tensor(-10.0)
    labels = torch.randperm(12, generator=torch.Generator().manual_seed(3)) * 7  # distinct, in no particular order
    assert torch.equal(ContrastiveLoss()(image, text, scale, labels=labels), ContrastiveLoss()(image, text, scale))
    assert torch.equal(SigmoidLoss()(image, text, scale, bias, labels=labels), SigmoidLoss()(image, text, scale, bias))


def test_label_aware_targets_with_repeated_labels_are_multi_positive():
    image, text = _features()
    scale, bias = torch.tensor(10.0), torch.tensor(-5.0)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3, 3, 4, 5, 6, 2])
    logits = scale * image @ text.T

    def multi_positive(rows):  # UniCL: minus the mean log-probability of the row's same-label columns
        log_p = torch.log_softmax(rows, dim=1)
        return torch.stack([-log_p[i, labels == labels[i]].mean() for i in range(len(labels))]).mean()

    expected = (multi_positive(logits) + multi_positive(logits.T)) / 2
    got = ContrastiveLoss()(image, text, scale, labels=labels)
    assert torch.allclose(got, expected, atol=1e-6) and not torch.allclose(got, ContrastiveLoss()(image, text, scale))
    signs = torch.where(labels[:, None] == labels[None, :], 1.0, -1.0)
    expected = -sum(F.logsigmoid(signs[i, j] * (logits[i, j] + bias)) for i in range(12) for j in range(12)) / 12
    assert torch.allclose(SigmoidLoss()(image, text, scale, bias, labels=labels), expected, atol=1e-5)


def test_local_loss_rows_average_to_the_full_loss():
    image, text = _features(n=8)
    scale, bias = torch.tensor(20.0), torch.tensor(-5.0)
    halves = [contrastive_loss(image[k:k + 4], text[k:k + 4], image, text, scale, k) for k in (0, 4)]
    assert torch.allclose(sum(halves) / 2, contrastive_loss(image, text, image, text, scale), atol=1e-6)
    halves = [sigmoid_loss(image[k:k + 4], text, scale, bias, k) for k in (0, 4)]
    assert torch.allclose(sum(halves) / 2, sigmoid_loss(image, text, scale, bias), atol=1e-6)


class _Pair(torch.nn.Module):
    """Two linear towers and a learned scale and bias: enough to check gradients through the gather."""

    def __init__(self, bias: bool = True):
        super().__init__()
        torch.manual_seed(0)
        self.image, self.text = torch.nn.Linear(10, 8), torch.nn.Linear(6, 8)
        self.logit_scale = torch.nn.Parameter(torch.tensor(2.0))
        self.logit_bias = torch.nn.Parameter(torch.tensor(-3.0)) if bias else None  # DDP needs every parameter used

    def forward(self, x, y):
        return F.normalize(self.image(x), dim=-1), F.normalize(self.text(y), dim=-1), self.logit_scale.exp(), self.logit_bias


def _batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(8, 10, generator=g), torch.randn(8, 6, generator=g)


def _grads(model, loss_fn, x, y, ddp=None):
    loss = loss_fn(*(ddp or model)(x, y))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _worker(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    x, y = _batch()
    results = {}
    with warnings.catch_warnings(record=True) as caught:  # ours only: open_clip's reference below warns
        warnings.simplefilter("always")
        for name, loss_fn in (("clip", ContrastiveLoss()), ("siglip", SigmoidLoss())):
            model = _Pair(bias=name == "siglip")
            ddp = torch.nn.parallel.DistributedDataParallel(model)
            loss, grads = _grads(model, loss_fn, x[rank * 4:(rank + 1) * 4], y[rank * 4:(rank + 1) * 4], ddp)
            torch.distributed.all_reduce(loss)
            results[name] = (loss / 2, grads)
    results["deprecations"] = [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]
    reference = ClipLoss(local_loss=True, gather_with_grad=True, rank=rank, world_size=2)
    image, text, scale, _ = _Pair(bias=False)(x[rank * 4:(rank + 1) * 4], y[rank * 4:(rank + 1) * 4])
    results["open_clip_local"] = (reference(image, text, scale).detach(),
                                  ContrastiveLoss()(image, text, scale).detach())
    if rank == 0:
        torch.save(results, out)
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_process_gloo_equals_one_process(tmp_path, free_port):
    out = tmp_path / "rank0.pt"
    torch.multiprocessing.spawn(_worker, args=(free_port, str(out)), nprocs=2, join=True)
    results = torch.load(out)
    x, y = _batch()
    for name, loss_fn in (("clip", ContrastiveLoss()), ("siglip", SigmoidLoss())):
        model = _Pair(bias=name == "siglip")
        loss, grads = _grads(model, loss_fn, x, y)
        dist_loss, dist_grads = results[name]
        assert torch.allclose(dist_loss, loss, atol=1e-5), name
        assert set(dist_grads) == set(grads)
        for key in grads:
            assert torch.allclose(dist_grads[key], grads[key], atol=1e-5), (name, key)
    assert results["deprecations"] == []  # no deprecated collective: no FutureWarning per rank under torchrun
    ours_vs_open_clip = results["open_clip_local"]
    assert torch.allclose(ours_vs_open_clip[0], ours_vs_open_clip[1], atol=1e-6)
