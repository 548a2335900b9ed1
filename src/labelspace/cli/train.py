"""``labelspace train devise|softmax``: fit on a split's seen classes from cached image features (and the ``train``
group, which also holds ``train clip``: cli/train_clip.py)."""
from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from labelspace.cli import DEVICE, PRECISION, PREPROCESS, WORKERS, app, out
from labelspace.errors import LabelspaceError
from labelspace.io import check_output_dir

train_app = typer.Typer(no_args_is_help=True, help="Train devise or softmax (a head on cached image features of a "
                        "split's seen classes) or clip (a CLIP model on image-caption pairs).")
app.add_typer(train_app, name="train")


def floats(text: str, name: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or not all(0 < v < math.inf for v in values):  # nan fails every comparison
        raise LabelspaceError(f"--{name} must be comma-separated positive finite numbers, got {text!r}")
    return values


def _train(method: str, out_dir: Path, dataset: str, split: str, image_model: str, lr: str, epochs: int,
           patience: int, batch_size: int, optimizer: str, seed: int, resume: bool, overwrite: bool,
           root: Optional[str], checkpoint: Optional[str], device: str, precision: str, workers: Optional[int],
           preprocess: str,
           text_model: Optional[str] = None, margin: str = "1", first_violation: bool = False) -> None:
    import numpy as np

    from labelspace.data import extract_features, load_dataset
    from labelspace.data.splits import load_split
    from labelspace.encoders import load_image_encoder, load_text_encoder
    from labelspace.methods.trained import VALIDATION_WEIGHTS, fit_on_split
    from labelspace.training import TrainConfig
    from labelspace.training.checkpoint import check_new_run, remove_run

    check_output_dir(out_dir)
    config = TrainConfig(optimizer=optimizer, epochs=epochs, patience=patience, batch_size=batch_size, seed=seed)
    grid = {"lr": floats(lr, "lr"), **({"margin": floats(margin, "margin")} if method == "devise" else {})}
    check_new_run(out_dir, resume, overwrite)
    the_split = load_split(split)
    data = load_dataset(dataset, root)
    the_split.check(data.class_names)
    text = load_text_encoder(text_model, device) if method == "devise" else None
    encoder = load_image_encoder(image_model, checkpoint, device=device, precision=precision)
    feats = extract_features(encoder, data, workers=workers, preprocess=preprocess)
    meta = {"image_model": image_model, "image_checkpoint": checkpoint, "dataset": dataset}
    if overwrite:
        remove_run(out_dir, (VALIDATION_WEIGHTS,))
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


def _parameter(name: str, annotation, option) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)


SHARED = [_parameter(*p) for p in (
    ("out_dir", Path, typer.Option(..., "--out", help="Checkpoint folder (checkpoint.safetensors + config.json).")),
    ("dataset", str, typer.Option("fashion-mnist:train@100", help="Dataset spec with training images (see eval).")),
    ("split", str, typer.Option("fashion-mnist-zsl", help="Packaged split name or a JSON file (seen/unseen/validation).")),
    ("image_model", str, typer.Option("efficientnet-lite0", help="Image encoder whose cached features are used.")),
    ("lr", str, typer.Option("1e-3,1e-2", help="Learning rates to try (comma-separated).")),
    ("epochs", int, typer.Option(30, min=1, help="Most epochs; early stopping on validation picks the count.")),
    ("patience", int, typer.Option(5, min=0, help="Stop after this many epochs without a better validation score.")),
    ("batch_size", int, typer.Option(64, min=1, help="Images per optimiser step.")),
    ("optimizer", str, typer.Option("adamw", help="adamw or sgd.")),
    ("seed", int, typer.Option(0, min=0, help="Seed of the initialisation, the batch order and the held-out rows.")),
    ("resume", bool, typer.Option(False, "--resume", help="Continue the refit from OUT's checkpoint.")),
    ("overwrite", bool, typer.Option(False, "--overwrite", help="Replace the run in OUT (refused without it).")),
    ("root", Optional[str], typer.Option(None, help="Folder with the Fashion-MNIST IDX files.")),
    ("checkpoint", Optional[str],
     typer.Option(None, help="Local weights for a timm:<name> image model (recorded in the checkpoint).")),
    ("device", str, DEVICE), ("precision", str, PRECISION), ("workers", Optional[int], WORKERS),
    ("preprocess", str, PREPROCESS),
)]
DEVISE_ONLY = [_parameter(*p) for p in (
    ("text_model", str, typer.Option("glove-6b-50d", help="Label space: glove-6b-50d, minilm, random:<dim>, ...")),
    ("margin", str, typer.Option("0.1,0.5", help="Hinge margins to try (comma-separated).")),
    ("first_violation", bool,
     typer.Option(False, help="Keep only the first violating wrong label (random order).")),
)]


def _train_command(method: str, description: str, own: list[inspect.Parameter]) -> None:
    """Register ``train <method>``: its own options, then the ones every head shares (Typer reads the signature)."""
    def command(**options) -> None:
        _train(method, **options)

    command.__signature__ = inspect.Signature([*own, *SHARED])
    train_app.command(method, help=description)(command)


_train_command("devise", "DeViSE: a linear map from image features to label vectors, hinge rank loss.", DEVISE_ONLY)
_train_command("softmax", "The softmax baseline over the seen labels (also the seen classifier under ConSE).", [])
