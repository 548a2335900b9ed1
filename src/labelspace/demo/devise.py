"""Demo section: DeViSE against its baselines on a fixed zero-shot split of Fashion-MNIST.

Features: EfficientNet-Lite0 pooled 1280-d, cached. Training uses the seen-class images of
``fashion_mnist("train").per_class(TRAIN_PER_CLASS)``; evaluation uses the ConSE section's test subset.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from labelspace.encoders import load_image_encoder
from labelspace.data import extract_features, fashion_mnist
from labelspace.data.splits import class_rows, load_split
from labelspace.encoders import load_text_encoder
from labelspace.evaluation import evaluate_split
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


@lru_cache(maxsize=2)  # the CLIP-training section puts its LiT row into this same table
def run_all(root=None, test_per_class: int = 100) -> tuple[dict[str, list[float]], dict]:
    """Train every model of the table on the split's seen classes; their metrics on the test subset."""
    split = load_split(SPLIT)
    encoder = load_image_encoder("efficientnet-lite0")
    pool = fashion_mnist("train", root).per_class(TRAIN_PER_CLASS)
    seen_only = pool.subset(np.flatnonzero(class_rows(pool.targets, pool.class_names, split.seen)[0]),
                            f"{pool.name}[seen of {SPLIT}]")
    train = extract_features(encoder, seen_only, progress=False)
    test = extract_features(encoder, fashion_mnist("test", root).per_class(test_per_class), progress=False)
    x, y, names = np.asarray(train.features), train.targets, train.class_names
    glove = load_text_encoder("glove-6b-50d")
    rows, chosen = {}, {}
    softmax, report = fit_on_split("softmax", x, y, names, split, CONFIG, GRID)
    chosen["softmax"] = report["chosen"]
    rows["softmax"] = row(evaluate_split(softmax, test.features, test.targets, names, split))
    for title, text_model in [("DeViSE-GloVe", "glove-6b-50d"), ("DeViSE-MiniLM", "minilm"),
                              (f"DeViSE-random ({glove.dim}-d)", f"random:{glove.dim}")]:
        model, report = fit_on_split("devise", x, y, names, split, CONFIG, GRID, load_text_encoder(text_model))
        chosen[title] = report["chosen"]
        rows[title] = row(evaluate_split(model, test.features, test.targets, names, split))
    rows[f"ConSE (softmax, GloVe, T={CONSE_T})"] = row(
        evaluate_split(conse_on(softmax, glove, CONSE_T), test.features, test.targets, names, split))
    return rows, chosen


def section(context) -> str:
    split = load_split(SPLIT)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the heads are tiny (batch 64 x 1280 -> 50): extra threads only contend
    try:
        rows, chosen = run_all(context.root, context.per_class)
    finally:
        torch.set_num_threads(threads)
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
    lines.append(compare_with_paper(rows))
    return "\n".join(lines)


def compare_with_paper(rows: dict[str, list[float]]) -> str:
    """The paper's shape, checked against this run's numbers (so the text never outlives them)."""
    col = {name: i for i, name in enumerate(COLUMNS)}
    names = list(rows)
    softmax, semantic, random = names[0], names[1:3], names[3]

    def verdict(ok: bool) -> str:
        return "holds" if ok else "does not hold"

    best_hit1 = max(names, key=lambda n: rows[n][col["hit@1"]])
    parts = [f"Compared with the DeViSE paper: softmax best on flat hit@1 of seen classes "
             f"{verdict(best_hit1 == softmax)} here (best: {best_hit1}, {rows[best_hit1][col['hit@1']]:.3f})."]
    for metric in ("hP@2", "hP@5", "ZSL top-1"):
        wins = [n for n in semantic if rows[n][col[metric]] > rows[random][col[metric]]]
        parts.append(f"Semantic label spaces beat random on {metric}: {len(wins)} of {len(semantic)} "
                     f"({', '.join(f'{n} {rows[n][col[metric]]:.3f}' for n in semantic)} vs random "
                     f"{rows[random][col[metric]]:.3f}).")
    top_u = max(names, key=lambda n: rows[n][col["GZSL u"]])
    parts.append(f"Highest GZSL u: {rows[top_u][col['GZSL u']]:.3f} ({top_u})" + (
        "; with seen labels among the candidates, unseen-class images go to seen labels: the seen-class bias "
        "Xian et al. report for DeViSE and ConSE." if rows[top_u][col["GZSL u"]] < 0.2 else "."))
    return " ".join(parts) + "\n"
