"""Checkpoints: one safetensors file (weights, best weights, optimiser state, progress) plus config.json.

Training progress (epoch, history, optimiser hyper-parameters) rides in the safetensors metadata, so
weights and progress are replaced together by one atomic rename; ``config.json`` says how to rebuild
the model (method, encoders, labels, hyper-parameters) and is written atomically too.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from labelspace.errors import LabelspaceError
from labelspace.finite import require_finite_tensors
from labelspace.io import (atomic_write_bytes, check_output_dir, remove_stale_temporaries, remove_temporaries,
                           temporaries, write_json)

WEIGHTS, CONFIG = "checkpoint.safetensors", "config.json"


def _cpu_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A contiguous CPU copy: the save holds no second copy of the weights in GPU memory."""
    return tensor.detach().to("cpu", copy=True).contiguous()


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimiser state dict -> tensors named ``optim.<param>.<key>`` and the JSON-able rest."""
    tensors, plain = {}, {"param_groups": state["param_groups"], "state": {}}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = _cpu_copy(value)
            else:
                plain["state"].setdefault(str(index), {})[key] = value
    return tensors, plain


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], plain: dict) -> dict:
    state: dict[int, dict] = {int(i): dict(v) for i, v in plain["state"].items()}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": plain["param_groups"]}


def prepare_folder(folder: str | Path) -> Path:
    """Before training: ``folder`` must be a usable folder, and files a killed run left half-written there
    (checkpoints, exports, metrics) are removed."""
    folder = check_output_dir(folder)
    remove_stale_temporaries(folder)
    return folder


def check_new_run(folder: str | Path, resume: bool, overwrite: bool) -> None:
    """Before any work: a folder holding a run, finished or partial (its checkpoint, its config or a half-written
    one), is continued with --resume or replaced with --overwrite, never silently replaced; --resume needs one."""
    folder = Path(folder)
    if resume and overwrite:
        raise LabelspaceError("--resume continues a run and --overwrite replaces it: give one of them")
    held = [name for name in (WEIGHTS, CONFIG) if (folder / name).exists() or temporaries(folder / name)]
    if held and not (resume or overwrite):
        raise LabelspaceError(f"--out {str(folder)!r} holds a run ({held[0]}): continue it with --resume or "
                              "replace it with --overwrite")
    if resume:
        require_checkpoint(folder)


def require_checkpoint(folder: str | Path | None) -> None:
    """What ``resume`` needs: a checkpoint in ``folder``."""
    if folder is None or not (Path(folder) / WEIGHTS).is_file():
        raise LabelspaceError(f"nothing to resume in {str(folder)!r} (no {WEIGHTS}); drop --resume to start")


def remove_run(folder: str | Path, outputs: tuple[str, ...] = ()) -> None:
    """``--overwrite``: delete the old run's checkpoint, config and ``outputs`` (files the trainer writes at the
    end) just before the new run writes its own, so no file of the old run outlives it."""
    for name in (WEIGHTS, CONFIG, *outputs):
        (Path(folder) / name).unlink(missing_ok=True)
        remove_temporaries(Path(folder) / name)


def save_checkpoint(folder: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    best: dict[str, torch.Tensor] | None = None, progress: dict | None = None,
                    config: dict | None = None) -> Path:
    folder = Path(folder)
    tensors = {f"model.{k}": _cpu_copy(v) for k, v in model.state_dict().items()}
    tensors.update({f"best.{k}": _cpu_copy(v) for k, v in (best or {}).items()})
    meta = {"progress": json.dumps(progress or {})}
    if optimizer is not None:
        optim_tensors, optim_plain = _flatten_optimizer(optimizer.state_dict())
        tensors.update(optim_tensors)
        meta["optimizer"] = json.dumps(optim_plain)
    if config is not None:
        write_json(folder / CONFIG, config)
    return atomic_write_bytes(folder / WEIGHTS, save(tensors, metadata=meta))


def read_config(folder: str | Path) -> dict:
    path = Path(folder) / CONFIG
    if not path.is_file():
        raise LabelspaceError(f"{str(folder)!r} is not a checkpoint folder (no {CONFIG}; train one with "
                              "`labelspace train ...`)")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LabelspaceError(f"{str(path)!r} is not valid JSON ({e}); restore it or train again") from e
    if not isinstance(config, dict):
        raise LabelspaceError(f"{str(path)!r} holds a JSON {type(config).__name__}, not the object a checkpoint writes")
    return config


def _differences(saved, current: dict, resumable: tuple[str, ...], prefix: str = "") -> list[str]:
    out = []
    for key, value in current.items():
        name = prefix + key
        if name in resumable:
            continue
        old = saved.get(key) if isinstance(saved, dict) else None
        if isinstance(value, dict) and isinstance(old, dict):
            out += _differences(old, value, resumable, name + ".")
        elif old != value:
            out.append(name)
    return out


def check_resumable(folder: str | Path, current: dict, resumable: tuple[str, ...] = ()) -> None:
    """The one resume check of every trainer: refuse to continue ``folder``'s run when its ``config.json``
    differs from ``current`` in any field (nested fields named ``a.b``) other than ``resumable`` ones."""
    current = json.loads(json.dumps(current))  # tuples -> lists, as saved
    differs = _differences(read_config(folder), current, resumable)
    if differs:
        raise LabelspaceError(f"checkpoint in {str(folder)!r} was trained with another config (differs in: "
                              f"{', '.join(differs)}); resume with the saved options (see its config.json) or use a "
                              "new --out folder")


def load_checkpoint(folder: str | Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict, dict | None]:
    """(tensors grouped by prefix: model/best/optim, progress, optimiser JSON part or None)."""
    path = Path(folder) / WEIGHTS
    if not path.is_file():
        raise LabelspaceError(f"no checkpoint {str(path)!r} (train first, or drop --resume)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError) as e:
        raise LabelspaceError(f"checkpoint {str(path)!r} is not a readable safetensors file ({e})") from e
    groups: dict[str, dict[str, torch.Tensor]] = {"model": {}, "best": {}, "optim": {}}
    for name, value in tensors.items():
        prefix, _, rest = name.partition(".")
        if prefix not in groups or not rest:
            raise LabelspaceError(f"checkpoint {str(path)!r} holds tensor {name!r}: not a labelspace training checkpoint")
        groups[prefix][rest if prefix != "optim" else name] = value
    for group in ("model", "best"):
        require_finite_tensors(groups[group], f"checkpoint {str(path)!r} ({group} weights)",
                               "it comes from a diverged run; train again with a lower --lr")
    try:
        optim = json.loads(meta["optimizer"]) if "optimizer" in meta else None
        progress = json.loads(meta.get("progress", "{}"))
    except json.JSONDecodeError as e:
        raise LabelspaceError(f"checkpoint {str(path)!r} has unreadable metadata ({e})") from e
    return groups, progress, optim


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], plain: dict) -> None:
    optimizer.load_state_dict(_unflatten_optimizer(tensors, plain))
