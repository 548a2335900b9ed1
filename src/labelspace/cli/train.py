"""``labelspace train devise|softmax``: fit on a split's seen classes from cached image features."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from labelspace.cli import DEVICE, PRECISION, WORKERS, app, out
from labelspace.errors import LabelspaceError
from labelspace.io import check_output_dir

train_app = typer.Typer(no_args_is_help=True, help="Train a head on cached image features of a split's seen classes.")
app.add_typer(train_app, name="train")


def floats(text: str, name: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or not all(0 < v < math.inf for v in values):  # nan fails every comparison
        raise LabelspaceError(f"--{name} must be comma-separated positive finite numbers, got {text!r}")
    return values


def _train(method: str, dataset: str, split: str, image_model: str, text_model: Optional[str], out_dir: Path,
           lr: str, margin: str, epochs: int, patience: int, batch_size: int, optimizer: str, seed: int,
           first_violation: bool, resume: bool, root: Optional[str], checkpoint: Optional[str], device: str,
           precision: str, workers: Optional[int]) -> None:
    import numpy as np

    from labelspace.data import extract_features, load_dataset
    from labelspace.data.splits import load_split
    from labelspace.encoders import load_image_encoder, load_text_encoder
    from labelspace.methods.trained import fit_on_split
    from labelspace.training import TrainConfig

    check_output_dir(out_dir)
    config = TrainConfig(optimizer=optimizer, epochs=epochs, patience=patience, batch_size=batch_size, seed=seed)
    grid = {"lr": floats(lr, "lr"), **({"margin": floats(margin, "margin")} if method == "devise" else {})}
    the_split = load_split(split)
    data = load_dataset(dataset, root)
    the_split.check(data.class_names)
    text = load_text_encoder(text_model, device) if method == "devise" else None
    encoder = load_image_encoder(image_model, checkpoint, device=device, precision=precision)
    feats = extract_features(encoder, data, workers=workers)
    meta = {"image_model": image_model, "image_checkpoint": checkpoint, "dataset": dataset}
    _, report = fit_on_split(method, np.asarray(feats.features), feats.targets, feats.class_names, the_split, config,
                             grid, text, first_violation, out_dir, resume, meta, device=device)
    table = Table(title=f"{method} on {dataset}, split {the_split.name}: choice on validation classes",
                  title_justify="left")
    for column in [*grid, "val", "epochs"]:
        table.add_column(column, justify="right")
    for row in report["selection"]:
        table.add_row(*[f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in [*grid, "val", "epochs"]])
    out.print(table)
    out.print(f"chosen {report['chosen']}; refit on all {len(the_split.seen)} seen classes "
              f"({len(report['history'])} epochs, final loss {report['history'][-1]['loss']:.4f}); "
              f"checkpoint in {out_dir}")


COMMON = {
    "dataset": typer.Option("fashion-mnist:train@100", help="Dataset spec with training images (see eval)."),
    "split": typer.Option("fashion-mnist-zsl", help="Packaged split name or a JSON file (seen/unseen/validation)."),
    "image_model": typer.Option("efficientnet-lite0", help="Image encoder whose cached features are used."),
    "lr": typer.Option("1e-3,1e-2", help="Learning rates to try (comma-separated)."),
    "epochs": typer.Option(30, min=1, help="Most epochs; early stopping on validation picks the count."),
    "patience": typer.Option(5, min=0, help="Stop after this many epochs without a better validation score."),
    "batch_size": typer.Option(64, min=1),
    "optimizer": typer.Option("adamw", help="adamw or sgd."),
    "seed": typer.Option(0),
    "resume": typer.Option(False, "--resume", help="Continue the refit from OUT's checkpoint."),
    "root": typer.Option(None, help="Folder with the Fashion-MNIST IDX files."),
    "checkpoint": typer.Option(None, help="Local weights for a timm:<name> image model (recorded in the checkpoint)."),
    "device": DEVICE, "precision": PRECISION, "workers": WORKERS,
}


@train_app.command()
def devise(
    out_dir: Path = typer.Option(..., "--out", help="Checkpoint folder (checkpoint.safetensors + config.json)."),
    text_model: str = typer.Option("glove-6b-50d", help="Label space: glove-6b-50d, minilm, random:<dim>, ..."),
    margin: str = typer.Option("0.1,0.5", help="Hinge margins to try (comma-separated)."),
    first_violation: bool = typer.Option(False, help="Keep only the first violating wrong label (random order)."),
    dataset: str = COMMON["dataset"], split: str = COMMON["split"], image_model: str = COMMON["image_model"],
    lr: str = COMMON["lr"], epochs: int = COMMON["epochs"], patience: int = COMMON["patience"],
    batch_size: int = COMMON["batch_size"], optimizer: str = COMMON["optimizer"], seed: int = COMMON["seed"],
    resume: bool = COMMON["resume"], root: Optional[str] = COMMON["root"],
    checkpoint: Optional[str] = COMMON["checkpoint"], device: str = COMMON["device"],
    precision: str = COMMON["precision"], workers: Optional[int] = COMMON["workers"],
):
    """DeViSE: a linear map from image features to label vectors, hinge rank loss."""
    _train("devise", dataset, split, image_model, text_model, out_dir, lr, margin, epochs, patience, batch_size,
           optimizer, seed, first_violation, resume, root, checkpoint, device, precision, workers)


@train_app.command()
def softmax(
    out_dir: Path = typer.Option(..., "--out", help="Checkpoint folder (checkpoint.safetensors + config.json)."),
    dataset: str = COMMON["dataset"], split: str = COMMON["split"], image_model: str = COMMON["image_model"],
    lr: str = COMMON["lr"], epochs: int = COMMON["epochs"], patience: int = COMMON["patience"],
    batch_size: int = COMMON["batch_size"], optimizer: str = COMMON["optimizer"], seed: int = COMMON["seed"],
    resume: bool = COMMON["resume"], root: Optional[str] = COMMON["root"],
    checkpoint: Optional[str] = COMMON["checkpoint"], device: str = COMMON["device"],
    precision: str = COMMON["precision"], workers: Optional[int] = COMMON["workers"],
):
    """The softmax baseline over the seen labels (also the seen classifier under ConSE)."""
    _train("softmax", dataset, split, image_model, None, out_dir, lr, "1", epochs, patience, batch_size,
           optimizer, seed, False, resume, root, checkpoint, device, precision, workers)
