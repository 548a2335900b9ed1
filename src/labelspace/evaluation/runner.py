"""``evaluate``: one task on one model and dataset, from spec strings, written as one result JSON.

This is what the CLI calls; it resolves specs, runs ``tasks`` and writes the result on rank 0.
"""
from __future__ import annotations

import os
import time

from labelspace.distributed import rank_and_world
from labelspace.errors import LabelspaceError
from labelspace.evaluation import tasks
from labelspace.data import load_dataset
from labelspace.evaluation.results import write_result
from labelspace.methods import DEFAULT_IMAGE_MODEL, create_classifier


def evaluate(task: str, model: str | None, dataset: str, method: str = "clip", templates=None,
             text_model: str | None = None, train_dataset: str | None = None, shots: int | None = None,
             root: str | None = None, out_dir: str | os.PathLike | None = None, batch_size: int = 64,
             checkpoint: str | None = None) -> dict:
    """Run ``task`` and return ``{task, method, model, dataset, ..., metrics}``; with ``out_dir`` also write it.

    ``method`` is any method spec (``labelspace list``); ``model`` its image or CLIP model where the spec leaves
    it out. The result names the label text the classifier used (its templates, its text model)."""
    if task not in tasks.TASKS:
        raise LabelspaceError(f"unknown task {task!r} (accepted: {', '.join(tasks.TASKS)}; zsl: evaluate_split)")
    model = model or DEFAULT_IMAGE_MODEL.get(method, "")
    start = time.perf_counter()
    data = load_dataset(dataset, root)
    scorer = create_classifier(method, image_model=model, text_model=text_model, templates=templates,
                               checkpoint=checkpoint)
    if task == "zeroshot_retrieval":
        if not hasattr(getattr(scorer, "model", None), "encode_text"):
            raise LabelspaceError(f"zeroshot_retrieval needs an image-text model (method clip), not {method!r}")
        if not isinstance(data, tasks.CaptionSet):
            raise LabelspaceError(f"zeroshot_retrieval needs a captioned dataset (captions:<csv>), not {dataset!r}")
        metrics = tasks.zeroshot_retrieval(scorer.model, data, batch_size=batch_size)
    elif task == "multilabel_classification":
        if not isinstance(data, tasks.MultiLabelSet):
            raise LabelspaceError(f"multilabel_classification needs multilabel:<csv>, not {dataset!r}")
        metrics = tasks.multilabel_classification(scorer, data, batch_size=batch_size)
    elif isinstance(data, (tasks.CaptionSet, tasks.MultiLabelSet)):
        raise LabelspaceError(f"{task} needs a labelled image dataset, not {dataset!r}")
    elif task == "linear_probe":
        if not train_dataset:
            raise LabelspaceError("linear_probe needs --train-dataset (e.g. fashion-mnist:train@100)")
        metrics = tasks.linear_probe(scorer.image_encoder, load_dataset(train_dataset, root), data, shots=shots,
                                     batch_size=batch_size)
    else:
        metrics = tasks.zeroshot_classification(scorer, data, batch_size=batch_size)
    labels = task in tasks.LABEL_TASKS
    result = {"task": task + (f"-{shots}shot" if task == "linear_probe" and shots else ""), "method": method,
              "model": model, "dataset": dataset, "templates": getattr(scorer, "templates", None) if labels else None,
              "text_model": getattr(getattr(scorer, "text_encoder", None), "name", None) if labels else None,
              "train_dataset": train_dataset,
              "processes": rank_and_world()[1],
              "seconds": round(time.perf_counter() - start, 3), "metrics": metrics}
    if out_dir is not None and rank_and_world()[0] == 0:
        result["path"] = str(write_result(out_dir, result))
    return result
