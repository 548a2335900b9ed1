"""The shared training loop: mini-batches over in-memory tensors (cached features), AdamW or SGD,
early stopping on a validation score, seeded, resumable from an atomic safetensors checkpoint.

Determinism: epoch e shuffles with a generator seeded from (seed, e) and hands that generator to the
loss, so a run resumed after epoch e replays exactly what an uninterrupted run would have done (CPU).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from labelspace.errors import LabelspaceError
from labelspace.finite import require_finite, require_finite_tensors
from labelspace.training.checkpoint import WEIGHTS, load_checkpoint, prepare_folder, restore_optimizer, save_checkpoint

OPTIMIZERS = ("adamw", "sgd")


@dataclass
class TrainConfig:
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD only
    epochs: int = 20
    batch_size: int = 256
    patience: int = 0  # stop after this many epochs without a better validation score; 0 = never
    seed: int = 0

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise LabelspaceError(f"unknown optimizer {self.optimizer!r} (accepted: {', '.join(OPTIMIZERS)})")
        if not (0 < self.lr < math.inf and self.epochs >= 1 and self.batch_size >= 1 and self.patience >= 0):
            raise LabelspaceError(f"lr must be > 0, epochs and batch size >= 1, patience >= 0; got lr={self.lr}, "
                                  f"epochs={self.epochs}, batch_size={self.batch_size}, patience={self.patience}")


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, loss, seconds, [val]
    best_epoch: int = -1
    best_score: float = -math.inf
    stopped_early: bool = False


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    params = list(params)
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)  # one kernel per step
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)


def fit(model: torch.nn.Module, loss_fn: Callable, data: tuple[torch.Tensor, ...], config: TrainConfig,
        validate: Callable[[torch.nn.Module], float] | None = None, checkpoint: str | Path | None = None,
        model_config: dict | None = None, resume: bool = False, device=None) -> TrainResult:
    """Train ``model`` in place by minimising ``loss_fn(model, batch, generator)`` over mini-batches of ``data``.

    With ``validate`` (higher is better), the best epoch's weights are restored at the end and
    ``patience`` stops training early. With ``checkpoint`` (a folder) the state is saved after every
    epoch (last weights to resume from, best weights to predict with), and ``resume`` continues from it.
    A non-finite loss or weight stops training with an error before anything is saved, so the last good
    checkpoint stays. ``device`` (``labelspace.devices``; default CPU) holds the model and data while
    training; the trained model is handed back on the CPU. The shuffling generator stays on the CPU, so
    the order of batches is the same on every device.
    """
    from labelspace.devices import resolve_device

    device = resolve_device(device or "cpu")
    model.to(device)
    data = tuple(t.to(device) for t in data)
    n = len(data[0])
    if n == 0 or any(len(t) != n for t in data):
        raise LabelspaceError(f"training data must be non-empty tensors of equal length, got {[len(t) for t in data]}")
    optimizer = make_optimizer(model.parameters(), config)
    if checkpoint is not None:
        prepare_folder(checkpoint)
    result, best, start = TrainResult(), None, 0
    if resume and checkpoint is not None and (Path(checkpoint) / WEIGHTS).is_file():
        groups, progress, optim_plain = load_checkpoint(checkpoint)
        try:
            model.load_state_dict(groups["model"])
        except RuntimeError as e:
            raise LabelspaceError(f"checkpoint in {str(checkpoint)!r} does not fit this model ({e})".split("\n")[0]) from e
        if optim_plain is not None:
            restore_optimizer(optimizer, groups["optim"], optim_plain)
        best = groups["best"] or None
        result = TrainResult(progress["history"], progress["best_epoch"], progress["best_score"], progress["stopped_early"])
        start = len(result.history)
    config_json = {**(model_config or {}), "train": asdict(config)}
    stop_hint = (f"training stopped{'; the last good checkpoint is kept in ' + str(checkpoint) if checkpoint else ''} "
                 "(lower --lr)")
    for epoch in range(start, config.epochs):
        if result.stopped_early:
            break
        began = time.perf_counter()
        model.train()
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=generator).to(device)
        total = 0.0
        for lo in range(0, n, config.batch_size):
            batch = tuple(t[order[lo:lo + config.batch_size]] for t in data)
            loss = loss_fn(model, batch, generator)
            value = require_finite(loss.item(), "loss", f"at epoch {epoch}: {stop_hint}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += value * len(batch[0])
        require_finite_tensors(dict(model.named_parameters()), f"the model after epoch {epoch}", stop_hint)  # a last step
        record = {"epoch": epoch, "loss": total / n, "seconds": time.perf_counter() - began}
        if validate is not None:
            model.eval()
            with torch.no_grad():
                record["val"] = float(validate(model))
            if record["val"] > result.best_score:
                result.best_epoch, result.best_score = epoch, record["val"]
                best = {k: v.detach().clone() for k, v in model.state_dict().items()}
            elif config.patience and epoch - result.best_epoch >= config.patience:
                result.stopped_early = True
        result.history.append(record)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, best, asdict(result), config_json)
    if best is not None:
        model.load_state_dict(best)
    model.to("cpu").eval()
    return result
