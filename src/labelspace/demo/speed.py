"""Classifier-building speed against open_clip's builder, measured side by side (in the demo and benchmarks/zeroshot.py).

open_clip pads every prompt to 77 tokens; labelspace runs causal text towers at the batch's real
length. open_clip's builder runs on the first ``reference_classes`` classes only and its time for
all classes is extrapolated per text; the weights of those classes are compared.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence

import numpy as np
import torch


def builder_speed(model, class_names: Sequence[str], templates: Sequence[str], reference_classes: int = 4,
                  cache_dir: str | None = None) -> dict:
    """Seconds and texts/s for labelspace vs open_clip, the max weight difference, and cached rebuild times."""
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="labelspace-speed-") as tmp:
            return builder_speed(model, class_names, templates, reference_classes, tmp)
    import open_clip

    from labelspace.prompts import class_prompts, fill
    from labelspace.zeroshot import build_classifier, clear_memory

    class_names, templates = list(class_names), list(templates)
    texts = len(class_names) * len(templates)
    tokens = model.tokenizer([p for class_list in class_prompts(class_names, templates) for p in class_list])
    start = time.perf_counter()
    ours = build_classifier(model, class_names, templates, cache_dir=cache_dir, use_cache=True)
    ours_s = time.perf_counter() - start
    shared = class_names[:reference_classes]
    start = time.perf_counter()
    with torch.no_grad(), model.autocast():  # on the model's device, in its precision, as ours
        reference = open_clip.build_zero_shot_classifier(model.net, model.tokenizer, shared,
                                                         [lambda c, t=t: fill(t, c) for t in templates],
                                                         device=model.device).float().cpu()  # .cpu() waits for a GPU
    reference_s = time.perf_counter() - start
    per_text = reference_s / (len(shared) * len(templates))
    disk_s = memory_s = float("inf")
    for _ in range(3):  # best of three: cached reads take milliseconds, so scheduling noise matters
        clear_memory()
        start = time.perf_counter()
        build_classifier(model, class_names, templates, cache_dir=cache_dir)
        disk_s = min(disk_s, time.perf_counter() - start)
        start = time.perf_counter()
        build_classifier(model, class_names, templates, cache_dir=cache_dir)
        memory_s = min(memory_s, time.perf_counter() - start)
    return {"texts": texts, "mean_tokens": float((tokens != 0).sum(1).float().mean()), "padded_tokens": tokens.shape[1],
            "ours_s": ours_s, "reference_classes": len(shared), "reference_s": reference_s,
            "reference_full_s": per_text * texts, "speedup": per_text * texts / ours_s,
            "max_diff": float(np.abs(ours[:len(shared)] - reference.T.numpy()).max()),
            "disk_s": disk_s, "memory_s": memory_s}
