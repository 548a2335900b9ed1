"""The CLIP_benchmark-style tasks of ``labelspace eval --task ...`` and ``eval-merge``: thin layers over ``labelspace.evaluation``."""
from __future__ import annotations

from pathlib import Path
from typing import List

import typer
from rich.console import Console

from labelspace.cli import app

out = Console()


def run_task(task, model, dataset, method, templates, text_model, train_dataset, shots, root, out_dir, batch_size,
             distributed) -> None:
    """``labelspace eval --task`` for the CLIP_benchmark-style tasks: a thin layer over ``evaluation.evaluate``."""
    from labelspace.evaluation import evaluate, init_distributed

    rank = init_distributed()[0] if distributed else 0
    result = evaluate(task, model, dataset, method=method, templates=templates, text_model=text_model,
                      train_dataset=train_dataset, shots=shots, root=root, out_dir=out_dir, batch_size=batch_size)
    if rank == 0:
        metrics = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in result["metrics"].items())
        out.print(f"{result['task']} {result['model']} on {result['dataset']}: {metrics}")
        out.print(f"written to [bold]{result['path']}[/]")


@app.command("eval-merge")
def eval_merge(
    results: List[Path] = typer.Argument(..., help="Result JSON files or folders of them."),
    output: Path = typer.Option(Path("runs/eval/results.md"), "--out", help="A .csv or .md table."),
):
    """Merge result JSON files into one CSV or Markdown table."""
    from labelspace.evaluation import merge_results

    out.print(f"table written to [bold]{merge_results(results, output)}[/]")
