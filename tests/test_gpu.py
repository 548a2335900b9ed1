"""End to end on an accelerator: the CLI trains, exports, evaluates, analyses and classifies there, and the
device gives the CPU's embeddings, classifier weights and metrics within stated tolerances.

The device under test is ``$LABELSPACE_TEST_DEVICE`` (default ``cuda``); the tests are skipped when it is
not available. ``LABELSPACE_TEST_DEVICE=cpu pytest -m gpu tests/test_gpu.py`` runs the same checks on
the CPU. Models: CLIP text towers, small ``wordvec:`` files written here, EfficientNet-Lite0 (GloVe and
MiniLM are not needed). Tolerances (fp32; TF32 off): embeddings cosine >= 0.9999, classifier weights
within 1e-4, ConSE scores within 1e-3, accuracy equal.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from labelspace.errors import LabelspaceError

DEVICE = os.environ.get("LABELSPACE_TEST_DEVICE", "cuda")
LABELS = ["cat", "rocket", "coffee", "flower"]


def _available() -> bool:
    from labelspace.devices import resolve_device

    try:
        resolve_device(DEVICE)
        return True
    except LabelspaceError:
        return False


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _available(), reason=f"device {DEVICE} not available")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`labelspace train clip` on the device, with export (the CUDA crash was in the export's probe)."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("clip")
    run = subprocess.run([sys.executable, "-m", "labelspace.cli", "train", "clip", "--data", "synthetic-captions@256",
                          "--steps", "3", "--batch-size", "64", "--checkpoint-every", "3", "--out", str(out),
                          "--device", DEVICE, "--workers", "1"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (out / "model.safetensors").is_file()
    return out / "model.safetensors"


@pytest.fixture(scope="module")
def wordvec(tmp_path_factory):
    """A small word-vector file covering Fashion-MNIST's names and a slice of ImageNet's (seeded)."""
    from labelspace.data.datasets import FASHION_MNIST_CLASSES
    from labelspace.encoders.image import imagenet_labels
    from labelspace.encoders.text import label_tokens

    names = FASHION_MNIST_CLASSES + imagenet_labels()[0] + LABELS
    words = sorted({t for name in names for t in label_tokens(name, _Everything())})
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("wordvec") / "vectors.txt"
    path.write_text("".join(f"{w} {' '.join(f'{v:.5f}' for v in rng.standard_normal(16))}\n" for w in words))
    return f"wordvec:{path}"


class _Everything:
    """Every word is known: ``label_tokens`` then splits labels on spaces and hyphens only."""

    def __contains__(self, word):
        return " " not in word and "-" not in word


def _cosine_min(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


@pytest.fixture(autouse=True)
def _no_tf32():
    previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous


def test_exported_model_gives_cpu_embeddings_weights_and_metrics(trained, tmp_path, cli_main):
    from labelspace.data import extract_features, fashion_mnist
    from labelspace.models import load_clip
    from labelspace.zeroshot import build_classifier

    data = fashion_mnist("test").per_class(3)
    models = {d: load_clip(str(trained), d) for d in ("cpu", DEVICE)}
    feats = {d: extract_features(m, data, use_cache=False, progress=False, preprocess="cpu") for d, m in models.items()}
    assert _cosine_min(feats["cpu"].features, feats[DEVICE].features) >= 0.9999
    weights = {d: build_classifier(m, data.class_names, "simple", use_cache=False) for d, m in models.items()}
    assert np.abs(weights["cpu"] - weights[DEVICE]).max() < 1e-4
    results = {}
    for d in ("cpu", DEVICE):
        code, _, err = cli_main("eval", "--task", "zeroshot_classification", "--model", str(trained), "--dataset",
                                "fashion-mnist:test@3", "--templates", "simple", "--device", d,
                                "--out", str(tmp_path / d))
        assert code in (0, None), err
        results[d] = json.loads(next((tmp_path / d).glob("*.json")).read_text())["metrics"]
    assert results["cpu"]["acc1"] == results[DEVICE]["acc1"]


def test_analyze_and_classify_on_the_device(wordvec, tmp_path, cli_main):
    from labelspace.api import classify
    from labelspace.data import bundled_photos

    code, _, err = cli_main("analyze", "-d", "fashion-mnist:test@2", "-i", "efficientnet-lite0", "-t", wordvec,
                            "--bootstrap", "0", "--permutations", "9", "--device", DEVICE, "--out", str(tmp_path))
    assert code in (0, None), err
    assert (tmp_path / "results.json").is_file()
    photos = bundled_photos()
    images = [str(p) for p in photos.paths[:2]]
    ranked = {d: classify(images, LABELS, "conse", text_model=wordvec, top=4, device=d) for d in ("cpu", DEVICE)}
    for a, b in zip(ranked["cpu"], ranked[DEVICE]):
        scores = {x["label"]: x["score"] for x in a}
        assert all(abs(scores[x["label"]] - x["score"]) < 1e-3 for x in b)


def test_fp16_training_loss_falls_and_resume_is_exact(tmp_path):
    """fp16 with the gradient scaler on the device: the loss falls (the CPU test's 120 steps), and a run stopped
    at step 60 and resumed (scaler state from the checkpoint) ends with the uninterrupted run's weights, bit for bit."""
    from labelspace.data.captions import synthetic_captions
    from labelspace.devices import resolve_device, resolve_precision
    from labelspace.models.trainable import ModelSpec, TrainableCLIP
    from labelspace.training.clip_trainer import ClipTrainConfig, train_clip

    try:
        resolve_precision("fp16", resolve_device(DEVICE))
    except LabelspaceError as e:
        pytest.skip(str(e))
    data = synthetic_captions(1500, seed=0)
    config = ClipTrainConfig(steps=120, batch_size=64, lr=2e-3, warmup=10, checkpoint_every=60, precision="fp16")

    def run(folder, stop_at=None, resume=False):
        model = TrainableCLIP(ModelSpec())
        state = train_clip(model, data, ClipTrainConfig(**{**config.__dict__, "stop_at": stop_at}), folder,
                           resume=resume, progress=False, log=lambda _: None, device=DEVICE, workers=1)
        return model, state

    whole, state = run(tmp_path / "whole")
    losses = [h["loss"] for h in state.history]
    assert len(losses) >= 110 and np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    run(tmp_path / "cut", stop_at=60)
    resumed, _ = run(tmp_path / "cut", resume=True)
    expected = whole.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in resumed.state_dict().items())
