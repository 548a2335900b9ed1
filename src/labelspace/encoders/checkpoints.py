"""Loading weights from local files without running untrusted pickles."""
from __future__ import annotations

from pathlib import Path

import torch

from labelspace.errors import LabelspaceError


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
