"""``labelspace train clip``: train a CLIP model (open_clip architecture or composed towers) on image-caption data.

Runs as one process, or under ``torchrun --nproc-per-node N`` with DDP (each process reads its slice).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from labelspace.cli import DEVICE, PREPROCESS, WORKERS
from labelspace.cli.train import train_app
from labelspace.errors import LabelspaceError
from labelspace.io import check_output_dir


@train_app.command("clip")
def clip(
    data: str = typer.Option("synthetic-captions@4000", help="Caption source (labelspace list): captions:<file>, "
                             "folder:<dir>, wds:<shards>, synthetic-captions[@N]."),
    model: str = typer.Option("open_clip:ls-clip-tiny", help="open_clip:<arch>[/<tag>] or 'towers' (with --image, --text)."),
    image: Optional[str] = typer.Option(None, help="Image tower: timm:<name> or efficientnet-lite0|1|2."),
    text: Optional[str] = typer.Option(None, help="Text tower: transformer:<width>x<layers>, minilm or hf:<dir>."),
    embed_dim: int = typer.Option(64), proj: str = typer.Option("linear", help="linear or mlp."),
    pretrained_image: bool = typer.Option(False, help="timm hub weights for a timm image tower."),
    image_size: int = typer.Option(224), context_length: int = typer.Option(32),
    loss: str = typer.Option("clip", help="clip (InfoNCE) or siglip (sigmoid)."),
    lock_image: bool = typer.Option(False, help="Freeze the image tower (LiT)."),
    unlocked_image_groups: int = typer.Option(0), lock_text: bool = typer.Option(False),
    unlocked_text_layers: int = typer.Option(0),
    steps: int = typer.Option(300), batch_size: int = typer.Option(128, help="Global batch over all processes."),
    lr: float = typer.Option(2e-3), weight_decay: float = typer.Option(0.1), warmup: int = typer.Option(20),
    accum: int = typer.Option(1, help="Micro-batches per step (features cached, whole-batch negatives)."),
    precision: str = typer.Option("fp32", help="fp32, bf16 (autocast, CPU and CUDA) or fp16 (autocast with a "
                                   "gradient scaler; CUDA)."),
    grad_checkpointing: bool = typer.Option(False), seed: int = typer.Option(0),
    checkpoint_every: int = typer.Option(100), eval_every: int = typer.Option(0, help="0: at the end only."),
    eval_retrieval: Optional[str] = typer.Option(None, help="Caption CSV (path,caption) for recall@k."),
    eval_zeroshot: Optional[str] = typer.Option(None, help="Labelled dataset spec for zero-shot accuracy."),
    templates: str = typer.Option("simple", help="Templates for folder captions and zero-shot evaluation."),
    label_aware: bool = typer.Option(False, help="Pairs of the same class are positives of one another (UniCL "
                                     "targets); needs labelled data: folder:<dir>."),
    out: Path = typer.Option(Path("runs/clip"), help="Checkpoint and metrics folder."),
    resume: Optional[str] = typer.Option(None, help="'latest' (the --out checkpoint) or a checkpoint folder."),
    tensorboard: Optional[str] = typer.Option(None, help="TensorBoard log folder."),
    stop_at: Optional[int] = typer.Option(None, help="Leave after this step with a checkpoint (time-sliced jobs)."),
    log_every: int = typer.Option(50, min=0, help="Print loss, logit scale and samples/s every N steps (0: never)."),
    root: Optional[str] = typer.Option(None, help="Fashion-MNIST folder for the synthetic sets."),
    device: str = DEVICE, workers: Optional[int] = WORKERS, preprocess: str = PREPROCESS,
) -> None:
    """Train CLIP with AdamW, warmup + cosine, atomic checkpoints every N steps and exact --resume."""
    from labelspace.data.captions import caption_data
    from labelspace.devices import resolve_device
    from labelspace.distributed import process_group
    from labelspace.models.trainable import ModelSpec, TrainableCLIP
    from labelspace.training.clip_trainer import ClipTrainConfig, train_clip

    with process_group(resolve_device(device)) as (rank, _):  # destroyed at the end, errors included
        if resume not in (None, "latest"):
            out = Path(resume)
            if not out.is_dir():
                raise LabelspaceError(f"--resume {resume!r} is neither 'latest' nor a checkpoint folder")
        check_output_dir(out)
        spec = ModelSpec(model=model, image=image, text=text, embed_dim=embed_dim, proj=proj,
                         pretrained_image=pretrained_image, image_size=image_size, context_length=context_length,
                         loss=loss, lock_image=lock_image, unlocked_image_groups=unlocked_image_groups,
                         lock_text=lock_text, unlocked_text_layers=unlocked_text_layers, seed=seed)
        config = ClipTrainConfig(steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, warmup=warmup,
                                 accum=accum, precision=precision, grad_checkpointing=grad_checkpointing, seed=seed,
                                 checkpoint_every=checkpoint_every, eval_every=eval_every, stop_at=stop_at,
                                 label_aware=label_aware)
        pairs = caption_data(data, templates, seed, root)
        evaluate = held_out_evaluator(data, eval_retrieval, eval_zeroshot, templates, seed, root, preprocess)
        net = TrainableCLIP(spec)
        log = print if rank == 0 else (lambda _: None)
        state = train_clip(net, pairs, config, out, resume=resume is not None, evaluate=evaluate, tensorboard=tensorboard,
                           log=log, log_every=log_every, device=device, workers=workers,
                           preprocess=preprocess)
        if rank == 0 and state.step < config.steps:
            log(f"stopped at step {state.step} of {config.steps} (--stop-at); the checkpoint is "
                f"{out / 'checkpoint.safetensors'}; continue with the same command plus --resume latest")
        if rank == 0 and state.step == config.steps:
            report_end(net, state, pairs, out, log)


def held_out_evaluator(data: str, eval_retrieval, eval_zeroshot, templates: str, seed: int, root,
                       preprocess: str = "auto"):
    """Retrieval recall@k and zero-shot accuracy on held-out sets: the synthetic set's own, or the given ones."""
    from labelspace.data import load_dataset
    from labelspace.data.captions import COMPOSITIONAL_TEMPLATES, compositional_set, synthetic_captions
    from labelspace.data.eval_sets import captions_csv
    from labelspace.evaluation.clip_training import clip_evaluator

    retrieval = zeroshot = None
    zs_templates = templates
    if data.startswith("synthetic-captions"):
        retrieval = synthetic_captions(200, "test", seed=seed + 1, root=root).retrieval_set()
        zeroshot, zs_templates = compositional_set(300, seed=seed + 2, root=root), COMPOSITIONAL_TEMPLATES
    if eval_retrieval:
        retrieval = captions_csv(eval_retrieval)
    if eval_zeroshot:
        zeroshot, zs_templates = load_dataset(eval_zeroshot, root), templates
    return clip_evaluator(retrieval, zeroshot, templates=zs_templates, preprocess=preprocess) \
        if retrieval or zeroshot else None


def report_end(net, state, pairs, out: Path, log) -> None:
    """The last step's numbers, and how to evaluate what was trained."""
    last = state.history[-1]
    log(f"step {state.step}: loss {last['loss']:.4f}, logit scale {last['logit_scale']:.2f}, "
        f"{last['samples_per_s']:.0f} samples/s ({last['samples_per_s_per_process']:.0f} per process); "
        f"truncated captions {net.truncated}, skipped pairs {pairs.skipped}; checkpoint in {out}")
    if net.spec.model.startswith("open_clip:"):
        from labelspace.models.trainable import export_open_clip

        path = export_open_clip(net, out / "model.safetensors")
        log(f"exported {path}; evaluate it with `labelspace eval --task zeroshot_classification --model {path} "
            "--dataset ...`")
    else:
        log(f"evaluate it with `labelspace eval --task zeroshot_classification --model run:{out} --dataset ...`")
