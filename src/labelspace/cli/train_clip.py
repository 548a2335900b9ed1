"""``labelspace train clip``: train a CLIP model (open_clip architecture or composed towers) on image-caption data.

Runs as one process, or under ``torchrun --nproc-per-node N`` with DDP (each process reads its slice).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from labelspace.cli import DEVICE, PREPROCESS, WORKERS, refuse_unused_options
from labelspace.cli.train import train_app
from labelspace.errors import LabelspaceError
from labelspace.io import check_output_dir


@train_app.command("clip")
def clip(
    data: str = typer.Option("synthetic-captions@4000", help="Caption source (labelspace list): captions:<file>, "
                             "folder:<dir>, wds:<shards>, synthetic-captions[@N]."),
    model: str = typer.Option("open_clip:ls-clip-tiny", help="open_clip:<arch>[/<tag>] (its config sets the embedding "
                              "size, image size, context length and projections) or 'towers' (with --image, --text)."),
    image: Optional[str] = typer.Option(None, help="towers: image tower, timm:<name> or efficientnet-lite0|1|2."),
    text: Optional[str] = typer.Option(None, help="towers: text tower, transformer:<width>x<layers>, minilm or "
                                       "hf:<dir>."),
    embed_dim: Optional[int] = typer.Option(None, min=1, help="towers: size of the joint embedding (default 64)."),
    proj: Optional[str] = typer.Option(None, help="towers: linear or mlp projections into the embedding (default "
                                       "linear; the transformer text tower has linear only)."),
    pretrained_image: bool = typer.Option(False, help="towers: timm hub weights for a timm image tower."),
    image_size: Optional[int] = typer.Option(None, min=1, help="towers: input size of a timm image tower in px "
                                             "(default 224; EfficientNet-Lite has its own)."),
    context_length: Optional[int] = typer.Option(None, min=1, help="towers: caption tokens kept (default 32; longer "
                                                 "captions are truncated and counted)."),
    loss: str = typer.Option("clip", help="clip (InfoNCE) or siglip (sigmoid)."),
    lock_image: bool = typer.Option(False, help="Freeze the image tower (LiT)."),
    unlocked_image_groups: int = typer.Option(0, min=0, help="--lock-image: its last N layer groups stay trainable."),
    lock_text: bool = typer.Option(False, help="Freeze the text tower."),
    unlocked_text_layers: int = typer.Option(0, min=0, help="--lock-text: its last N layers stay trainable."),
    steps: int = typer.Option(300, min=1, help="Optimiser steps."),
    batch_size: int = typer.Option(128, min=1, help="Global batch over all processes."),
    lr: float = typer.Option(2e-3, help="Peak learning rate (AdamW), after warmup; cosine decay to 0."),
    weight_decay: float = typer.Option(0.1, min=0, help="AdamW weight decay (not on gains, biases, logit scale)."),
    warmup: int = typer.Option(20, min=0, help="Steps of linear learning-rate warmup."),
    accum: int = typer.Option(1, min=1, help="Micro-batches per step (features cached, whole-batch negatives)."),
    precision: str = typer.Option("fp32", help="fp32, bf16 (autocast, CPU and CUDA) or fp16 (autocast with a "
                                   "gradient scaler; CUDA)."),
    grad_checkpointing: bool = typer.Option(False, help="Recompute activations in backward: less memory, more time."),
    seed: int = typer.Option(0, min=0, help="Seed of the initialisation, the batch order and the synthetic data."),
    checkpoint_every: int = typer.Option(100, min=1, help="Save a checkpoint every N steps (and at the end)."),
    eval_every: int = typer.Option(0, min=0, help="Evaluate every N steps on the held-out sets (0: at the end only)."),
    eval_retrieval: Optional[str] = typer.Option(None, help="Caption CSV (path,caption) for recall@k."),
    eval_zeroshot: Optional[str] = typer.Option(None, help="Labelled dataset spec for zero-shot accuracy."),
    templates: str = typer.Option("simple", help="Templates for folder captions and zero-shot evaluation."),
    label_aware: bool = typer.Option(False, help="Pairs of the same class are positives of one another (UniCL "
                                     "targets); needs labelled data: folder:<dir>."),
    out: Path = typer.Option(Path("runs/clip"), help="Checkpoint and metrics folder."),
    resume: Optional[str] = typer.Option(None, help="'latest' (the --out checkpoint) or a checkpoint folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run in --out (refused without it)."),
    tensorboard: Optional[str] = typer.Option(None, help="TensorBoard log folder."),
    stop_at: Optional[int] = typer.Option(None, min=1, help="Leave after this step with a checkpoint (time-sliced "
                                          "jobs)."),
    log_every: int = typer.Option(50, min=0, help="Print loss, logit scale and samples/s every N steps (0: never)."),
    root: Optional[str] = typer.Option(None, help="Fashion-MNIST folder for the synthetic sets."),
    device: str = DEVICE, workers: Optional[int] = WORKERS, preprocess: str = PREPROCESS,
) -> None:
    """Train CLIP with AdamW, warmup + cosine, atomic checkpoints every N steps and exact --resume."""
    from labelspace.data.captions import caption_data
    from labelspace.devices import resolve_device
    from labelspace.distributed import process_group
    from labelspace.models.trainable import ModelSpec, TrainableCLIP
    from labelspace.notes import note
    from labelspace.training.checkpoint import check_new_run, remove_run
    from labelspace.training.clip_trainer import ClipTrainConfig, FinalEvaluationError, train_clip

    refuse_ignored_options(model, image, text, embed_dim, proj, pretrained_image, image_size, context_length,
                           lock_image, unlocked_image_groups, lock_text, unlocked_text_layers, data, label_aware,
                           templates, eval_every, eval_retrieval, eval_zeroshot)
    with process_group(resolve_device(device)) as (rank, world):  # destroyed at the end, errors included
        if resume not in (None, "latest"):
            out = Path(resume)
            if not out.is_dir():
                raise LabelspaceError(f"--resume {resume!r} is neither 'latest' nor a checkpoint folder")
        check_output_dir(out)
        check_new_run(out, resume is not None, overwrite)
        tower_options = {"embed_dim": embed_dim, "proj": proj, "image_size": image_size,
                         "context_length": context_length}
        spec = ModelSpec(model=model, image=image, text=text, pretrained_image=pretrained_image, loss=loss,
                         lock_image=lock_image, unlocked_image_groups=unlocked_image_groups, lock_text=lock_text,
                         unlocked_text_layers=unlocked_text_layers, seed=seed,
                         **{k: v for k, v in tower_options.items() if v is not None})  # None: ModelSpec's default
        config = ClipTrainConfig(steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, warmup=warmup,
                                 accum=accum, precision=precision, grad_checkpointing=grad_checkpointing, seed=seed,
                                 checkpoint_every=checkpoint_every, eval_every=eval_every, stop_at=stop_at,
                                 label_aware=label_aware)
        config.check(world)  # an uneven batch is refused before any data or model loads
        pairs = caption_data(data, templates, seed, root)
        evaluate = held_out_evaluator(data, eval_retrieval, eval_zeroshot, templates, seed, root, preprocess)
        net = TrainableCLIP(spec)
        log = print if rank == 0 else (lambda _: None)
        if overwrite and rank == 0:
            remove_run(out, ("metrics.json", "model.safetensors"))
        failure = None
        try:
            state = train_clip(net, pairs, config, out, resume=resume is not None, evaluate=evaluate,
                               tensorboard=tensorboard, log=log, log_every=log_every, device=device, workers=workers,
                               preprocess=preprocess)
        except FinalEvaluationError as e:  # the weights are saved: export them, then say what failed
            state, failure = e.state, e
        if rank == 0 and state.step < config.steps:
            log(f"stopped at step {state.step} of {config.steps} (--stop-at); the checkpoint is "
                f"{out / 'checkpoint.safetensors'}; continue with the same command plus --resume latest")
        if rank == 0 and state.step == config.steps:
            report_end(net, state, pairs, out, log)
        if failure is not None:
            if rank == 0:
                note(str(failure))
            raise typer.Exit(1)


def refuse_ignored_options(model: str, image, text, embed_dim, proj, pretrained_image: bool, image_size,
                           context_length, lock_image: bool, unlocked_image_groups: int, lock_text: bool,
                           unlocked_text_layers: int, data: str, label_aware: bool, templates: str, eval_every: int,
                           eval_retrieval, eval_zeroshot) -> None:
    """Before any work: an option the chosen model, towers, locking or data would not read is a one-line error
    (None: not given)."""
    towers = ("towers",)
    refuse_unused_options(f"--model {model}", {model}, [
        ("--image", image is not None, towers), ("--text", text is not None, towers),
        ("--embed-dim", embed_dim is not None, towers), ("--proj", proj is not None, towers),
        ("--pretrained-image", pretrained_image, towers), ("--image-size", image_size is not None, towers),
        ("--context-length", context_length is not None, towers)])
    if image is not None:
        timm = ("timm:<name>",)
        refuse_unused_options(f"--image {image}", {"timm:<name>" if image.startswith("timm:") else image}, [
            ("--pretrained-image", pretrained_image, timm), ("--image-size", image_size is not None, timm)])
    refuse_unused_options("an unlocked image tower", {"--lock-image"} if lock_image else set(),
                          [("--unlocked-image-groups", unlocked_image_groups > 0, ("--lock-image",))])
    refuse_unused_options("an unlocked text tower", {"--lock-text"} if lock_text else set(),
                          [("--unlocked-text-layers", unlocked_text_layers > 0, ("--lock-text",))])
    source = "folder:<dir>" if data.startswith("folder:") else \
        "synthetic-captions" if data.startswith("synthetic-captions") else data
    held_out = ("synthetic-captions", "--eval-retrieval", "--eval-zeroshot")
    refuse_unused_options(f"--data {data}", {source, *(["--eval-retrieval"] if eval_retrieval else []),
                                             *(["--eval-zeroshot"] if eval_zeroshot else [])}, [
        ("--label-aware", label_aware, ("folder:<dir>",)),
        ("--templates", templates != "simple", ("folder:<dir>", "--eval-zeroshot")),
        ("--eval-every", eval_every > 0, held_out)])


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
