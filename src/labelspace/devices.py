"""Where models run and in which precision: one choice for every loader, encoder and trainer.

As open_clip's ``create_model(device=, precision=)``: ``device`` is ``auto`` (CUDA when available,
else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; ``precision`` is ``fp32``, ``bf16`` or ``fp16``.
Weights stay float32; bf16 and fp16 run under ``torch.autocast``, so results come back as float32.
A device or precision the machine cannot give is a one-line error naming what it has.
"""
from __future__ import annotations

import contextlib
import os

import torch

from labelspace.errors import LabelspaceError

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def available() -> str:
    """What this machine offers, for error messages: 'cpu, cuda:0 (NVIDIA H100)' and so on."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        found.append("mps")
    return ", ".join(found)


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The ``torch.device`` behind ``spec``; under ``torchrun`` plain ``cuda`` means this process's LOCAL_RANK GPU
    (modulo the GPUs it sees: a launcher that leaves each process one visible GPU gives cuda:0)."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not torch.backends.mps.is_available():
            raise LabelspaceError(f"--device mps: this machine has no MPS (available: {available()})")
        return torch.device("mps")
    kind, _, index = spec.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise LabelspaceError(f"unknown device {spec!r} (accepted: {', '.join(DEVICES)})")
    if not torch.cuda.is_available():
        raise LabelspaceError(f"--device {spec}: CUDA is not available on this machine (available: {available()})")
    n = int(index) if index else (int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count()
                                  if "RANK" in os.environ else torch.cuda.current_device())
    if n >= torch.cuda.device_count():
        raise LabelspaceError(f"--device {spec}: cuda:{n} does not exist (available: {available()})")
    return torch.device("cuda", n)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``precision`` checked against what ``device`` can run under autocast."""
    precision = (precision or "fp32").strip().lower()
    if precision not in PRECISIONS:
        raise LabelspaceError(f"unknown precision {precision!r} (accepted: {', '.join(PRECISIONS)})")
    if precision == "bf16" and device.type == "cuda" and not _native_bf16(device):
        raise LabelspaceError(f"--precision bf16: {torch.cuda.get_device_name(device)} cannot run bfloat16 "
                              "(use fp16 or fp32)")
    if precision == "fp16" and device.type == "cpu":
        raise LabelspaceError("--precision fp16 is for GPUs (on the CPU use bf16 or fp32)")
    return precision


def _native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 itself (Ampere or later), not by slow emulation."""
    with torch.cuda.device(device):
        return torch.cuda.is_bf16_supported(including_emulation=False)


def autocast(device: torch.device, precision: str):
    """A context that runs the block in ``precision`` on ``device`` (nothing for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


class Placed:
    """A frozen encoder's place: ``to(device, precision)`` moves ``self.net`` and names the precision in
    ``cache_key`` (never the device: cached features and classifiers agree across devices within the
    precision's tolerance); ``autocast()`` is the context its forward runs in."""

    net: torch.nn.Module
    cache_key: str
    device = torch.device("cpu")
    precision = "fp32"

    def to(self, device="cpu", precision: str = "fp32"):
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.net.to(self.device)
        base = self.cache_key.split("|precision=")[0]
        self.cache_key = base + (f"|precision={self.precision}" if self.precision != "fp32" else "")
        return self

    def autocast(self):
        return autocast(self.device, self.precision)


def default_workers() -> int:
    """DataLoader workers when none are asked for: the CPUs this process may use, less one, at most 8."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(8, cpus - 1))


def resolve_workers(workers: int | None) -> int:
    """``workers`` checked (0: load in the main process); ``None``: ``default_workers()``."""
    if workers is None:
        return default_workers()
    if workers < 0:
        raise LabelspaceError(f"--workers {workers}: must be 0 (load in the main process) or more "
                              f"(this machine: {os.cpu_count()} CPUs, default {default_workers()})")
    return workers


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter (or buffer); CPU for one with neither."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def out_of_memory(error: BaseException, batch_size: int, what: str = "--batch-size", accum: bool = False) -> LabelspaceError:
    """The one-line error for a CUDA out-of-memory at ``batch_size``, suggesting a smaller one."""
    hint = f"try {what} {max(1, batch_size // 2)}" + (" or --accum 2 (same negatives, half the memory)" if accum else "")
    first = str(error).splitlines()[0][:160] if str(error) else ""
    return LabelspaceError(f"out of GPU memory at {what} {batch_size}: {hint} ({first})")
