"""Figures of an analysis, drawn on Agg canvases (no display or pyplot state needed) and saved as PNG.

- ``heatmaps``: every similarity matrix side by side, class names on the axes (class indices past
  ``MAX_TICK_LABELS`` classes), one colour scale each, spanning the 1st to 99th percentile of the
  off-diagonal similarities (the diagonal would wash the structure out);
- ``scatter``: one matrix's pairwise similarities against another's, one panel per comparison; past
  ``MAX_SCATTER_POINTS`` pairs a hexagonal histogram of the pairs, log-scaled counts;
- ``mds_maps``: classical (Torgerson) MDS of the cosine distances ``1 - S`` in 2-D, one panel per
  representation, each rotated onto the first by orthogonal Procrustes so the maps line up; with
  ``groups`` the classes are coloured by group (e.g. WordNet's animal and artifact).

Titles and axis labels name representations by ``display_names``: specs whose argument is a path are cut to its
last part (``voc:/data/VOCdevkit/VOC2012`` -> ``voc:VOC2012``), the domain on a line of its own; the report's tables
keep the full specs. Layouts are constrained, so no title or tick label runs into another or off the figure.
"""
from __future__ import annotations

import io
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.linalg import orthogonal_procrustes

from labelspace.analysis.representations import align_classes
from labelspace.analysis.similarity import Comparison, SimilarityMatrix
from labelspace.io import atomic_write_bytes

MAX_TICK_LABELS = 40
MAX_SCATTER_POINTS = 5000


def short_spec(spec: str) -> str:
    """A spec as a figure shows it: a path argument cut to its last part (``voc:/data/VOCdevkit/VOC2012`` ->
    ``voc:VOC2012``, ``run:/tmp/clip (text)`` -> ``run:clip (text)``), an ``@N`` suffix kept; others unchanged."""
    head, count, side = re.fullmatch(r"(.*?)(@\d+)?( \(\w+\))?", spec).groups()
    kind, colon, argument = head.rpartition(":") if head.count(":") == 1 else ("", "", head)
    if argument.startswith(("/", "~", ".")) or os.path.exists(argument):
        argument = Path(argument.rstrip("/")).name or argument
    return f"{kind}{colon}{argument}{count or ''}{side or ''}"


def display_names(matrices: Sequence[SimilarityMatrix]) -> dict[str, str]:
    """Each matrix's label as figures show it: ``short_spec`` of its model and domain, the domain on its own line;
    where two matrices would share a short name, their full labels."""
    short = {m.label: short_spec(m.model) + (f"\non {short_spec(m.domain)}" if m.domain else "") for m in matrices}
    shared = Counter(short.values())
    return {label: name if shared[name] == 1 else label for label, name in short.items()}


def _grid(n: int, cols: int, size: float) -> tuple[Figure, np.ndarray]:
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(size * cols, size * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def _save(fig: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return atomic_write_bytes(path, buffer.getvalue())


def heatmaps(matrices: Sequence[SimilarityMatrix], path: str | Path, cols: int = 4) -> Path:
    fig, axes = _grid(len(matrices), cols, 4.2)
    names = display_names(matrices)
    for ax, m in zip(axes, matrices):
        low, high = np.percentile(m.upper, [1, 99])
        image = ax.imshow(m.matrix, cmap="viridis", vmin=low, vmax=high, interpolation="antialiased")
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set_title(f"{names[m.label]}\nmean off-diagonal {m.summary().mean:.2f}", fontsize=9)
        if len(m.class_names) <= MAX_TICK_LABELS:
            ticks = np.arange(len(m.class_names))
            ax.set_xticks(ticks, m.class_names, rotation=90, fontsize=7)
            ax.set_yticks(ticks, m.class_names, fontsize=7)
        else:
            ax.set_xlabel("class (label-set order)", fontsize=7)
            ax.tick_params(labelsize=7)
    return _save(fig, Path(path))


def scatter(comparisons: Sequence[Comparison], matrices: Sequence[SimilarityMatrix], path: str | Path,
            cols: int = 4) -> Path:
    by_label, names = {m.label: m for m in matrices}, display_names(matrices)
    fig, axes = _grid(len(comparisons), cols, 3.4)
    for ax, c in zip(axes, comparisons):
        a, b = by_label[c.a], by_label[c.b]
        order = align_classes(a.class_names, b.class_names, a.label, b.label)
        y = b.matrix[np.ix_(order, order)][np.triu_indices(len(order), 1)]
        if len(y) > MAX_SCATTER_POINTS:
            ax.hexbin(a.upper, y, gridsize=60, bins="log", mincnt=1, cmap="viridis", linewidths=0)
        else:
            ax.scatter(a.upper, y, s=10, alpha=0.7)
        ax.set_xlabel(names[c.a], fontsize=7)
        ax.set_ylabel(names[c.b], fontsize=7)
        ax.set_title(f"{c.kind}: r={c.pearson:.2f}, rho={c.spearman:.2f}", fontsize=8)
    return _save(fig, Path(path))


def classical_mds(similarity: np.ndarray, dims: int = 2) -> np.ndarray:
    """Torgerson MDS of cosine distances ``1 - S``: top eigenvectors of the double-centred squared distances."""
    d2 = (1.0 - similarity) ** 2
    n = len(d2)
    centre = np.eye(n) - 1.0 / n
    values, vectors = np.linalg.eigh(-0.5 * centre @ d2 @ centre)
    top = np.argsort(values)[::-1][:dims]
    return vectors[:, top] * np.sqrt(np.maximum(values[top], 0.0))


def mds_maps(matrices: Sequence[SimilarityMatrix], path: str | Path, cols: int = 4,
             groups: Sequence[str] | None = None) -> Path:
    """MDS maps; ``groups`` (one name per class of the first matrix) colours the classes and adds a legend."""
    fig, axes = _grid(len(matrices), cols, 3.8)
    titles = display_names(matrices)
    names = np.asarray(groups if groups is not None else [""] * len(matrices[0].class_names))
    size = 12 if len(names) <= MAX_TICK_LABELS else 4
    reference = None
    for ax, m in zip(axes, matrices):
        points = classical_mds(m.matrix)
        points = points / max(np.linalg.norm(points), 1e-12)
        if reference is None:
            reference = points
        else:
            rotation, _ = orthogonal_procrustes(points, reference)
            points = points @ rotation
        for group in dict.fromkeys(names):
            ax.scatter(*points[names == group].T, s=size, label=group or None)
        if len(m.class_names) <= MAX_TICK_LABELS:
            middle = points[:, 0].mean()
            for name, (x, y) in zip(m.class_names, points):  # names point inward, so they stay inside the axes
                ax.annotate(name, (x, y), fontsize=7, ha="left" if x < middle else "right")
            ax.margins(0.08)
        ax.set_title(titles[m.label], fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if groups is not None:
        axes[0].legend(fontsize=7, markerscale=2, loc="best")
    return _save(fig, Path(path))
