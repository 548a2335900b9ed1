"""Demo section: DeViSE against its baselines on a fixed zero-shot split of Fashion-MNIST.

Features: EfficientNet-Lite0 pooled 1280-d, cached. Training uses the seen-class images of
``fashion_mnist("train").per_class(TRAIN_PER_CLASS)``; evaluation uses the ConSE section's test subset.
"""
from __future__ import annotations

import numpy as np

from labelspace.api import quiet_load_image_encoder
from labelspace.data import extract_features, fashion_mnist
from labelspace.data.splits import load_split
from labelspace.encoders import load_text_encoder
from labelspace.evaluation.zsl import evaluate
from labelspace.methods.trained import conse_on, fit_on_split
from labelspace.training import TrainConfig

TRAIN_PER_CLASS = 100
SPLIT = "fashion-mnist-zsl"
CONFIG = TrainConfig(lr=1e-3, epochs=30, batch_size=64, patience=5, seed=0)
GRID = {"lr": [1e-3, 1e-2], "margin": [0.1, 0.5]}
CONSE_T = 3
COLUMNS = ["hit@1", "hit@2", "hit@5", "hP@2", "hP@5", "ZSL top-1", "GZSL u", "GZSL s", "GZSL H"]


def row(metrics: dict) -> list[float]:
    seen, gz = metrics["seen"], metrics["gzsl"]
    return [seen["hit@1"], seen["hit@2"], seen["hit@5"], seen["hP@2"], seen["hP@5"],
            metrics["zsl"]["per_class_top1"], gz["u"], gz["s"], gz["H"]]


def run_all(root=None, test_per_class: int = 100) -> tuple[dict[str, list[float]], dict]:
    """Train every model of the table on the split's seen classes; their metrics on the test subset."""
    split = load_split(SPLIT)
    encoder = quiet_load_image_encoder("efficientnet-lite0")
    train = extract_features(encoder, fashion_mnist("train", root).per_class(TRAIN_PER_CLASS), progress=False)
    test = extract_features(encoder, fashion_mnist("test", root).per_class(test_per_class), progress=False)
    x, y, names = np.asarray(train.features), train.targets, train.class_names
    glove = load_text_encoder("glove-6b-50d")
    rows, chosen = {}, {}
    softmax, report = fit_on_split("softmax", x, y, names, split, CONFIG, GRID)
    chosen["softmax"] = report["chosen"]
    rows["softmax"] = row(evaluate(softmax, test.features, test.targets, names, split))
    for title, text_model in [("DeViSE-GloVe", "glove-6b-50d"), ("DeViSE-MiniLM", "minilm"),
                              (f"DeViSE-random ({glove.dim}-d)", f"random:{glove.dim}")]:
        model, report = fit_on_split("devise", x, y, names, split, CONFIG, GRID, load_text_encoder(text_model))
        chosen[title] = report["chosen"]
        rows[title] = row(evaluate(model, test.features, test.targets, names, split))
    rows[f"ConSE (softmax, GloVe, T={CONSE_T})"] = row(
        evaluate(conse_on(softmax, glove, CONSE_T), test.features, test.targets, names, split))
    return rows, chosen


def section(context) -> str:
    split = load_split(SPLIT)
    rows, chosen = run_all(context.root, context.per_class)
    lines = ["## DeViSE on a zero-shot split of Fashion-MNIST\n",
             f"Split `{SPLIT}`: seen {', '.join(split.seen)}; unseen **{', '.join(split.unseen)}** "
             f"(validation classes for choosing hyper-parameters: {', '.join(split.validation)}). "
             f"Features: EfficientNet-Lite0, 1280-d. Training: the seen-class images of "
             f"`fashion_mnist('train').per_class({TRAIN_PER_CLASS})`; evaluation: "
             f"`fashion_mnist('test').per_class({context.per_class})`. Grid {GRID}, at most {CONFIG.epochs} "
             f"epochs with patience {CONFIG.patience}, AdamW, batch {CONFIG.batch_size}, seed {CONFIG.seed}.\n",
             "hit@k and hP@k: seen-class images against the 7 seen labels; ZSL: unseen images against the 3 unseen "
             "labels (chance 0.333); GZSL: all images against all 10 labels.\n",
             "| model | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, values in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    lines.append("\nChosen on the validation classes: " + "; ".join(
        f"{name} {', '.join(f'{k}={v}' for k, v in params.items())}" for name, params in chosen.items()) + ".\n")
    return "\n".join(lines)
