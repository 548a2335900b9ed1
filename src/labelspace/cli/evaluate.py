"""``labelspace eval``: one model, one dataset, one task -> one result JSON in the --out folder and a table.

``--task zsl`` runs the DeViSE split protocol (``evaluation.evaluate_split``) on a ``Classifier``; the other
tasks are the CLIP_benchmark-style ones of ``evaluation.evaluate``. Both write through ``write_result``, so
``labelspace eval-merge`` reads every result.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from labelspace.cli import DEVICE, PRECISION, WORKERS, app, out
from labelspace.errors import LabelspaceError
from labelspace.io import check_output_dir


TASKS_HELP = "zsl (flat hit@k, hP@k, ZSL, GZSL over a split), zeroshot_classification, multilabel_classification, " \
             "zeroshot_retrieval or linear_probe."


def print_result(result: dict, path) -> None:
    """One run's metrics (nested views flattened) as a rich table, and where the JSON went."""
    from labelspace.evaluation.results import KEYS, flat_metrics, variants

    out.print(" ".join(str(result[k]) for k in KEYS) + "".join(f", {k} {v}" for k, v in variants(result).items()))
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in flat_metrics(result["metrics"]).items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    out.print(table)
    out.print(f"result written to {path}")


def refuse_unused_options(task: str, options) -> None:
    """A one-line error for an option the user set (``given``) that ``task`` would silently ignore."""
    for option, given, tasks in options:
        if given and task not in tasks:
            raise LabelspaceError(f"{option} does not apply to --task {task} (only to {', '.join(tasks)})")


def zsl_result(model, dataset, split, image_model, text_model, top_t, hierarchy, wordnet_overrides, root,
               calibrate: bool = False, csls: bool = False, templates: str | None = None,
               device="cpu", precision: str = "fp32", workers: int | None = None) -> dict:
    """``--task zsl``: the split protocol's seen / zsl / gzsl views for ``conse``, a trained checkpoint or a CLIP
    model."""
    from labelspace.data import extract_features, load_dataset
    from labelspace.data.splits import load_split
    from labelspace.evaluation import evaluate_split
    from labelspace.methods.trained import load_classifier
    from labelspace.metrics.hierarchy import load_overrides

    if model is None:
        raise LabelspaceError("--model is required for --task zsl ('conse', a checkpoint folder or a CLIP spec)")
    the_split = load_split(split) if split else None
    data = load_dataset(dataset, root)
    if the_split is not None:
        the_split.check(data.class_names)
    overrides = load_overrides(wordnet_overrides) if hierarchy else None
    if overrides is not None and data.wnids:  # ImageNet-style data knows each class's true synset
        overrides.update(zip(data.class_names, data.wnids))
    classifier, info = load_classifier(model, image_model, text_model, top_t, templates, device, precision)
    feats = extract_features(classifier.image_encoder, data, workers=workers)
    if (calibrate or csls) and Path(model).is_dir() and getattr(classifier, "validation_model", None) is None:
        raise LabelspaceError(f"checkpoint {model!r} has no validation-stage model (validation.safetensors) to choose "
                              "--calibrate/--csls settings on; retrain it with this version of `labelspace train`")
    metrics = evaluate_split(classifier, feats.features, feats.targets, feats.class_names, the_split,
                             hp_ks=(2, 5) if hierarchy else (), overrides=overrides, calibrate=calibrate, csls=csls)
    return {"task": "zsl", "method": info["method"], "model": model, "dataset": dataset, **info,
            "split": the_split.name if the_split else None,
            "csls": True if csls else None,
            "split_classes": the_split.to_json() if the_split else None,
            "images": len(feats.targets), "skipped": feats.skipped, "skipped_images": feats.skipped_images,
            "metrics": metrics}


@app.command(name="eval")
def evaluate_command(
    model: Optional[str] = typer.Option(None, help="zsl: 'conse', a checkpoint folder from `labelspace train` or a "
                                        "CLIP spec; other tasks: a CLIP spec (open_clip:<arch>[/<tag>|/<file>], "
                                        "hf:<dir>, <file>)."),
    dataset: str = typer.Option("fashion-mnist:test@100", help="Dataset spec: fashion-mnist[:train|test], "
                                "folder:<dir>, csv:<file>, photos, synthetic, captions:<csv>, multilabel:<csv>, "
                                "voc:<VOC20xx>, coco:<instances.json>, imagenet:<dir>, wds:<shards>, hf:<dir>, "
                                "cifar10:<root> and other torchvision sets, with ,key=value options "
                                "(README, Data); @N images per class."),
    task: str = typer.Option("zsl", help=TASKS_HELP),
    split: Optional[str] = typer.Option(None, help="zsl: split name or JSON file; without one all classes are seen."),
    method: str = typer.Option("clip", help="Tasks other than zsl: clip or conse."),
    templates: Optional[str] = typer.Option(None, help="Prompt templates (clip, zeroshot_/multilabel_classification): "
                                            "openai, simple, photo, a dataset's set (cifar10, voc2007, ...), a file; "
                                            "default: the dataset's own as CLIP reported them, else openai."),
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
    calibrate: bool = typer.Option(False, help="zsl: calibrated stacking; gamma chosen on the split's validation "
                                   "classes, u/s/H there, AUSUC, and the seen-unseen curve plot in --out."),
    csls: bool = typer.Option(False, help="zsl: hubness-corrected (CSLS) nearest-label inference, k chosen on the "
                              "split's validation classes; hubness reported with and without it."),
    device: str = DEVICE, precision: str = PRECISION, workers: Optional[int] = WORKERS,
):
    """Evaluate one model on one dataset and task; write one JSON result and print a table."""
    from labelspace.evaluation import TASKS, evaluate, init_distributed, write_result
    from labelspace.evaluation.tasks import LABEL_TASKS

    check_output_dir(out_dir)
    if task not in ("zsl", *TASKS):
        raise LabelspaceError(f"unknown task {task!r} (accepted: zsl, {', '.join(TASKS)})")
    zsl = ("zsl",)
    refuse_unused_options(task, [
        ("--image-model", image_model is not None, zsl), ("--split", split is not None, zsl),
        ("--conse-top-t", conse_top_t is not None, zsl), ("--no-hp", not hierarchy, zsl),
        ("--wordnet-overrides", wordnet_overrides is not None, zsl), ("--method", method != "clip", TASKS),
        ("--templates", templates is not None, (*LABEL_TASKS, "zsl")), ("--distributed", distributed, TASKS),
        ("--train-dataset", train_dataset is not None, ("linear_probe",)),
        ("--shots", shots is not None, ("linear_probe",)), ("--calibrate", calibrate, zsl), ("--csls", csls, zsl)])
    if task != "zsl" and method == "clip" and text_model is not None:
        raise LabelspaceError("--text-model does not apply to --method clip (the CLIP model encodes the label text)")
    if task != "zsl" and method == "conse" and templates is not None:
        raise LabelspaceError("--templates does not apply to --method conse (it encodes the bare class names)")
    if task == "zsl":
        result = zsl_result(model, dataset, split, image_model, text_model, conse_top_t, hierarchy,
                            wordnet_overrides, root, calibrate, csls, templates, device, precision, workers)
        path = write_result(out_dir, result)
        print_result(result, path)
        if calibrate:
            from labelspace.evaluation.curves import plot_seen_unseen, result_curves

            out.print(f"seen-unseen curve written to {plot_seen_unseen(result_curves([result]), path.with_suffix('.png'))}")
        return
    rank = init_distributed()[0] if distributed else 0  # NCCL with each rank on its LOCAL_RANK GPU, gloo on CPU
    result = evaluate(task, model, dataset, method=method, templates=templates, text_model=text_model or "glove-6b-50d",
                      train_dataset=train_dataset, shots=shots, root=root, out_dir=out_dir, batch_size=batch_size,
                      device=device, precision=precision, workers=workers)
    if rank == 0:
        print_result(result, result["path"])
