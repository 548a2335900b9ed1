"""Markdown report of an analysis: matrix summaries, a table of all comparisons, linked PNG figures,
and ``results.json`` with every matrix, summary and comparison (all files written atomically). Past
``MAX_JSON_CLASSES`` classes the matrices go to ``matrices.npz`` instead (float32, one array per
representation, named by its label): 1,000 classes would make a JSON file of about 20 MB per matrix."""
from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from labelspace.analysis import plots
from labelspace.io import atomic_write_bytes, atomic_write_text, markdown_table, write_json

MAX_SCATTER_PER_KIND = 4
MAX_NEIGHBOUR_CLASSES = 20
MAX_LISTED_CLASSES = 40
MAX_JSON_CLASSES = 100


def _ci(interval) -> str:
    return f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else ""


def p_value(p: float | None) -> str:
    return "-" if p is None else f"{p:.4f}"


def summary_table(analysis) -> Iterable[str]:
    rows = []
    for m in analysis.matrices:
        s = m.summary()
        rows.append([m.label, m.modality, f"{s.mean:.3f}", f"{s.std:.3f}", f"{s.min:.3f}", f"{s.max:.3f}"])
    return markdown_table(["representation", "modality", "mean off-diagonal similarity", "sd", "min", "max"], rows)


def comparison_table(analysis) -> Iterable[str]:
    level = round(100 * analysis.settings.get("level", 0.95))
    header = ["kind", "A", "B", "mean sim A", "mean sim B", f"Pearson r [{level}% CI]", f"Spearman rho [{level}% CI]",
              "rsatoolbox cosine", "Mantel p"]
    return markdown_table(header, [[c.kind, c.a, c.b, f"{c.mean_a:.3f}", f"{c.mean_b:.3f}",
                                    f"{c.pearson:.3f}{_ci(c.pearson_ci)}", f"{c.spearman:.3f}{_ci(c.spearman_ci)}",
                                    f"{c.cosine:.3f}", p_value(c.mantel_p)] for c in analysis.comparisons])


def neighbour_table(analysis) -> Iterable[str]:
    """Each class's nearest other class in every representation (only for small class sets)."""
    if len(analysis.class_names) > MAX_NEIGHBOUR_CLASSES:
        return ["(nearest neighbours of each class are in results.json)"]
    nearest = [m.summary().nearest for m in analysis.matrices]
    return markdown_table(["class", *(m.label for m in analysis.matrices)],
                          [[name, *(n[name] for n in nearest)] for name in analysis.class_names])


def write_figures(analysis, out_dir: Path) -> dict[str, Path]:
    kinds = {}
    for c in analysis.comparisons:
        kinds.setdefault(c.kind, []).append(c)
    shown = [c for group in kinds.values() for c in group[:MAX_SCATTER_PER_KIND]]
    return {"Similarity matrices": plots.heatmaps(analysis.matrices, out_dir / "heatmaps.png"),
            "Pairwise similarities, one model against another": plots.scatter(shown, analysis.matrices,
                                                                              out_dir / "scatter.png"),
            "2-D MDS maps of the classes": plots.mds_maps(analysis.matrices, out_dir / "mds.png",
                                                          groups=analysis.class_groups)}


def write_report(analysis, out_dir: str | Path, title: str = "Class-representation analysis") -> Path:
    """Write ``report.md``, ``results.json`` and the PNG figures into ``out_dir``; returns the report path."""
    out_dir = Path(out_dir)
    figures = write_figures(analysis, out_dir)
    settings = analysis.settings
    names = analysis.class_names
    listed = ", ".join(names) if len(names) <= MAX_LISTED_CLASSES else \
        f"{', '.join(names[:MAX_LISTED_CLASSES])}, ... (all of them in results.json)"
    lines = [f"# {title}\n", f"{len(names)} classes: {listed}.\n"]
    for name, described in settings.get("datasets", {}).items():
        lines.append(f"- domain `{name}`: {described}")
    if "classes" in settings:
        lines.append(f"- label set `{settings['classes']}`, no images")
    for label, described in settings.get("sources", {}).items():
        lines.append(f"- {label}: {described}")
    bootstrap = f"{settings['bootstrap']} resamples of images within classes" if settings["bootstrap"] else "none"
    lines += [f"- Mantel test: {settings['permutations']} permutations; bootstrap: {bootstrap}; "
              f"seed {settings['seed']}\n", "## Similarity matrices\n",
              *summary_table(analysis), "\n## Comparisons\n", *comparison_table(analysis),
              "\n## Nearest class\n", *neighbour_table(analysis), ""]
    lines += [f"## {caption}\n\n![{caption}]({path.name})\n" for caption, path in figures.items()]
    in_json = len(analysis.class_names) <= MAX_JSON_CLASSES
    if not in_json:
        buffer = io.BytesIO()
        np.savez(buffer, **{m.label: m.matrix.astype(np.float32) for m in analysis.matrices})
        atomic_write_bytes(out_dir / "matrices.npz", buffer.getvalue())
    write_json(out_dir / "results.json", {
        "class_names": analysis.class_names, "settings": settings,
        "matrices": [{"label": m.label, "model": m.model, "modality": m.modality, "domain": m.domain,
                      "summary": asdict(m.summary()),
                      "matrix": m.matrix.round(6).tolist() if in_json else "matrices.npz"} for m in analysis.matrices],
        "comparisons": [asdict(c) for c in analysis.comparisons]})
    return atomic_write_text(out_dir / "report.md", "\n".join(lines))
