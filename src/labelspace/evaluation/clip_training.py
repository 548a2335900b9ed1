"""Evaluation during CLIP training, through the evaluation tasks of ``labelspace.evaluation``.

The model in training is seen through ``EvalView`` (shared weights, no copies), a new view per
evaluation so no classifier weights are reused; nothing is cached on disk because the weights
change between evaluations. Templates are checked when the evaluator is made, before training.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence

from labelspace.evaluation.tasks import zeroshot_classification, zeroshot_retrieval
from labelspace.methods.clip import CLIPClassifier
from labelspace.models.trainable import EvalView
from labelspace.prompts import class_prompts


def clip_evaluator(retrieval=None, zeroshot=None, class_names: Sequence[str] | None = None,
                   templates="simple", ks: Sequence[int] = (1, 5), preprocess: str = "auto") -> Callable[[object], dict]:
    """``evaluate(model) -> dict``: retrieval recall@k on ``retrieval`` (a ``CaptionSet``) and zero-shot
    accuracy on ``zeroshot`` (an ``ImageDataset``, scored against ``class_names`` with ``templates``); images
    resized and normalised where ``preprocess`` says."""
    options = {"use_cache": False, "progress": False, "preprocess": preprocess}
    if zeroshot is not None:
        class_prompts(list(class_names or zeroshot.class_names), templates)  # bad templates fail now

    def evaluate(model) -> dict:
        view = EvalView(model, "clip-in-training")
        out = {}
        if retrieval is not None:
            recall = zeroshot_retrieval(view, retrieval, **options)
            out.update({k: v for k, v in recall.items() if k.endswith(tuple(f"@{k}" for k in ks))})
            out["retrieval_chance@1"] = 1 / len(retrieval.captions)
        if zeroshot is not None:
            with tempfile.TemporaryDirectory() as cache:
                scores = zeroshot_classification(CLIPClassifier(view, templates, cache_dir=cache), zeroshot,
                                                 class_names, **options)
            out.update({"zeroshot_acc1": scores["acc1"], "zeroshot_acc5": scores["acc5"],
                        "zeroshot_chance": 1 / len(zeroshot.class_names)})
        return out

    return evaluate
