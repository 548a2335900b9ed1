"""``labelspace eval``: one model, one dataset, one split -> one JSON result and a table.

Every model goes through the ``Classifier`` contract on cached features of its own image model.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from labelspace.cli import app

out = Console()


def result_table(title: str, metrics: dict) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("view", "metric", "value"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for view, values in metrics.items():
        for name, value in values.items():
            table.add_row(view, name, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


@app.command(name="eval")
def evaluate_command(
    model: str = typer.Option(..., help="'conse' (the image model's ImageNet head) or a checkpoint folder from "
                                        "`labelspace train`."),
    dataset: str = typer.Option("fashion-mnist:test@100", help="Dataset spec: fashion-mnist[:train|test], "
                                "folder:<dir>, csv:<file>, photos, synthetic; @N images per class."),
    split: Optional[str] = typer.Option(None, help="Split name or JSON file; without one all classes are seen."),
    image_model: Optional[str] = typer.Option(None, help="Image encoder (default: the checkpoint's, else "
                                              "efficientnet-lite0)."),
    text_model: Optional[str] = typer.Option(None, help="Label space for conse (default glove-6b-50d), or to "
                                             "override a DeViSE checkpoint's."),
    conse_top_t: Optional[int] = typer.Option(None, min=1, help="Evaluate ConSE over a softmax checkpoint, top T."),
    hierarchy: bool = typer.Option(True, "--hp/--no-hp", help="Report WordNet hP@k (labels must map to nouns)."),
    wordnet_overrides: Optional[Path] = typer.Option(None, help='JSON {"label": "lemma.n.NN"} for ambiguous names.'),
    out_path: Optional[Path] = typer.Option(None, "--out", help="Result JSON (default runs/eval/<model>-<dataset>.json)."),
    root: Optional[str] = typer.Option(None, help="Folder with the Fashion-MNIST IDX files."),
):
    """Evaluate a zero-shot model: flat hit@k and hP@k on seen classes, ZSL top-1, GZSL u/s/H."""
    from labelspace.data import extract_features, load_dataset
    from labelspace.data.splits import load_split
    from labelspace.evaluation.zsl import evaluate
    from labelspace.io import write_json
    from labelspace.methods.trained import load_classifier
    from labelspace.metrics.hierarchy import load_overrides

    the_split = load_split(split) if split else None
    data = load_dataset(dataset, root)
    if the_split is not None:
        the_split.check(data.class_names)
    overrides = load_overrides(wordnet_overrides) if hierarchy else None
    classifier, info = load_classifier(model, image_model, text_model, conse_top_t)
    feats = extract_features(classifier.image_encoder, data)
    metrics = evaluate(classifier, feats.features, feats.targets, feats.class_names, the_split,
                       hp_ks=(2, 5) if hierarchy else (), overrides=overrides)
    result = {"model": {"spec": model, **info}, "dataset": dataset, "images": len(feats.targets),
              "skipped": feats.skipped, "split": the_split.to_json() if the_split else None, "metrics": metrics}
    name = re.sub(r"[^\w.-]+", "_", f"{Path(model).name}-{dataset}").strip("_")
    path = write_json(out_path or Path("runs/eval") / f"{name}.json", result)
    out.print(result_table(f"{info['method']} ({model}) on {dataset}" + (f", split {the_split.name}" if the_split else ""),
                           metrics))
    out.print(f"result written to [bold]{path}[/]")
