"""``analyze``: class-representation analysis of image and text models over one or more datasets."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from labelspace.cli import DEVICE, PRECISION, PREPROCESS, WORKERS, app, out
from labelspace.errors import LabelspaceError
from labelspace.io import check_output_dir


@app.command()
def analyze(
    dataset: List[str] = typer.Option([], "--dataset", "-d", help="Dataset spec, repeatable: fashion-mnist:test@30, "
                                      "folder:<dir>, csv:<file>, voc:<VOC20xx> and coco:<instances.json> (object "
                                      "crops), imagenet:<dir>, cifar10:<root>, ... (README, Data)."),
    classes: Optional[str] = typer.Option(None, "--classes", help="Instead of --dataset, a WordNet label set "
                                          "(imagenet-1k, a wnid file, ...): no images; image models give their "
                                          "ImageNet classifier rows, text models their synset vectors."),
    wordnet: bool = typer.Option(False, "--wordnet", help="With --classes: WordNet's Wu-Palmer similarity as one "
                                 "more representation."),
    image_model: List[str] = typer.Option([], "--image-model", "-i", help="Image encoder spec, repeatable: "
                                          "efficientnet-lite0, timm:<name>, or any CLIP model (open_clip:<arch>, "
                                          "hf:<dir>, run:<folder>, a file): its mean image embeddings."),
    text_model: List[str] = typer.Option([], "--text-model", "-t", help="Text encoder spec, repeatable: "
                                         "glove-6b-50d, minilm, wordvec:<file>, ..., or any CLIP model: its "
                                         "prompt-ensembled label embeddings."),
    out_dir: Path = typer.Option(Path("runs/analysis"), "--out", help="Where to write report.md, results.json, PNGs."),
    preset: Optional[str] = typer.Option(None, help="Class preset: voc, pascal-5i-0..3, coco, coco-20i-0..3, "
                                         "fashion-mnist (keeps and renames the datasets' classes)."),
    shift: List[str] = typer.Option([], "--shift", help="Shifted copy of the first dataset as another domain, "
                                    "repeatable: inverted, blurred, noisy, colour-jittered."),
    normalize: bool = typer.Option(False, help="Average unit-normalised image features."),
    template: List[str] = typer.Option([], "--template", "--templates", help="Prompt templates for text models: "
                                       "template strings holding {}, repeatable (ensembled), e.g. 'a photo of a {}.', "
                                       "or one set name (openai, simple, photo, ...) or .txt/.json file. Default: "
                                       "bare names, and CLIP's openai set for a CLIP model's text side."),
    permutations: int = typer.Option(999, min=0, help="Mantel test permutations."),
    bootstrap: int = typer.Option(200, min=0, help="Bootstrap resamples of images within classes (0: none; "
                                  "--dataset only)."),
    seed: int = typer.Option(0, help="Seed of the permutations and resamples."),
    root: Optional[str] = typer.Option(None, help="Folder with the Fashion-MNIST IDX files."),
    checkpoint: Optional[str] = typer.Option(None, help="Local weights for the one timm:<name> image model "
                                             "(.safetensors, or a weights-only torch file)."),
    device: str = DEVICE, precision: str = PRECISION, workers: Optional[int] = WORKERS,
    preprocess: str = PREPROCESS,
):
    """Are class relations alike across vision and language models (and WordNet), and across domains?"""
    from labelspace.analysis.pipeline import analyze as run, analyze_classes
    from labelspace.analysis.report import p_value

    check_output_dir(out_dir)
    templates = (template[0] if len(template) == 1 else template) or None  # one value may name a set or a file
    if classes is None:
        if wordnet:
            raise LabelspaceError("--wordnet goes with --classes (a WordNet label set such as imagenet-1k)")
        result = run(dataset, image_model, text_model, preset=preset, shifts=shift, normalize=normalize,
                     templates=templates, permutations=permutations, bootstrap=bootstrap, seed=seed,
                     out_dir=out_dir, root=root, checkpoint=checkpoint, device=device, precision=precision,
                     workers=workers, preprocess=preprocess)
    else:
        image_only = [name for name, given in (("--dataset", dataset), ("--preset", preset), ("--shift", shift),
                                               ("--normalize", normalize), ("--root", root)) if given]
        if image_only:
            raise LabelspaceError(f"--classes uses no images; leave out {', '.join(image_only)}")
        result = analyze_classes(classes, image_model, text_model, wordnet, templates=templates,
                                 permutations=permutations, seed=seed, out_dir=out_dir, checkpoint=checkpoint,
                                 device=device, precision=precision)
    table = Table(title="comparisons", title_justify="left")
    for column in ("kind", "A", "B", "Pearson r", "Spearman rho", "Mantel p"):
        table.add_column(column)
    for c in result.comparisons:
        table.add_row(c.kind, c.a, c.b, f"{c.pearson:.3f}", f"{c.spearman:.3f}", p_value(c.mantel_p))
    out.print(table)
    out.print(f"report written to {result.report}")
