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
from labelspace.data.vision_sets import spec_templates
from labelspace.evaluation.results import write_result
from labelspace.methods import DEFAULT_IMAGE_MODEL, create_classifier


def evaluate(task: str, model: str | None, dataset: str, method: str = "clip", templates=None,
             text_model: str | None = None, train_dataset: str | None = None, shots: int | None = None,
             root: str | None = None, out_dir: str | os.PathLike | None = None, batch_size: int = 64,
             checkpoint: str | None = None, device="cpu", precision: str = "fp32", workers: int | None = None,
             preprocess: str = "auto") -> dict:
    """Run ``task`` and return ``{task, method, model, dataset, ..., metrics}``; with ``out_dir`` also write it.

    ``templates=None``: for methods with templates, the dataset's own set as CLIP reported it (``cifar10:...``
    -> cifar10's), else the method's default.
    Models run on ``device`` in ``precision`` (``labelspace.devices``); ``workers`` decode images; ``preprocess``: where
    they are resized and normalised (``data.loader.PREPROCESS``: auto, cpu, device).

    ``method`` is any method spec (``labelspace list``); ``model`` its image or CLIP model where the spec leaves
    it out. The result names the label text the classifier used (its templates, its text model)."""
    if task not in tasks.TASKS:
        raise LabelspaceError(f"unknown task {task!r} (accepted: {', '.join(tasks.TASKS)}; zsl: evaluate_split)")
    if task == "linear_probe" and not train_dataset:  # before any model loads
        raise LabelspaceError("linear_probe needs --train-dataset (e.g. fashion-mnist:train@100)")
    model = model or DEFAULT_IMAGE_MODEL.get(method, "")
    start = time.perf_counter()
    data = load_dataset(dataset, root)
    scorer = create_classifier(method, image_model=model, text_model=text_model, templates=templates,
                               checkpoint=checkpoint, device=device, precision=precision)
    options = {"batch_size": batch_size, "workers": workers, "preprocess": preprocess}
    if templates is None and getattr(scorer, "templates", None) is not None:  # a method that fills templates
        scorer.templates = spec_templates(dataset) or scorer.templates  # the set's own, as CLIP reported them
    if task == "zeroshot_retrieval":
        if not hasattr(getattr(scorer, "model", None), "encode_text"):
            raise LabelspaceError(f"zeroshot_retrieval needs an image-text model (method clip), not {method!r}")
        if not isinstance(data, tasks.CaptionSet):
            raise LabelspaceError(f"zeroshot_retrieval needs a captioned dataset (captions:<csv>), not {dataset!r}")
        metrics = tasks.zeroshot_retrieval(scorer.model, data, **options)
    elif task == "multilabel_classification":
        if not isinstance(data, tasks.MultiLabelSet):
            raise LabelspaceError(f"multilabel_classification needs multilabel:<csv> or whole images with label sets "
                                  f"(voc:<dir>,view=images or coco:<json>,view=images), not {dataset!r}")
        metrics = tasks.multilabel_classification(scorer, data, **options)
    elif isinstance(data, (tasks.CaptionSet, tasks.MultiLabelSet)):
        raise LabelspaceError(f"{task} needs a labelled image dataset (one label per image: view=crops for "
                              f"VOC and COCO), not {dataset!r}")
    elif task == "linear_probe":
        metrics = tasks.linear_probe(scorer.image_encoder, load_dataset(train_dataset, root), data, shots=shots, **options)
    else:
        metrics = tasks.zeroshot_classification(scorer, data, **options)
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
