"""The one non-finite guard: a NaN or infinite loss, setting or weight is an error, never a result."""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from labelspace.errors import LabelspaceError


def require_finite(value: float, what: str, hint: str = "") -> float:
    """``value`` when it is finite; else the one-line error "<what> is nan <hint>" (hint: where, and what to do)."""
    if not math.isfinite(value):
        raise LabelspaceError(f"{what} is {value}{' ' + hint if hint else ''}")
    return value


def require_finite_tensors(tensors: Mapping[str, torch.Tensor], what: str, hint: str = "") -> None:
    """Refuse floating-point tensors holding NaN or infinity (weights of a diverged run), naming the first ones."""
    bad = [name for name, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise LabelspaceError(f"{what} has non-finite values in {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}"
                              f"{'; ' + hint if hint else ''}")
