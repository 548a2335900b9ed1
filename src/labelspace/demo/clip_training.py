"""Demo section: CLIP training. (a) a tiny CLIP from scratch on the synthetic captioned set;
(b) LiT, frozen EfficientNet-Lite0 + MiniLM with trained projections, on the seen Fashion-MNIST classes,
with the plain CLIP loss and with label-aware targets, scored on the DeViSE section's split in the same
tables as DeViSE and ConSE (calibrated stacking and CSLS included), with every model's seen-unseen curve.
"""
from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import replace

import numpy as np
import torch

from labelspace.data import extract_features, fashion_mnist
from labelspace.data.captions import COMPOSITIONAL_TEMPLATES, CaptionData, compositional_set, synthetic_captions
from labelspace.data.splits import class_rows, load_split
from labelspace.demo import devise
from labelspace.evaluation.curves import plot_seen_unseen
from labelspace.methods import Classifier
from labelspace.methods.clip import CLIPClassifier
from labelspace.models.trainable import EvalView, ModelSpec, TrainableCLIP
from labelspace.evaluation.clip_training import clip_evaluator
from labelspace.training.clip_trainer import ClipTrainConfig, train_clip
from labelspace.prompts import class_prompts, template_set

SCRATCH = ClipTrainConfig(steps=200, batch_size=128, lr=2e-3, warmup=20, seed=0)
SCENES = 3000
LIT = ClipTrainConfig(steps=100, batch_size=70, lr=1e-3, warmup=10, weight_decay=0.0, seed=0)
LIT_VARIANTS = {"LiT (EfficientNet-Lite0 + MiniLM, CLIP loss)": False, "LiT, label-aware targets": True}
LIT_SPEC = ModelSpec(model="towers", image="efficientnet-lite0", text="minilm", proj="linear", embed_dim=256,
                     lock_image=True, lock_text=True)
TEMPLATES = "fashion-mnist"


class FeaturePairs(CaptionData):
    """Cached tower outputs as training pairs: image trunk features and the pooled text of one of the
    class's prompts (chosen per image, seeded), with the class index for label-aware targets."""

    def __init__(self, image_features: np.ndarray, targets: np.ndarray, prompt_features: torch.Tensor, seed: int = 0):
        self.images, self.targets, self.prompts = torch.from_numpy(np.array(image_features)), targets, prompt_features
        self.choice = np.random.default_rng(seed).integers(0, prompt_features.shape[1], len(targets))
        self.name = f"feature-pairs[{len(targets)}]"

    def __len__(self) -> int:
        return len(self.targets)

    def load(self, index: int):
        return self.images[index], self.prompts[self.targets[index], self.choice[index]], int(self.targets[index])


class LiTClassifier(Classifier):
    """A trained LiT as a ``Classifier`` over cached image-trunk features: the trained image projection, then
    CLIP zero-shot scoring against prompt-ensembled label embeddings."""

    def __init__(self, model: TrainableCLIP, templates, cache_dir, validation_model=None):
        self.view = EvalView(model, "lit")
        self.clip = CLIPClassifier(self.view, templates, cache_dir=cache_dir)
        self.validation_model = validation_model

    def scores(self, features, labels, templates=None) -> np.ndarray:
        return self.clip.scores(self.view.encode_image(torch.from_numpy(np.array(features))).numpy(), labels,
                                templates)


def from_scratch(root) -> tuple[list[str], dict]:
    data = synthetic_captions(SCENES, "train", seed=0, root=root)
    held = synthetic_captions(200, "test", seed=1, root=root).retrieval_set()
    evaluate_fn = clip_evaluator(held, compositional_set(300, seed=2, root=root), templates=COMPOSITIONAL_TEMPLATES)
    model = TrainableCLIP(ModelSpec())
    began = time.perf_counter()
    state = train_clip(model, data, SCRATCH, evaluate=evaluate_fn, progress=False, log=lambda _: None)
    seconds = time.perf_counter() - began
    h, e = state.history, state.evaluations[-1]
    lines = ["### (a) A tiny CLIP from scratch on synthetic captioned scenes\n",
             f"`open_clip:ls-clip-tiny` (56 px ViT, patch 14, 2 layers width 64; text transformer 2 layers width 64), "
             f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, random init. Training: "
             f"`synthetic_captions({SCENES})` (Fashion-MNIST train items coloured and placed, 1-2 per scene, "
             f"held-out colour-item pairs never shown), {SCRATCH.steps} steps of batch {SCRATCH.batch_size}, AdamW "
             f"lr {SCRATCH.lr}, warmup {SCRATCH.warmup} + cosine: {seconds:.0f} s on one thread, "
             f"{np.median([r['samples_per_s'] for r in h]):.0f} samples/s (median).\n",
             f"Loss {np.mean([r['loss'] for r in h[:10]]):.3f} (first 10 steps) -> "
             f"{np.mean([r['loss'] for r in h[-10:]]):.3f} (last 10); logit scale {h[-1]['logit_scale']:.1f}.\n",
             "| held-out evaluation | value | chance |", "|---|---|---|",
             f"| image->text recall@1, 200 new test-split scenes | {e['text_retrieval_recall@1']:.3f} | {e['retrieval_chance@1']:.3f} |",
             f"| text->image recall@1 | {e['image_retrieval_recall@1']:.3f} | {e['retrieval_chance@1']:.3f} |",
             f"| text->image recall@5 | {e['image_retrieval_recall@5']:.3f} | {5 * e['retrieval_chance@1']:.3f} |",
             f"| compositional zero-shot top-1, 300 single items in never-seen colour-item pairs, over all 60 pairs "
             f"| {e['zeroshot_acc1']:.3f} | {e['zeroshot_chance']:.3f} |",
             f"| compositional zero-shot top-5 | {e['zeroshot_acc5']:.3f} | {5 * e['zeroshot_chance']:.3f} |", ""]
    return lines, e


def lit(root, per_class: int) -> tuple[list[str], dict[str, dict]]:
    """Both LiT variants, each also fitted on the seen classes minus the validation classes (its
    ``validation_model`` for calibration and CSLS); their ``devise.evaluations`` on the test subset."""
    from labelspace.encoders import load_image_encoder

    split = load_split(devise.SPLIT)
    encoder = load_image_encoder("efficientnet-lite0")  # the same weights as the locked tower: cached features
    pool = fashion_mnist("train", root).per_class(devise.TRAIN_PER_CLASS)
    seen_only = pool.subset(np.flatnonzero(class_rows(pool.targets, pool.class_names, split.seen)[0]),
                            f"{pool.name}[seen of {devise.SPLIT}]")
    train = extract_features(encoder, seen_only, progress=False)
    test = extract_features(encoder, fashion_mnist("test", root).per_class(per_class), progress=False)
    templates = template_set(TEMPLATES)
    names = train.class_names
    initial = TrainableCLIP(LIT_SPEC)  # seeded: every fit starts from a copy of it
    texts = [p for class_list in class_prompts(names, templates) for p in class_list]
    prompts = initial.tower_features(texts=texts).reshape(len(names), len(templates), -1)
    features = np.asarray(train.features)
    not_validation = class_rows(train.targets, names, split.train)[0]

    def fit(rows, label_aware: bool):
        model = copy.deepcopy(initial)
        state = train_clip(model, FeaturePairs(features[rows], train.targets[rows], prompts),
                           replace(LIT, label_aware=label_aware), progress=False, log=lambda _: None)
        return model.eval(), state

    results, notes = {}, []
    with tempfile.TemporaryDirectory() as cache:
        for title, label_aware in LIT_VARIANTS.items():
            began = time.perf_counter()
            model, state = fit(np.ones(len(features), dtype=bool), label_aware)
            held_out, _ = fit(not_validation, label_aware)
            notes.append(f"{title}: loss {state.history[0]['loss']:.3f} -> {state.history[-1]['loss']:.3f}, "
                         f"{time.perf_counter() - began:.1f} s for both fits")
            classifier = LiTClassifier(model, templates, cache, LiTClassifier(held_out, templates, cache))
            results[title] = devise.evaluations(classifier, test, split)
    lines = ["### (b) LiT: locked EfficientNet-Lite0 + MiniLM, trained projections, against DeViSE and ConSE\n",
             f"Both towers frozen; linear projections (1280->{LIT_SPEC.embed_dim}, 384->{LIT_SPEC.embed_dim}) and the "
             f"logit scale trained on the {len(train.targets)} seen-class images of "
             f"`fashion_mnist('train').per_class({devise.TRAIN_PER_CLASS})` (cached tower outputs), captions from "
             f"the `{TEMPLATES}` templates; {LIT.steps} steps of batch {LIT.batch_size}. With the plain CLIP loss, "
             "the other images of the same class in a batch (about 10 per class in a batch of 70) are negatives, so "
             "captions of one class are pushed apart from their own images; label-aware targets (UniCL, Yang et al. "
             "2022) make every same-class pair a positive. Each variant is also fitted without the validation "
             "classes, for calibration and CSLS. " + "; ".join(notes) + ". Same split, test subset "
             f"(`fashion_mnist('test').per_class({per_class})`) and metrics as the DeViSE section.\n"]
    return lines, results


def section(context) -> str:
    lines = ["## CLIP training\n"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread beats two on a busy 2-core machine
    try:
        scratch_lines, _ = from_scratch(context.root)
        lit_lines, lit_rows = lit(context.root, context.per_class)
    finally:
        torch.set_num_threads(threads)
    lines += scratch_lines
    lines += lit_lines
    rows, _ = devise.run_all(context.root, context.per_class)
    everything = {**rows, **lit_rows}
    lines += devise.tables(everything)
    curves = {name: {**r["plain"]["curve"], "AUSUC": r["plain"]["calibrated"]["AUSUC"]}
              for name, r in everything.items()}
    plot = plot_seen_unseen(curves, context.out_dir / "seen_unseen.png")
    lines.append("\nZSL top-1: unseen images against the 3 unseen labels (chance 0.333). " + devise.CALIBRATION_TEXT)
    lines.append(f"Seen-unseen curves of every model (without CSLS): [{plot.name}]({plot.name})\n")
    return "\n".join(lines)
