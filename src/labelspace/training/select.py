"""Hyper-parameter choice on a validation split: every combination of a small grid, best score wins."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

from labelspace.errors import LabelspaceError
from labelspace.training.loop import TrainResult


def grid_search(grid: Mapping[str, Sequence], run: Callable[[dict], TrainResult]) -> tuple[dict, list[dict]]:
    """Run ``run(params)`` for each combination; return the best params plus ``epochs`` (its best epoch + 1,
    i.e. early stopping picks the epoch count for the refit) and one row per combination."""
    if not grid or any(len(v) == 0 for v in grid.values()):
        raise LabelspaceError(f"hyper-parameter grid needs at least one value per name, got {dict(grid)}")
    rows = []
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values))
        result = run(params)
        rows.append({**params, "val": result.best_score, "epochs": result.best_epoch + 1})
    best = max(rows, key=lambda r: r["val"])
    return {**{k: best[k] for k in grid}, "epochs": best["epochs"]}, rows
