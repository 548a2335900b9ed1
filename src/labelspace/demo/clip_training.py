"""Demo section: CLIP training. (a) a tiny CLIP from scratch on the synthetic captioned set;
(b) LiT, frozen EfficientNet-Lite0 + MiniLM with trained projections, on the seen Fashion-MNIST classes,
scored on the DeViSE section's split in the same table as DeViSE and ConSE.
"""
from __future__ import annotations

import tempfile
import time

import numpy as np
import torch

from labelspace.data import extract_features, fashion_mnist
from labelspace.data.captions import COMPOSITIONAL_TEMPLATES, CaptionData, compositional_set, synthetic_captions
from labelspace.data.splits import class_rows, load_split
from labelspace.demo import devise
from labelspace.evaluation import evaluate_split
from labelspace.methods.clip import CLIPClassifier
from labelspace.models.trainable import EvalView, ModelSpec, TrainableCLIP
from labelspace.training.clip_eval import clip_evaluator
from labelspace.training.clip_trainer import ClipTrainConfig, train_clip
from labelspace.zeroshot.templates import template_set

SCRATCH = ClipTrainConfig(steps=200, batch_size=128, lr=2e-3, warmup=20, seed=0)
SCENES = 3000
LIT = ClipTrainConfig(steps=100, batch_size=70, lr=1e-3, warmup=10, weight_decay=0.0, seed=0)
LIT_SPEC = ModelSpec(model="towers", image="efficientnet-lite0", text="minilm", proj="linear", embed_dim=256,
                     lock_image=True, lock_text=True)
TEMPLATES = "fashion-mnist"


class FeaturePairs(CaptionData):
    """Cached tower outputs as training pairs: image trunk features and the pooled text of one of the
    class's prompts (chosen per image, seeded)."""

    def __init__(self, image_features: np.ndarray, targets: np.ndarray, prompt_features: torch.Tensor, seed: int = 0):
        self.images, self.targets, self.prompts = torch.from_numpy(np.array(image_features)), targets, prompt_features
        self.choice = np.random.default_rng(seed).integers(0, prompt_features.shape[1], len(targets))
        self.name = f"feature-pairs[{len(targets)}]"

    def __len__(self) -> int:
        return len(self.targets)

    def load(self, index: int):
        return self.images[index], self.prompts[self.targets[index], self.choice[index]]


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


def lit(root, per_class: int) -> tuple[list[str], list[float]]:
    split = load_split(devise.SPLIT)
    model = TrainableCLIP(LIT_SPEC)
    from labelspace.encoders import load_image_encoder

    encoder = load_image_encoder("efficientnet-lite0")  # the same weights as the locked tower: cached features
    pool = fashion_mnist("train", root).per_class(devise.TRAIN_PER_CLASS)
    seen_only = pool.subset(np.flatnonzero(class_rows(pool.targets, pool.class_names, split.seen)[0]),
                            f"{pool.name}[seen of {devise.SPLIT}]")
    train = extract_features(encoder, seen_only, progress=False)
    test = extract_features(encoder, fashion_mnist("test", root).per_class(per_class), progress=False)
    templates = template_set(TEMPLATES)
    names = train.class_names
    prompts = model.tower_features(texts=[t.replace("{}", c) for c in names for t in templates]).reshape(
        len(names), len(templates), -1)
    began = time.perf_counter()
    state = train_clip(model, FeaturePairs(train.features, train.targets, prompts), LIT, progress=False,
                       log=lambda _: None)
    seconds = time.perf_counter() - began
    model.eval()
    with torch.no_grad():
        embeddings = model.encode_image(torch.from_numpy(np.array(test.features))).numpy()
    with tempfile.TemporaryDirectory() as cache:
        metrics = evaluate_split(CLIPClassifier(EvalView(model, "lit"), templates, cache_dir=cache), embeddings,
                           test.targets, names, split)
    lines = [f"### (b) LiT: locked EfficientNet-Lite0 + MiniLM, trained projections, against DeViSE and ConSE\n",
             f"Both towers frozen; linear projections (1280->{LIT_SPEC.embed_dim}, 384->{LIT_SPEC.embed_dim}) and the "
             f"logit scale trained with the CLIP loss on the {len(train.targets)} seen-class images of "
             f"`fashion_mnist('train').per_class({devise.TRAIN_PER_CLASS})` (cached tower outputs), captions from "
             f"the `{TEMPLATES}` templates; {LIT.steps} steps of batch {LIT.batch_size} in {seconds:.1f} s "
             f"(loss {state.history[0]['loss']:.3f} -> {state.history[-1]['loss']:.3f}). Same split, test subset "
             f"(`fashion_mnist('test').per_class({per_class})`) and metrics as the DeViSE section.\n"]
    return lines, devise.row(metrics)


def section(context) -> str:
    lines = ["## CLIP training\n"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread beats two on a busy 2-core machine
    try:
        scratch_lines, _ = from_scratch(context.root)
        lit_lines, lit_row = lit(context.root, context.per_class)
    finally:
        torch.set_num_threads(threads)
    lines += scratch_lines
    lines += lit_lines
    rows, _ = devise.run_all(context.root, context.per_class)
    lines += ["| model | " + " | ".join(devise.COLUMNS) + " |", "|---" * (len(devise.COLUMNS) + 1) + "|"]
    for name, values in {**rows, "LiT (EfficientNet-Lite0 + MiniLM, CLIP loss)": lit_row}.items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    lines.append("\nZSL top-1: unseen images against the 3 unseen labels (chance 0.333).\n")
    return "\n".join(lines)
