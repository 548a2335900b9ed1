"""CLIP training: AdamW with warmup + cosine, gradient accumulation, bf16/fp16 autocast, DDP, exact resume.

- The learning rate is a function of the step (linear warmup, then cosine to zero), so the schedule's
  state is the step itself. ``logit_scale`` is clamped to [0, log 100] after every update.
- Accumulation (``accum`` micro-batches per step) follows open_clip: features of the whole local batch
  are computed without gradients, then each micro-batch is recomputed with gradients against the
  cached rest, so the loss and gradients equal those of the whole batch (every negative counts).
- Checkpoints (every ``checkpoint_every`` steps and at the end) go through ``training.checkpoint``:
  one safetensors file holding weights and AdamW state, the step (data position and schedule), every
  rank's torch RNG state and the history in its metadata, replaced by an atomic rename; ``config.json``
  holds the model spec, the training config and the data name, and resuming with any of them changed
  (other than ``RESUMABLE_CHANGES``) is refused. The final evaluation runs after the final save, and again when a
  finished run is resumed (the checkpoint was saved without it), so its ``metrics.json`` keeps every key; when it
  fails, ``metrics.json`` says so and ``FinalEvaluationError`` is raised, the weights kept. A
  non-finite loss stops training with an error before anything is written, so the last good checkpoint stays.
- fp16 (where the device runs it) scales the loss with ``torch.amp.GradScaler``, saved in the checkpoint so a
  resumed run equals an uninterrupted one. A step whose gradients (or loss) are non-finite is skipped by the
  scaler (weights and AdamW state untouched, the scale halves) and left out of the history; ``FP16_SKIPS``
  such steps in a row are the non-finite-loss error. Other precisions run with the scaler disabled (a no-op).
- ``label_aware``: the data's class labels (a third item per pair, e.g. ``folder:`` captions made from class
  names) make same-class pairs positives of one another in the loss (UniCL; ``training.clip_losses``).
- Input: DataLoader workers (``data.loader.caption_batches``) read, transform and tokenize each step's
  pairs ahead (truncated captions counted from those tokens), in pinned memory on CUDA. ``preprocess``
  ``device`` sends uint8 pixels and resizes and normalises them on the device (``data.loader``).
- Under ``torchrun`` every process reads its slice of each global batch and DDP averages gradients
  (``labelspace.distributed``: gloo for CPU tensors, NCCL for CUDA ones, one GPU per LOCAL_RANK); only rank 0 writes.
"""
from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable
from contextlib import ExitStack, closing, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from labelspace.data.loader import caption_batches, choose_preprocess, device_transform, uint8_pixels
from labelspace.devices import autocast as device_autocast
from labelspace.devices import PRECISIONS, out_of_memory, resolve_device, resolve_precision
from labelspace.distributed import process_group
from labelspace.errors import LabelspaceError
from labelspace.finite import require_finite
from labelspace.io import write_json
from labelspace.training.checkpoint import (check_resumable, load_checkpoint, prepare_folder, require_checkpoint,
                                           restore_optimizer, save_checkpoint)
from labelspace.training.clip_losses import LOSSES, MAX_LOGIT_SCALE

FP16_SKIPS = 5  # consecutive steps the fp16 scaler may skip before the non-finite loss is an error


class FinalEvaluationError(LabelspaceError):
    """The evaluation at the end failed after training finished; the final checkpoint and ``metrics.json`` (with
    the failure) are written and ``state`` is the finished run's."""

    def __init__(self, message: str, state: "TrainState"):
        super().__init__(message)
        self.state = state


@dataclass
class ClipTrainConfig:
    steps: int = 300
    batch_size: int = 128  # global: split evenly over the processes
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup: int = 20
    accum: int = 1
    precision: str = "fp32"
    grad_checkpointing: bool = False
    seed: int = 0
    checkpoint_every: int = 100
    eval_every: int = 0  # 0: evaluate at the end only
    stop_at: int | None = None  # leave after this step with a checkpoint (time-sliced jobs); resume continues
    label_aware: bool = False  # same-label pairs are positives (the data must carry class labels)

    def check(self, world: int) -> None:
        if self.precision not in PRECISIONS:
            raise LabelspaceError(f"unknown precision {self.precision!r} (accepted: {', '.join(PRECISIONS)})")
        if not (self.steps >= 1 and self.batch_size >= 1 and 0 < self.lr < math.inf and self.accum >= 1 and self.warmup >= 0
                and self.checkpoint_every >= 1):
            raise LabelspaceError(f"steps, batch size, accum and checkpoint interval must be >= 1 and lr > 0; got "
                                  f"steps={self.steps}, batch_size={self.batch_size}, accum={self.accum}, "
                                  f"checkpoint_every={self.checkpoint_every}, lr={self.lr}")
        if self.batch_size % world or (self.batch_size // world) % self.accum:
            raise LabelspaceError(f"global batch {self.batch_size} must split evenly over {world} process(es) and then "
                                  f"into {self.accum} micro-batch(es); e.g. use {world * self.accum * max(1, self.batch_size // (world * self.accum))}")


@dataclass
class TrainState:
    step: int = 0
    history: list[dict] = field(default_factory=list)
    evaluations: list[dict] = field(default_factory=list)
    truncated: int = 0
    skipped: int = 0  # fp16: steps skipped in a row by the gradient scaler


def learning_rate(step: int, config: ClipTrainConfig) -> float:
    """Linear warmup over ``warmup`` steps, then cosine decay to zero at ``steps``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return 0.5 * config.lr * (1 + math.cos(math.pi * progress))


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on gains, biases, embeddings-like 1-d tensors and the logit scale/bias (as open_clip)."""
    decay, plain = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (plain if p.ndim < 2 or "logit_" in name or "bn" in name or "ln" in name else decay).append(p)
    if not decay and not plain:
        raise LabelspaceError("every parameter is frozen: unlock a tower or its projection")
    return [{"params": plain, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def _labels_for(labels, label_aware: bool, device) -> torch.Tensor | None:
    """The batch's class labels on ``device`` when training is label-aware (refused without them), else None."""
    if not label_aware:
        return None
    if labels is None:
        raise LabelspaceError("label-aware training needs data with class labels (folder:<dir>, whose captions "
                              "are made from class names); this data has captions only")
    return labels.to(device, non_blocking=True)


def _step_loss(ddp, model, loss_fn, images, texts, accum: int, autocast, labels=None, scaler=None) -> float:
    """Forward and backward of one step (accumulated as open_clip does); returns the loss value.
    ``labels``: the local batch's class labels for label-aware targets, or None; ``scaler``: the fp16
    ``GradScaler`` (disabled: backward of the loss itself)."""
    scaled = scaler.scale if scaler is not None else (lambda loss: loss)
    if accum == 1:
        with autocast():
            image, text, scale, bias = ddp(images, texts)
            loss = loss_fn(image.float(), text.float(), scale, bias, labels)
        scaled(loss).backward()
        return loss.detach()
    chunks = list(zip(torch.chunk(images, accum), _chunks(texts, accum)))
    with torch.no_grad(), autocast():
        cached = [model(i, t)[:2] for i, t in chunks]
    value = None
    for j, (i, t) in enumerate(chunks):
        sync = ddp.no_sync() if hasattr(ddp, "no_sync") and j < accum - 1 else nullcontext()
        with sync, autocast():
            image, text, scale, bias = ddp(i, t)
            images_all = torch.cat([c[0] if k != j else image for k, c in enumerate(cached)])
            texts_all = torch.cat([c[1] if k != j else text for k, c in enumerate(cached)])
            if j < accum - 1:  # their gradient once, in the syncing last micro-batch, so DDP reduces every parameter
                scale, bias = scale.detach(), (bias.detach() if bias is not None else None)
            loss = loss_fn(images_all.float(), texts_all.float(), scale, bias, labels)
            scaled(loss).backward()
        value = loss.detach() if value is None else value
    return value


def _optimizer_step(optimizer, scaler, loss: float, state: TrainState, hint: str) -> bool:
    """The optimiser step, through ``scaler`` (fp16). False when the loss was non-finite and the scaler
    skipped the step; a non-finite loss is the error (raised before the weights change) without fp16,
    after ``FP16_SKIPS`` in a row, or when the scaler did not skip it."""
    finite = math.isfinite(loss)
    state.skipped = 0 if finite else state.skipped + 1
    if not finite and not (scaler.is_enabled() and state.skipped < FP16_SKIPS):
        require_finite(loss, "loss", hint)
    scale = scaler.get_scale()
    scaler.step(optimizer)
    scaler.update()
    if not finite and scaler.get_scale() >= scale:  # the scaler found finite gradients under a non-finite loss
        require_finite(loss, "loss", hint)
    return finite


def _chunks(texts, n: int):
    if isinstance(texts, torch.Tensor):
        return torch.chunk(texts, n)
    size = len(texts) // n
    return [texts[k * size:(k + 1) * size] for k in range(n)]


def _rng_state(device: torch.device) -> dict:
    """This process's torch RNG state: the CPU's, and the training GPU's (not the current one) on CUDA."""
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return {k: base64.b64encode(v.numpy().tobytes()).decode() for k, v in states.items()}


def _set_rng_state(states: dict, device: torch.device) -> None:
    def tensor(text: str) -> torch.Tensor:
        return torch.from_numpy(np.frombuffer(base64.b64decode(text), dtype=np.uint8).copy())

    torch.set_rng_state(tensor(states["cpu"]))
    if "cuda" in states and device.type == "cuda":
        torch.cuda.set_rng_state(tensor(states["cuda"]), device)


def _gathered_rng_states(world: int, device: torch.device) -> list[dict]:
    """Every rank's RNG state in rank order (a collective: every rank calls it)."""
    if world == 1:
        return [_rng_state(device)]
    states = [None] * world
    torch.distributed.all_gather_object(states, _rng_state(device))
    return states


# May differ on resume: when to stop, evaluate and checkpoint (logging options are not in the config).
RESUMABLE_CHANGES = ("stop_at", "eval_every", "checkpoint_every")


def _resume(folder: Path, model, optimizer, scaler, config: ClipTrainConfig, data_name: str, rank: int,
            device: torch.device, log: Callable[[str], None]) -> TrainState:
    """Restore a checkpoint, refusing one trained with another model, training or data config."""
    train = asdict(config)
    if not config.label_aware:  # checkpoints from before the option lack it; compared only when it is on
        del train["label_aware"]
    check_resumable(folder, {"model": model.spec.to_json(), "train": train, "data": data_name},
                    resumable=tuple(f"train.{k}" for k in RESUMABLE_CHANGES))
    groups, progress, optim_plain = load_checkpoint(folder)
    model.load_state_dict(groups["model"])
    restore_optimizer(optimizer, groups["optim"], optim_plain)
    scaler_state = progress.pop("scaler", {})
    if scaler_state:  # fp16 only (precision cannot change on resume)
        scaler.load_state_dict(scaler_state)
    states = progress.pop("rng")
    if rank < len(states):
        _set_rng_state(states[rank], device)
    else:
        log(f"rank {rank}: no saved RNG state (the checkpoint has {len(states)} process(es)); seeded afresh")
    return TrainState(**progress)


def train_clip(model, data, config: ClipTrainConfig, out_dir: str | Path | None = None, resume: bool = False,
               evaluate: Callable | None = None, progress: bool = True, tensorboard: str | None = None,
               log: Callable[[str], None] = print, log_every: int = 0, device="auto",
               workers: int | None = None, preprocess: str = "auto") -> TrainState:
    """Train ``model`` (a ``TrainableCLIP``) on ``data`` (``data.captions``); returns the state with its history.

    Every ``log_every`` steps (0: never) ``log`` gets one line: loss, logit scale and samples/s.
    ``evaluate(model) -> dict`` runs every ``eval_every`` steps and at the end (on every process, so
    sharded evaluation works). ``out_dir`` holds the checkpoint; ``resume`` continues from it. ``device``
    (``labelspace.devices``; under torchrun ``cuda`` is each process's LOCAL_RANK GPU), ``workers`` (input
    processes) and ``preprocess`` (where images are resized: auto, cpu, device) may change on resume.
    """
    with ExitStack() as stack:  # the writer is closed and a group started here destroyed, errors included
        device = resolve_device(device)
        rank, world = stack.enter_context(process_group(device))
        run = _set_up(model, data, config, out_dir, resume, device, rank, world, log, evaluate)
        run.writer = _tensorboard_writer(stack, tensorboard, rank)
        on_device = choose_preprocess(preprocess, data, run.device, model.transform) == "device"
        run.to_input = device_transform(model.transform) if on_device else (lambda batch: batch)
        batches = caption_batches(data, uint8_pixels if on_device else model.transform, model.tokenizer,
                                  config.batch_size, config.seed, run.state.step, rank, world, workers,
                                  pin_memory=run.device.type == "cuda")
        stack.callback(batches.close)  # stops the input workers, errors included
        _step_loop(run, batches, progress, log_every)
        if run.state.step == config.steps:  # after the final save, so a failing evaluation keeps the trained
            try:  # weights; a resumed finished run (or one killed in it or the export) evaluates again
                run.run_eval()
            except Exception as e:  # raised below once metrics.json is written
                run.evaluation_error = e
        if world > 1:
            torch.distributed.barrier()
        if run.folder is not None and rank == 0 and run.state.step == config.steps:
            _write_metrics(run)
        if run.evaluation_error is not None:
            raise FinalEvaluationError(f"the final evaluation failed ({_one_line(run.evaluation_error)}); the trained "
                                       f"weights are saved{' in ' + str(run.folder) if run.folder else ''}",
                                       run.state) from run.evaluation_error
        return run.state


@dataclass
class _Run:
    """One training run's parts, shared by its steps; ``save`` and ``run_eval`` act on them."""

    model: torch.nn.Module
    ddp: torch.nn.Module  # the model, wrapped in DistributedDataParallel under torchrun
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler  # fp16 loss scaling (disabled: a no-op)
    loss_fn: Callable
    config: ClipTrainConfig
    data: object
    state: TrainState
    folder: Path | None
    rank: int
    world: int
    device: torch.device
    log: Callable[[str], None]
    evaluate: Callable | None
    writer: object = None
    to_input: Callable | None = None  # the image batch on the device -> the model's input (train_clip sets it)
    counted: set[int] = field(default_factory=set)  # unreadable pairs already in data.skipped
    evaluation_error: Exception | None = None  # what the final evaluation raised

    def autocast(self):
        return device_autocast(self.device, self.config.precision)

    def save(self) -> None:
        if self.folder is None:
            return
        rng = _gathered_rng_states(self.world, self.device)
        if self.rank == 0:
            self.state.truncated = self.model.truncated
            config_json = {"model": self.model.spec.to_json(), "train": asdict(self.config), "data": self.data.name}
            save_checkpoint(self.folder, self.model, self.optimizer, config=config_json,
                            progress={**asdict(self.state), "rng": rng, "scaler": self.scaler.state_dict()})

    def run_eval(self) -> None:
        if self.evaluate is None:
            return
        self.model.eval()
        result = {"step": self.state.step, **self.evaluate(self.model)}
        self.model.train()
        self.state.evaluations.append(result)
        self.log("eval " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()))
        if self.writer:
            for k, v in result.items():
                if isinstance(v, float):
                    self.writer.add_scalar(f"eval/{k}", v, self.state.step)


def _set_up(model, data, config: ClipTrainConfig, out_dir, resume: bool, device: torch.device, rank: int,
            world: int, log: Callable[[str], None], evaluate: Callable | None) -> _Run:
    """Device, loss, optimizer, output folder and seeded RNG; with ``resume``, the checkpoint's weights and state."""
    config.check(world)
    resolve_precision(config.precision, device)
    model.to(device)
    if config.grad_checkpointing:
        model.set_grad_checkpointing(True)
    loss_fn = LOSSES[model.spec.loss]()
    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr, fused=True)
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    folder = Path(out_dir) if out_dir is not None else None
    if folder is not None and rank == 0:
        prepare_folder(folder)
    state = TrainState()
    torch.manual_seed(config.seed + rank)
    if resume:
        require_checkpoint(folder)
        state = _resume(folder, model, optimizer, scaler, config, data.name, rank, device, log)
        log(f"resumed at step {state.step} from {folder}")
    model.truncated = state.truncated
    ddp = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return _Run(model, ddp, optimizer, scaler, loss_fn, config, data, state, folder, rank, world, device, log, evaluate)


def _tensorboard_writer(stack: ExitStack, tensorboard: str | None, rank: int):
    """A SummaryWriter on rank 0 when ``tensorboard`` names a folder (closed with ``stack``), else None."""
    if not tensorboard or rank != 0:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise LabelspaceError("--tensorboard needs the tensorboard package (pip install tensorboard)") from e
    return stack.enter_context(closing(SummaryWriter(tensorboard)))


def _step_loop(run: _Run, batches, progress: bool, log_every: int) -> None:
    """The steps up to ``stop_at`` (or the end), each trained and logged; evaluations and checkpoints on schedule."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    config, state = run.config, run.state
    bar = Progress(TextColumn("train clip"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                   TimeRemainingColumn(), disable=not progress or run.rank != 0, transient=True)
    last = min(config.steps, config.stop_at or config.steps)
    run.model.train()
    with bar:
        task = bar.add_task("train", total=config.steps, completed=state.step, info="")
        while state.step < last:
            record = _train_step(run, batches)
            if record is None:  # fp16: the scaler skipped the step; it is not recorded, the schedule holds
                bar.update(task, advance=1)
            else:
                _log_step(run, record, log_every, bar, task)
            if config.eval_every and state.step % config.eval_every == 0 and state.step < config.steps:
                run.run_eval()
            if state.step % config.checkpoint_every == 0 or state.step == last:
                run.save()


def _train_step(run: _Run, batches) -> dict | None:
    """One optimizer step on the next batch; returns (and appends to the history) its record, or None when the
    fp16 scaler skipped it."""
    config, state, model, data = run.config, run.state, run.model, run.data
    began = time.perf_counter()
    lr = learning_rate(state.step, config)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    images, texts, truncated, unreadable, labels = next(batches)
    model.truncated += truncated
    data.skipped += len(unreadable.keys() - run.counted)  # found in any worker, counted once
    run.counted.update(unreadable)
    images = run.to_input(images.to(run.device, non_blocking=True))  # tokens move after trimming, in the text tower
    labels = _labels_for(labels, config.label_aware, run.device)
    run.optimizer.zero_grad(set_to_none=True)
    try:
        loss = _step_loss(run.ddp, model, run.loss_fn, images, texts, config.accum, run.autocast, labels,
                          run.scaler)
    except torch.OutOfMemoryError as e:
        raise out_of_memory(e, config.batch_size, accum=True) from e
    if run.world > 1:
        torch.distributed.all_reduce(loss)
        loss /= run.world
    loss = float(loss)
    stepped = _optimizer_step(run.optimizer, run.scaler, loss, state,
                              f"at step {state.step}: training stopped; the last good checkpoint is kept"
                              f"{' in ' + str(run.folder) if run.folder else ''} (lower --lr, or use fp32)")
    with torch.no_grad():
        model.net.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
    seconds = time.perf_counter() - began
    state.step += 1
    if not stepped:
        run.log(f"step {state.step}: fp16 loss {loss}, step skipped by the gradient scaler "
                f"({state.skipped} in a row; {FP16_SKIPS} stop training)")
        return None
    record = {"step": state.step, "loss": loss, "logit_scale": model.net.logit_scale.detach().exp().item(), "lr": lr,
              "samples_per_s": config.batch_size / seconds,
              "samples_per_s_per_process": config.batch_size / run.world / seconds}
    state.history.append(record)
    return record


def _log_step(run: _Run, record: dict, log_every: int, bar, task) -> None:
    """A step's record as a log line every ``log_every`` steps, on the progress bar and in TensorBoard."""
    if log_every and record["step"] % log_every == 0:
        run.log(f"step {record['step']}/{run.config.steps}: loss {record['loss']:.4f}, logit scale "
                f"{record['logit_scale']:.2f}, lr {record['lr']:.2e}, {record['samples_per_s']:.0f} samples/s")
    bar.update(task, advance=1, info=f"loss {record['loss']:.3f} scale {record['logit_scale']:.1f} "
                                      f"{record['samples_per_s']:.0f} samples/s "
                                      f"({record['samples_per_s_per_process']:.0f}/process)")
    if run.writer:
        for k in ("loss", "logit_scale", "lr", "samples_per_s", "samples_per_s_per_process"):
            run.writer.add_scalar(f"train/{k}", record[k], record["step"])


def _write_metrics(run: _Run) -> None:
    """``metrics.json``: the final loss and evaluation, a result file like eval's, so eval-merge reads it."""
    state = run.state
    last = state.evaluations[-1] if state.evaluations and state.evaluations[-1]["step"] == state.step else {}
    final = {"loss": state.history[-1]["loss"] if state.history else None,
             **{k: v for k, v in last.items() if k != "step"}}
    write_json(run.folder / "metrics.json", {
        "task": "train_clip", "method": "clip", "model": f"run:{run.folder}", "dataset": run.data.name,
        "metrics": final, "history": state.history, "evaluations": state.evaluations,
        "truncated_captions": run.model.truncated, "skipped_pairs": run.data.skipped,
        **({"evaluation_error": _one_line(run.evaluation_error)} if run.evaluation_error is not None else {})})


def _one_line(error: Exception) -> str:
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}"
