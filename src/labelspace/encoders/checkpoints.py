"""Loading model files as untrusted input: no pickles, no code of their own, no sizes their tensors don't back.

- ``load_state_dict``: weights without running untrusted pickles;
- ``refuse_custom_code``: a model folder (Hugging Face, sentence-transformers) that asks to run its own
  Python code, or holds its weights only as a pickle (unpickling runs code), is refused before any library reads
  it (loaders also pass ``trust_remote_code=False`` and ``use_safetensors=True``);
- ``within``: a size a file declares, against a stated ceiling (``CEILINGS``);
- ``probe_fit``: a model a file describes is built first on the meta device (shapes, no memory) and
  refused unless its tensors are the file's, so no declared size chooses how much memory is allocated.
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from labelspace.errors import LabelspaceError

CODE_KEYS = ("auto_map", "custom_pipelines", "trust_remote_code")  # config entries that make libraries import code
LIBRARIES = ("sentence_transformers.", "transformers.")  # where a sentence-transformers module may come from
EXTRA_BUFFERS = 1 << 30  # bytes a model may build beyond its file's tensors (attention masks, position ids)
# The largest size a file may declare, by field name: beyond what released models use (ViT-bigG: 48 layers,
# width 1664; 250k-token vocabularies), small enough that building or preprocessing stays in memory.
CEILINGS = {"layers": 256, "width": 16384, "embed_dim": 16384, "context_length": 4096, "image_size": 4096,
            "size": 4096, "dim": 65536}


def load_state_dict(path: str) -> dict[str, torch.Tensor]:
    """A state dict from a safetensors file, or a torch file loaded with ``weights_only=True``.

    Torch files that need arbitrary pickled objects are refused: convert them to safetensors.
    Wrapped dicts (``{"state_dict": ...}`` or ``{"model": ...}``) and DDP ``module.`` prefixes are unwrapped.
    """
    if not Path(path).is_file():
        raise LabelspaceError(f"checkpoint file {path!r} does not exist (expected .safetensors, .pt, .pth or .bin)")
    if str(path).endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(path)
        except SafetensorError as e:
            raise LabelspaceError(f"checkpoint {path!r} is not a readable safetensors file ({e})") from e
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise LabelspaceError(f"refusing to unpickle {path!r}: it holds more than tensors "
                                  f"({type(e).__name__}); save it as safetensors instead") from e
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise LabelspaceError(f"checkpoint {path!r} holds a {type(state).__name__}, not a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def asks_for_code(data) -> str | None:
    """The first entry of a JSON value (nested ones too) that would make a library import code, or None."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in CODE_KEYS and value:
                return key
            found = asks_for_code(value)
            if found:
                return found
    if isinstance(data, list):
        return next((found for found in map(asks_for_code, data) if found), None)
    return None


def refuse_custom_code(folder: str | Path) -> None:
    """Refuse ``folder`` when it asks to run Python code of its own: a JSON file with an ``auto_map``
    (or ``custom_pipelines``, ``trust_remote_code``), a sentence-transformers module from elsewhere than
    sentence_transformers/transformers, or weights only as a pickle (``pytorch_model*.bin`` and no
    ``model.safetensors``, which libraries would unpickle); the modules' own folders are checked the same way."""
    root = Path(folder)
    folders, modules = [root], root / "modules.json"
    try:
        entries = json.loads(modules.read_text()) if modules.is_file() else []
    except (json.JSONDecodeError, UnicodeDecodeError):
        entries = []  # the library reports an unreadable modules.json
    for entry in entries if isinstance(entries, list) else []:
        kind = str(entry.get("type", "")) if isinstance(entry, dict) else ""
        if not kind.startswith(LIBRARIES):
            raise LabelspaceError(f"model folder {str(folder)!r} names module {kind!r} in modules.json: labelspace "
                                  "runs no code from model folders (accepted: sentence_transformers.* and transformers.*)")
        folders.append(root / str(entry.get("path", "")))
    for sub in folders:
        pickles = sorted(sub.glob("pytorch_model*.bin"))
        if pickles and not any(sub.glob("model.safetensors*")):
            raise LabelspaceError(f"model folder {str(folder)!r} holds its weights as a pickle "
                                  f"({pickles[0].relative_to(root)}), which labelspace never unpickles (accepted: "
                                  "model.safetensors; convert the weights with safetensors)")
    for path in sorted(p for sub in folders if sub.is_dir() for p in sub.glob("*.json")):
        try:
            found = asks_for_code(json.loads(path.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue  # not a config; the library reports the ones it needs
        if found:
            raise LabelspaceError(f"model folder {str(folder)!r} asks to run its own code ({found!r} in "
                                  f"{path.relative_to(root)}): labelspace never runs code from model files")


def within(source: str, field: str, value) -> int:
    """``value``, an integer size that ``source`` declares in ``field`` (``a.b.layers[0]``: ceiling by its last
    name), when it lies in 1..its ceiling (``CEILINGS``)."""
    ceiling = CEILINGS[_name(field)]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ceiling:
        raise LabelspaceError(f"{source} declares {field} = {value!r} (accepted: an integer from 1 to {ceiling})")
    return value


def _name(field: str) -> str:
    return field.split(".")[-1].split("[")[0]


def check_ceilings(source: str, declared: dict[str, int]) -> None:
    """``within`` for every field of ``declared`` whose name has a ceiling; other sizes are left to ``probe_fit``."""
    for field, value in declared.items():
        if _name(field) in CEILINGS:
            within(source, field, value)


def shapes(state: dict[str, torch.Tensor]) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in state.items()}


def check_fit(own: dict[str, torch.Size], state: dict[str, torch.Size], source: str, target: str,
              declared: dict[str, int] | None = None) -> None:
    """Refuse tensor shapes ``state`` (a file's) that are not ``own`` (a model's), naming the keys; with
    ``declared`` (field -> size) the sizes behind the differing shapes are named too. A locked tower's
    frozen BatchNorm layers (training) keep no batch counter: nothing to load there."""
    wrong = [k for k, v in state.items() if k in own and tuple(own[k]) != tuple(v)]
    missing = [k for k in sorted(set(own) - set(state)) if not k.endswith("num_batches_tracked")]
    unexpected = sorted(set(state) - set(own))
    if not (wrong or missing or unexpected):
        return

    def some(keys):
        return f"{keys[:5]}{' ...' if len(keys) > 5 else ''}"
    sizes = {n for k in wrong for n, m in zip(own[k], state[k]) if n != m}
    causes = [f"{field} = {value}" for field, value in (declared or {}).items() if value in sizes]
    raise LabelspaceError(f"checkpoint {source!r} does not fit {target}: shapes differ for "
                          f"{some([f'{k} {tuple(state[k])} vs {tuple(own[k])}' for k in wrong])}, missing keys "
                          f"{some(missing)}, unexpected keys {some(unexpected)}"
                          + (f" (declared: {', '.join(causes)})" if causes else ""))


def probe_fit(build: Callable[[], torch.nn.Module], state: dict[str, torch.Size], source: str, target: str,
              declared: dict[str, int] | None = None) -> None:
    """Build ``build()`` on the meta device (shapes only, no memory) and refuse it unless its tensors are the
    file's ``state`` (``check_fit``) and what it builds beyond them stays within ``EXTRA_BUFFERS`` bytes;
    ``build`` must load no weights. The real model is built after this, its size backed by the file."""
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # libraries warn about loading into meta tensors
            net = build()
    except LabelspaceError:
        raise
    except Exception as e:  # sizes no module accepts (zero heads, negative widths, an overflow)
        raise LabelspaceError(f"{source!r} does not describe a buildable {target} ({type(e).__name__}: "
                              f"{' '.join(str(e).split())[:200]})") from e
    own = net.state_dict()
    check_fit(shapes(own), state, source, target, declared)
    extra = sum(b.nelement() * b.element_size() for k, b in net.named_buffers() if k not in own)
    if extra > EXTRA_BUFFERS:
        raise LabelspaceError(f"{source!r} describes a {target} that builds {extra >> 20} MiB beyond its tensors "
                              f"(accepted: at most {EXTRA_BUFFERS >> 20} MiB; a context length or image size too large)")
