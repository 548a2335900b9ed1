"""``labelspace eval-merge``: every result JSON of ``labelspace eval`` (any task) in one table."""
from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from labelspace.cli import app, out
from labelspace.io import check_output_file


@app.command("eval-merge")
def eval_merge(
    results: List[Path] = typer.Argument(..., help="Result JSON files or folders of them."),
    output: Path = typer.Option(Path("runs/eval/results.md"), "--out",
                                help="A .csv or .md table: run keys, settings, then every metric (nested as view.metric)."),
):
    """Merge result JSON files into one CSV or Markdown table (and the seen-unseen curves of `eval --calibrate`
    runs into one plot beside it)."""
    from labelspace.evaluation import load_results, merge_results
    from labelspace.evaluation.curves import plot_seen_unseen, result_curves

    check_output_file(output)
    out.print(f"table written to {merge_results(results, output)}")
    if curves := result_curves(load_results(results)):
        plot = plot_seen_unseen(curves, output.with_name(output.stem + ".seen-unseen.png"))
        out.print(f"seen-unseen curves ({len(curves)} models) written to {plot}")
