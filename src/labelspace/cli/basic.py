"""``classify``, ``encoders`` and ``demo``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from labelspace.cli import DEVICE, PRECISION, app, out
from labelspace.io import check_output_dir


def split_labels(labels: str) -> list[str]:
    return [label.strip() for label in labels.split(",")]


@app.command()
def classify(
    images: List[Path] = typer.Argument(..., help="Image files to classify."),
    labels: str = typer.Option(..., "--labels", "-l", help='Comma-separated candidate labels, e.g. "cat,dog,guitar".'),
    method: str = typer.Option("conse", help="Zero-shot method spec (labelspace list): conse, clip, devise:<folder>, ..."),
    image_model: Optional[str] = typer.Option(None, help="Image encoder spec (conse; default efficientnet-lite0) or CLIP "
                                              "model spec (clip; default open_clip:ViT-B-32/openai, e.g. hf:<dir>, <file>)."),
    text_model: Optional[str] = typer.Option(None, help="Label-text encoder spec (conse; default glove-6b-50d)."),
    checkpoint: Optional[str] = typer.Option(None, help="Local weights for a timm:<name> image model "
                                             "(.safetensors, or a weights-only torch file)."),
    templates: Optional[str] = typer.Option(None, help="Prompt templates (clip): openai (default), simple, photo, "
                                            "a .txt/.json file."),
    top: int = typer.Option(5, min=1, help="How many labels to show per image."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    device: str = DEVICE, precision: str = PRECISION,
):
    """Rank candidate labels for each image, zero-shot."""
    from labelspace.api import classify as run

    results = run(images, split_labels(labels), method=method, image_model=image_model, text_model=text_model, top=top,
              templates=templates, checkpoint=checkpoint, device=device, precision=precision)
    if as_json:
        out.print_json(json.dumps([{"image": str(p), "labels": r} for p, r in zip(images, results)]))
        return
    for path, ranked in zip(images, results):
        table = Table(title=path.name, title_justify="left")
        table.add_column("rank", justify="right")
        table.add_column("label")
        table.add_column("probability", justify="right")
        for rank, item in enumerate(ranked, 1):
            table.add_row(str(rank), item["label"], f"{item['score']:.3f}")
        out.print(table)


def print_registries(registries) -> None:
    table = Table()
    for column in ("kind", "spec", "offline", "description"):
        table.add_column(column, overflow="fold")  # a narrow terminal folds a spec, never cuts it
    for registry in registries:
        for e in registry.list():
            table.add_row(registry.kind, e.spec, "yes" if e.offline else "online", e.description)
    out.print(table)


@app.command()
def encoders():
    """List the image encoder, text encoder and CLIP model specs."""
    from labelspace.registry import CLIP_MODELS, IMAGE_ENCODERS, TEXT_ENCODERS

    print_registries([IMAGE_ENCODERS, TEXT_ENCODERS, CLIP_MODELS])


@app.command("list")
def list_specs():
    """List every spec: encoders, CLIP models, datasets, caption sources, methods and eval tasks."""
    from labelspace.registry import REGISTRIES

    print_registries(REGISTRIES)


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("runs/demo"), "--out", help="Where to write report.md and figures."),
    per_class: int = typer.Option(100, help="Fashion-MNIST test images per class (the full set has 1000)."),
    root: Optional[str] = typer.Option(None, help="Folder with the Fashion-MNIST IDX files."),
):
    """Run the tour on the bundled photos and Fashion-MNIST; write OUT/report.md."""
    from labelspace.demo import run_demo

    check_output_dir(out_dir)
    report = run_demo(out_dir, per_class=per_class, root=root)
    out.print(f"report written to {report}")
