"""CLIP training, side by side in one run (CPU).

1. Training samples/s of labelspace's trainer vs open_clip's own training step (the body of
   ``open_clip_train.train.train_one_epoch``: ``model(images, texts)``, ``ClipLoss``, backward, AdamW,
   logit-scale clamp) on the same ``ls-clip-tiny`` model, batch and synthetic data, images preprocessed once.
2. Memory the loss holds for its backward pass as the global batch grows with the number of
   processes (256 pairs each):
   the local-loss form (local rows x global columns) vs the full global x global similarity matrix
   (autograd's saved tensors, measured with ``saved_tensors_hooks``).

    PYTHONPATH=src python benchmarks/train_clip.py
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from labelspace.data.captions import synthetic_captions
from labelspace.models.trainable import ModelSpec, TrainableCLIP
from labelspace.training.clip_losses import contrastive_loss
from labelspace.training.clip_trainer import ClipTrainConfig, train_clip

BATCH, STEPS, WARM = 128, 30, 5
LOCAL = 256


def labelspace_rate(data) -> float:
    model = TrainableCLIP(ModelSpec())
    state = train_clip(model, data, ClipTrainConfig(steps=STEPS, batch_size=BATCH, warmup=2), progress=False,
                       log=lambda _: None)
    return sorted(r["samples_per_s"] for r in state.history[WARM:])[len(state.history[WARM:]) // 2]


def open_clip_rate(data) -> float:
    import open_clip
    from open_clip.loss import ClipLoss

    from labelspace.data.captions import local_batches

    model = TrainableCLIP(ModelSpec())  # the same open_clip net, seeded; used through open_clip's own calls
    net, loss_fn = model.net.train(), ClipLoss()
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.1)
    tokenizer = open_clip.get_tokenizer("ls-clip-tiny")
    rates = []
    for step, items in zip(range(STEPS), local_batches(data, BATCH, seed=0)):
        began = time.perf_counter()
        images = torch.stack([model.transform(x) for x, _ in items])
        texts = tokenizer([c for _, c in items])
        optimizer.zero_grad()
        image_features, text_features, logit_scale = net(images, texts)
        loss = loss_fn(image_features, text_features, logit_scale)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            net.logit_scale.clamp_(0, 4.6052)
        rates.append(BATCH / (time.perf_counter() - began))
    return sorted(rates[WARM:])[len(rates[WARM:]) // 2]


def loss_memory(global_batch: int, world: int, local: bool, dim: int = 64) -> int:
    """Bytes the loss keeps for its backward pass in one process (autograd's saved tensors, counted once each),
    excluding the input features themselves: the memory that grows with the batch."""
    g = torch.Generator().manual_seed(0)
    image = F.normalize(torch.randn(global_batch, dim, generator=g), dim=-1).requires_grad_()
    text = F.normalize(torch.randn(global_batch, dim, generator=g), dim=-1).requires_grad_()
    n = global_batch // world if local else global_batch
    inputs = {image.untyped_storage().data_ptr(), text.untyped_storage().data_ptr()}
    saved = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in inputs:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = contrastive_loss(image[:n], text[:n], image, text, torch.tensor(14.3), 0)
    loss.backward()
    return sum(saved.values())


def main() -> None:
    torch.set_num_threads(1)
    data = synthetic_captions(2000)
    ours, theirs = labelspace_rate(data), open_clip_rate(data)
    print(f"training samples/s, ls-clip-tiny, batch {BATCH}, CPU 1 thread, median of steps {WARM}-{STEPS}:")
    print(f"  labelspace {ours:.0f}   open_clip step {theirs:.0f}   ratio {ours / theirs:.2f}x")
    print(f"loss memory kept for backward per process, {LOCAL} pairs per process, 64-d features:")
    print(f"  {'processes':>9} {'global batch':>12} {'local-loss MiB':>15} {'full matrix MiB':>16} {'ratio':>6}")
    for world in (2, 4, 8, 16, 32):
        batch = LOCAL * world
        local, full = loss_memory(batch, world, True), loss_memory(batch, world, False)
        print(f"  {world:>9} {batch:>12} {local / 2**20:>15.1f} {full / 2**20:>16.1f} {full / local:>6.1f}")


if __name__ == "__main__":
    main()
