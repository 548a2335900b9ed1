"""``labelspace eval``: one model, one dataset, one task -> one result JSON in the --out folder and a table.

``--task zsl`` runs the DeViSE split protocol (``evaluation.evaluate_split``) on a ``Classifier``, or with
``--labels`` the ImageNet-21K protocol (every image against a label set, ``evaluation.labelsets``); the other
tasks are the CLIP_benchmark-style ones of ``evaluation.evaluate``. Both write through ``write_result``, so
``labelspace eval-merge`` reads every result.
"""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from labelspace.cli import DEVICE, PRECISION, PREPROCESS, WORKERS, app, out, refuse_unused_options
from labelspace.errors import LabelspaceError
from labelspace.io import check_output_dir


TASKS_HELP = "zsl (flat hit@k, hP@k, ZSL, GZSL over a split, or hit@k and hP@k against --labels), zeroshot_classification, multilabel_classification, " \
             "zeroshot_retrieval or linear_probe."


def shown(value) -> str:
    """A table cell: floats to 4 decimals, except those 4 decimals would show as 0 (chance over 21K labels)."""
    if not isinstance(value, float):
        return str(value)
    return f"{value:.2e}" if 0 < abs(value) < 5e-5 else f"{value:.4f}"


def print_result(result: dict, path) -> None:
    """One run's metrics (nested views flattened) as a rich table, and where the JSON went."""
    from labelspace.evaluation.results import KEYS, flat_metrics, variants

    out.print(" ".join(str(result[k]) for k in KEYS) + "".join(f", {k} {v}" for k, v in variants(result).items()))
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in flat_metrics(result["metrics"]).items():
        table.add_row(name, shown(value))
    out.print(table)
    out.print(f"result written to {path}")


@app.command(name="eval")
def evaluate_command(
    model: Optional[str] = typer.Option(None, help="zsl: 'conse', a checkpoint folder from `labelspace train`, a "
                                        "CLIP spec or a method spec (conse:<image>+<text>, devise:<folder>); other tasks: a CLIP spec (open_clip:<arch>[/<tag>|/<file>], "
                                        "hf:<dir>, <file>)."),
    dataset: str = typer.Option("fashion-mnist:test@100", help="Dataset spec: fashion-mnist[:train|test], "
                                "folder:<dir>, csv:<file>, photos, synthetic, captions:<csv>, multilabel:<csv>, "
                                "voc:<VOC20xx>, coco:<instances.json>, imagenet:<dir>, wds:<shards>, hf:<dir>, "
                                "cifar10:<root> and other torchvision sets, with ,key=value options "
                                "(README, Data); @N images per class."),
    task: str = typer.Option("zsl", help=TASKS_HELP),
    split: Optional[str] = typer.Option(None, help="zsl: split name or JSON file; without one all classes are seen."),
    labels: Optional[str] = typer.Option(None, help="zsl: every image against a label set instead of a split "
                                         "(imagenet-2hops, imagenet-3hops, imagenet-21k, each +1k, wordnet:<wnid>, "
                                         "a wnid file): flat hit@k and hP@k per image and per class."),
    method: str = typer.Option("clip", help="Tasks other than zsl: a method spec (labelspace list), e.g. clip, conse, "
                               "devise:<folder>."),
    templates: Optional[str] = typer.Option(None, help="Prompt templates (clip, zeroshot_/multilabel_classification): "
                                            "openai, simple, photo, fashion-mnist, a dataset's set (cifar10, "
                                            "voc2007, ...), a file; default: the dataset's own as CLIP reported "
                                            "them, else openai."),
    image_model: Optional[str] = typer.Option(None, help="zsl: image encoder (default: the checkpoint's, else "
                                              "efficientnet-lite0)."),
    text_model: Optional[str] = typer.Option(None, help="Label space for conse (default glove-6b-50d), or to "
                                             "override a DeViSE checkpoint's."),
    conse_top_t: Optional[int] = typer.Option(None, min=1, help="zsl: evaluate ConSE over a softmax checkpoint, top T."),
    hierarchy: bool = typer.Option(True, "--hp/--no-hp", help="zsl: report WordNet hP@k (labels must map to nouns); "
                                   "hP@k with k above the number of seen labels is skipped."),
    wordnet_overrides: Optional[Path] = typer.Option(None, help='zsl: JSON {"label": "lemma.n.NN"} for ambiguous names.'),
    train_dataset: Optional[str] = typer.Option(None, help="linear_probe: training images."),
    shots: Optional[int] = typer.Option(None, min=1, help="linear_probe: k images per class (few-shot)."),
    batch_size: int = typer.Option(64, min=1),
    distributed: bool = typer.Option(False, help="Shard images over the processes of `torchrun --nproc-per-node N` "
                                     "(tasks other than zsl)."),
    out_dir: Path = typer.Option(Path("runs/eval"), "--out", help="Folder for the result JSON, named "
                                 "<task>__<method>__<model>__<dataset>[__<setting>=<value>...].json."),
    root: Optional[str] = typer.Option(None, help="Folder with the Fashion-MNIST IDX files."),
    checkpoint: Optional[str] = typer.Option(None, help="Local weights for a timm:<name> image model "
                                             "(.safetensors, or a weights-only torch file)."),
    calibrate: bool = typer.Option(False, help="zsl: calibrated stacking; gamma chosen on the split's validation "
                                   "classes, u/s/H there, AUSUC, and the seen-unseen curve plot in --out."),
    csls: bool = typer.Option(False, help="zsl: hubness-corrected (CSLS) nearest-label inference, k chosen on the "
                              "split's validation classes; hubness reported with and without it."),
    device: str = DEVICE, precision: str = PRECISION, workers: Optional[int] = WORKERS,
    preprocess: str = PREPROCESS,
):
    """Evaluate one model on one dataset and task; write one JSON result and print a table."""
    from labelspace.devices import resolve_device
    from labelspace.distributed import process_group
    from labelspace.evaluation import TASKS, evaluate, evaluate_zsl, write_result
    from labelspace.evaluation.tasks import LABEL_TASKS

    check_output_dir(out_dir)
    if task not in ("zsl", *TASKS):
        raise LabelspaceError(f"unknown task {task!r} (accepted: zsl, {', '.join(TASKS)})")
    zsl = ("zsl",)
    refuse_unused_options(f"--task {task}", {task}, [
        ("--image-model", image_model is not None, zsl), ("--split", split is not None, zsl),
        ("--labels", labels is not None, zsl),
        ("--conse-top-t", conse_top_t is not None, zsl), ("--no-hp", not hierarchy, zsl),
        ("--wordnet-overrides", wordnet_overrides is not None, zsl), ("--method", method != "clip", TASKS),
        ("--templates", templates is not None, (*LABEL_TASKS, "zsl")), ("--distributed", distributed, TASKS),
        ("--train-dataset", train_dataset is not None, ("linear_probe",)),
        ("--shots", shots is not None, ("linear_probe",)), ("--calibrate", calibrate, zsl), ("--csls", csls, zsl)])
    if task == "zsl":
        result = evaluate_zsl(model, dataset, split, image_model, text_model, conse_top_t, hierarchy,
                              wordnet_overrides, root, checkpoint, calibrate=calibrate, csls=csls, templates=templates,
                              device=device, precision=precision, workers=workers, preprocess=preprocess,
                              labels=labels)
        path = write_result(out_dir, result)
        print_result(result, path)
        if calibrate:
            from labelspace.evaluation.curves import plot_seen_unseen, result_curves

            out.print(f"seen-unseen curve written to {plot_seen_unseen(result_curves([result]), path.with_suffix('.png'))}")
        return
    # the group (a CUDA rank on its LOCAL_RANK GPU) is destroyed at the end, errors included
    with process_group(resolve_device(device)) if distributed else nullcontext((0, 1)) as (rank, _):
        result = evaluate(task, model, dataset, method=method, templates=templates, text_model=text_model,
                          train_dataset=train_dataset, shots=shots, root=root, out_dir=out_dir, batch_size=batch_size,
                          checkpoint=checkpoint, device=device, precision=precision, workers=workers,
                          preprocess=preprocess)
        if rank == 0:
            print_result(result, result["path"])
