"""``zeroshot-eval`` and ``eval-merge``: a thin layer over ``labelspace.evaluation``."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from labelspace.cli import app

out = Console()


@app.command("zeroshot-eval")
def zeroshot_eval(
    task: str = typer.Option("zeroshot_classification", help="zeroshot_classification, multilabel_classification, "
                             "zeroshot_retrieval or linear_probe."),
    model: Optional[str] = typer.Option(None, help="CLIP spec (open_clip:<arch>[/<tag>|/<file>], hf:<dir>, <file>) or, "
                                        "for other methods, their image encoder."),
    dataset: str = typer.Option(..., help="fashion-mnist:test@100, folder:<dir>, csv:<file>, photos, synthetic, "
                                "captions:<csv>, multilabel:<csv>."),
    method: str = typer.Option("clip", help="clip or conse: every method scores labels the same way."),
    templates: str = typer.Option("openai", help="Prompt templates (clip): openai, simple, photo, fashion-mnist, a file."),
    text_model: str = typer.Option("glove-6b-50d", help="Label-text encoder (conse)."),
    train_dataset: Optional[str] = typer.Option(None, help="Training images for linear_probe."),
    shots: Optional[int] = typer.Option(None, min=1, help="k images per class for a few-shot linear probe."),
    root: Optional[str] = typer.Option(None, help="Folder with the Fashion-MNIST IDX files."),
    out_dir: Path = typer.Option(Path("runs/eval"), "--out", help="Folder for the result JSON."),
    batch_size: int = typer.Option(64, min=1),
    distributed: bool = typer.Option(False, help="Shard images over the processes of `torchrun --nproc-per-node N`."),
):
    """Evaluate one model on one dataset and task; write one JSON named from its parts."""
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
