"""``classify``, ``encoders`` and ``demo``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table
from rich.text import Text

from labelspace.cli import DEVICE, PRECISION, app, out
from labelspace.io import check_output_dir


def split_labels(labels: str) -> list[str]:
    return [label.strip() for label in labels.split(",")]


def _hedge(p: float | None) -> float | None:
    from labelspace.vocab import check_hedge

    return p if p is None else check_hedge(p)


@app.command()
def classify(
    images: List[Path] = typer.Argument(..., help="Image files to classify."),
    labels: str = typer.Option(..., "--labels", "-l", help='Comma-separated candidate labels, e.g. "cat,dog,guitar", '
                               "or a label set (labelspace list): imagenet-1k, imagenet-21k, imagenet-21k+1k, "
                               "wordnet:<wnid>, a file of labels or wnids; a value naming a set is read as that set."),
    method: str = typer.Option("conse", help="Zero-shot method spec (labelspace list): conse, clip, devise:<folder>, ..."),
    image_model: Optional[str] = typer.Option(None, help="Image encoder spec (conse; default efficientnet-lite0) or CLIP "
                                              "model spec (clip; default open_clip:ViT-B-32/openai, e.g. hf:<dir>, <file>)."),
    text_model: Optional[str] = typer.Option(None, help="Label-text encoder spec (conse; default glove-6b-50d)."),
    checkpoint: Optional[str] = typer.Option(None, help="Local weights for a timm:<name> image model "
                                             "(.safetensors, or a weights-only torch file)."),
    templates: Optional[str] = typer.Option(None, help="Prompt templates (clip): openai (default), simple, photo, "
                                            "a .txt/.json file."),
    top: int = typer.Option(5, min=1, help="How many labels to show per image."),
    hedge: Optional[float] = typer.Option(None, callback=_hedge, metavar="P",
                                          help="Also answer, per image, the most specific WordNet synset whose subtree "
                                          "holds probability >= P, in (0, 1] (a WordNet label set only)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    device: str = DEVICE, precision: str = PRECISION,
):
    """Rank candidate labels for each image, zero-shot; WordNet answers show their synset, gloss and path."""
    from labelspace.api import answers
    from labelspace.notes import note
    from labelspace.vocab import is_label_set_spec

    one_spec = is_label_set_spec(labels) or "," not in labels  # one name with no comma: a label set, never 1 label
    ranked, hedged, candidates, score_name = answers(
        images, labels if one_spec else split_labels(labels), method=method, image_model=image_model,
        text_model=text_model, top=top, templates=templates, checkpoint=checkpoint, device=device, precision=precision,
        hedge=hedge)
    hedged = hedged or [None] * len(images)
    if getattr(candidates, "excluded", 0):
        note(f"{candidates.excluded:,} of the {len(candidates) + candidates.excluded:,} synsets of {candidates.spec} "
             "left out: the text model has no word for them")
    if as_json:
        out.print_json(json.dumps([{"image": str(p), "labels": r, "hedge": h, "score_name": score_name}
                                   for p, r, h in zip(images, ranked, hedged)]))
        return
    for path, answered, hedged_answer in zip(images, ranked, hedged):
        out.print(answer_table(path.name, answered, score_name))
        if hedged_answer is not None:
            out.print(f"hedged (p >= {hedge:g}): {hedged_answer['label']} {hedged_answer['wnid']}, subtree {score_name} "
                      f"{hedged_answer['probability']:.3f}\n  {hedged_answer['path']}")


def answer_table(title: str, answered: list[dict], score_name: str) -> Table:
    """Rank, label and its score under ``score_name`` ("probability" where calibrated); the synset, its hypernym
    path and gloss where the labels are WordNet's (long cells fold at word boundaries rather than being cut)."""
    synsets = bool(answered) and "wnid" in answered[0]
    table = Table(title=title, title_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("label", overflow="fold")
    table.add_column(score_name, justify="right")
    if synsets:
        table.add_column("wnid", no_wrap=True)
        table.add_column("path / gloss", overflow="fold")
    for rank, item in enumerate(answered, 1):
        cells = [str(rank), item["label"], f"{item['score']:.3f}"]
        synset = [item["wnid"], Text.assemble(item["path"], "\n", (item["gloss"], "dim"))] if synsets else []
        table.add_row(*cells, *synset)
    return table


def print_registries(registries) -> None:
    """The entries of ``registries`` from the listing manifest, which imports none of their home packages (torch)."""
    from labelspace.registry import manifest

    kinds = {registry.kind for registry in registries}
    table = Table()
    for column in ("kind", "spec", "offline", "description"):
        table.add_column(column, overflow="fold")  # a narrow terminal folds a spec, never cuts it
    for row in manifest():
        if row["kind"] in kinds:
            table.add_row(row["kind"], row["spec"], "yes" if row["offline"] else "online", row["description"])
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
