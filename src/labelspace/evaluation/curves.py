"""The seen-unseen curve plot (Chao et al. 2016): one line per model, unseen accuracy u against seen s."""
from __future__ import annotations

import io
import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from labelspace.io import atomic_write_bytes


def plot_seen_unseen(curves: dict[str, dict], path: str | os.PathLike) -> Path:
    """``curves``: a line name -> ``{"u": [...], "s": [...], "AUSUC": x}`` (a result's ``metrics["curve"]`` plus
    its AUSUC); written as PNG, atomically."""
    fig = Figure(figsize=(7, 5 + 0.18 * len(curves)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for name, curve in curves.items():
        ax.plot(curve["u"], curve["s"], drawstyle="default", label=f"{name} (AUSUC {curve['AUSUC']:.3f})")
    ax.set(xlabel="u: unseen-class accuracy", ylabel="s: seen-class accuracy", xlim=(0, 1), ylim=(0, 1),
           title="Seen-unseen curve (calibrated stacking)")
    fig.legend(fontsize=7, loc="outside lower center")  # below the axes: long names never squeeze them
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return atomic_write_bytes(path, buffer.getvalue())


def result_curves(results: list[dict]) -> dict[str, dict]:
    """The curves of the results that carry one (``eval --calibrate``), named by method, model and settings."""
    from labelspace.evaluation.results import variants

    curves = {}
    for r in results:
        if "curve" in r["metrics"]:
            settings = ", ".join(f"{k}={v}" for k, v in variants(r).items() if k not in ("split",))
            name = f"{r['method']} {r['model']}" + (f" ({settings})" if settings else "")
            curves[name] = {**r["metrics"]["curve"], "AUSUC": r["metrics"]["calibrated"]["AUSUC"]}
    return curves
