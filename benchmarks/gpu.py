"""labelspace on one device against its peers on the same device, side by side in one run.

open_clip ViT-B-32 with random weights (training: ``--train-model``), on ``--device`` (auto, cpu, cuda[:N]):

1. zero-shot evaluation of Fashion-MNIST test images, images/s: labelspace ``zeroshot_classification``
   (DataLoader workers, pinned memory, PIL or on-device preprocessing) vs a CLIP_benchmark-style loop
   (DataLoader with the same worker count, ``encode_image`` under autocast, logits per batch) vs the bare
   ``encode_image`` on ready tensors on the device; and the embedding cosine of on-device preprocessing
   vs open_clip's PIL preprocessing (minimum over ``--cosine-images``).
2. zero-shot classifier, ImageNet classes x OpenAI templates, fp32 and bf16: labelspace ``build_classifier``
   vs open_clip's ``build_zero_shot_classifier`` on the same device (run on ``--reference-classes`` classes
   and extrapolated per prompt when fewer than ``--classes``), the largest fp32 weight difference, and
   tokenizing all the prompts with labelspace's ``FastTokenizer`` vs open_clip's tokenizer.
2b. JPEG folders (Fashion-MNIST images upscaled to 500 x 375 and saved as JPEG, ``--jpeg-images``), images/s of
   ``extract_features``: decoded and preprocessed by PIL in the DataLoader workers (the default) vs read in the
   workers and decoded on the device by ``torchvision.io.decode_jpeg`` (``decode="device"``, nvJPEG on CUDA),
   resized there; and the embedding cosine between the two. The faster should be the default on that device.
3. CLIP training samples/s: ``train_clip`` vs open_clip's forward + ``ClipLoss`` + backward + AdamW step on
   ready tensors on the device (median step), and peak device memory (CUDA only).
With ``--device cpu`` it then runs ``benchmarks/zeroshot.py`` and ``benchmarks/train_clip.py`` and prints
their ratio lines.

    PYTHONPATH=src python benchmarks/gpu.py --device cpu          # small sizes for a 2-core machine
    PYTHONPATH=src python benchmarks/gpu.py --device cuda         # GPU sizes (2,000 images, 1,000 classes, batch 256)
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from timing import class_weights, clip_benchmark_style, interleaved, timed

from labelspace.devices import autocast, resolve_device, resolve_workers

GPU_SIZES = {"images": 2000, "classes": 1000, "reference_classes": 1000, "train_model": "open_clip:ViT-B-32",
             "train_batch": 256, "train_precision": "bf16", "batch_size": 256, "cosine_images": 256,
             "jpeg_images": 2000}
CPU_SIZES = {"images": 96, "classes": 4, "reference_classes": 1, "train_model": "open_clip:ls-clip-tiny",
             "train_batch": 128, "train_precision": "fp32", "batch_size": 32, "cosine_images": 256,
             "jpeg_images": 64}


def evaluation(args, device: torch.device) -> None:
    from labelspace.data import extract_features, fashion_mnist
    from labelspace.encoders import load_image_encoder
    from labelspace.evaluation import zeroshot_classification
    from labelspace.methods.clip import CLIPClassifier
    from labelspace.models import load_clip

    model = load_clip("open_clip:ViT-B-32", device, args.precision)
    data = fashion_mnist("test").subset(np.arange(args.images), f"fashion-mnist:test[:{args.images}]")
    clf = CLIPClassifier(model, templates=["a photo of a {}."], cache_dir=args.cache)
    weights = class_weights(clf, data.class_names)
    ready = torch.stack([model.preprocess(data.load(i)) for i in range(len(data))]).to(device)

    def bare():
        with torch.inference_mode(), model.autocast():
            for start in range(0, len(ready), args.batch_size):
                model.net.encode_image(ready[start:start + args.batch_size])

    def ours(preprocess):
        return lambda: zeroshot_classification(clf, data, batch_size=args.batch_size, use_cache=False, progress=False,
                                               workers=args.workers, preprocess=preprocess)

    runs = {"bare encode_image on ready tensors": bare, "labelspace, PIL preprocessing in workers": ours("cpu"),
            "labelspace, uint8 preprocessed on the device": ours("device"),
            f"CLIP_benchmark-style loop ({args.workers} workers)":
                lambda: clip_benchmark_style(model, data, weights, args.batch_size, args.workers)}
    bare()  # warm-up
    rates = {name: len(data) / s for name, s in interleaved(runs, args.rounds, device).items()}
    print(f"\n1. zero-shot evaluation, {len(data)} Fashion-MNIST test images, batch {args.batch_size}, {args.precision}, "
          f"best of {args.rounds}")
    for name, rate in rates.items():
        print(f"   {name:46s} {rate:8.1f} images/s")
    names = list(rates)
    for ours_name in names[1:3]:
        print(f"   {ours_name}: {rates[ours_name] / rates[names[0]]:.2f}x the bare forward, "
              f"{rates[ours_name] / rates[names[3]]:.2f}x the CLIP_benchmark-style loop")
    sample = fashion_mnist("test").subset(np.arange(args.cosine_images), f"fashion-mnist:test[:{args.cosine_images}]")
    lite0 = load_image_encoder("efficientnet-lite0", device=device, precision=args.precision)
    for name, encoder in (("ViT-B-32 embeddings", model), ("EfficientNet-Lite0 features", lite0)):
        cpu, dev = (extract_features(encoder, sample, batch_size=args.batch_size, use_cache=False, progress=False,
                                     workers=args.workers, preprocess=p).features for p in ("cpu", "device"))
        cosine = (cpu * dev).sum(1) / np.linalg.norm(cpu, axis=1) / np.linalg.norm(dev, axis=1)
        print(f"   on-device vs PIL preprocessing, {len(sample)} images, {name}: cosine min {cosine.min():.6f}, "
              f"mean {cosine.mean():.6f}")


def jpeg_decoding(args, device: torch.device) -> None:
    from PIL import Image

    from labelspace.data import extract_features, fashion_mnist, image_folder
    from labelspace.models import load_clip

    model = load_clip("open_clip:ViT-B-32", device, args.precision)
    source, folder = fashion_mnist("test"), Path(tempfile.mkdtemp(prefix="ls-jpeg-bench-"))
    for i in range(args.jpeg_images):
        path = folder / f"class{source.targets[i]}" / f"{i}.jpg"
        path.parent.mkdir(exist_ok=True)
        source.load(i).resize((500, 375), Image.BICUBIC).save(path, quality=90)  # an ImageNet-like size
    data = image_folder(folder)

    def run(decode):
        return lambda: extract_features(model, data, batch_size=args.batch_size, use_cache=False, progress=False,
                                        workers=args.workers, preprocess="cpu" if decode == "cpu" else "device",
                                        decode=decode)

    runs = {f"PIL decode + transform in {args.workers} workers": run("cpu"),
            f"decode_jpeg + resize on {device}": run("device")}
    rates = {name: len(data) / s for name, s in interleaved(runs, args.rounds, device).items()}
    print(f"\n2b. {len(data)} JPEG files (500 x 375), extract_features, batch {args.batch_size}, best of {args.rounds}")
    for name, rate in rates.items():
        print(f"   {name:46s} {rate:8.1f} images/s")
    cpu_rate, device_rate = rates.values()
    cpu, dev = run("cpu")().features, run("device")().features
    cosine = (cpu * dev).sum(1) / np.linalg.norm(cpu, axis=1) / np.linalg.norm(dev, axis=1)
    print(f"   device decoding / CPU workers: {device_rate / cpu_rate:.2f}x; embedding cosine min {cosine.min():.6f}")


def classifier(args, device: torch.device) -> None:
    import open_clip

    from labelspace.data.loader import fast_tokenizer
    from labelspace.models import load_clip
    from labelspace.zeroshot import build_classifier

    from labelspace.zeroshot import template_set

    classes = list(open_clip.IMAGENET_CLASSNAMES[:args.classes])
    templates = template_set("openai")
    all_prompts = [t(c) for c in open_clip.IMAGENET_CLASSNAMES for t in open_clip.OPENAI_IMAGENET_TEMPLATES]
    reference_tokenizer = open_clip.get_tokenizer("ViT-B-32")
    fast, fast_s = timed(lambda: fast_tokenizer(reference_tokenizer)(all_prompts), torch.device("cpu"))
    slow, slow_s = timed(lambda: reference_tokenizer(all_prompts), torch.device("cpu"))
    print(f"\n2. classifier, {len(classes)} ImageNet classes x {len(templates)} OpenAI templates")
    print(f"   tokenizing all {len(all_prompts)} prompts: FastTokenizer {fast_s:.2f} s, open_clip {slow_s:.2f} s "
          f"({slow_s / fast_s:.1f}x), same ids: {torch.equal(fast, slow)}")
    reference_classes = classes[:args.reference_classes]
    for precision in ("fp32", "bf16"):
        model = load_clip("open_clip:ViT-B-32", device, precision)
        ours, ours_s = timed(lambda: build_classifier(model, classes, templates, use_cache=False), device)

        def theirs():
            with torch.no_grad(), model.autocast():
                return open_clip.build_zero_shot_classifier(
                    model.net, reference_tokenizer, reference_classes,
                    [lambda c, t=t: t.replace("{}", c) for t in templates], device=device)
        reference, reference_s = timed(theirs, device)
        per_prompt = reference_s / (len(reference_classes) * len(templates))
        full_s = per_prompt * len(classes) * len(templates)
        diff = float(np.abs(ours[:len(reference_classes)] - reference.T.float().cpu().numpy()).max())
        note = "" if len(reference_classes) == len(classes) else f" (extrapolated from {len(reference_classes)} classes)"
        print(f"   {precision}: labelspace {ours_s:.2f} s, open_clip builder {full_s:.2f} s{note}: "
              f"{full_s / ours_s:.1f}x faster; largest weight difference {diff:.1e}")


def training(args, device: torch.device) -> None:
    from open_clip.loss import ClipLoss

    from labelspace.data.captions import synthetic_captions
    from labelspace.data.loader import collate_pairs
    from labelspace.models.trainable import ModelSpec, TrainableCLIP
    from labelspace.training.clip_trainer import ClipTrainConfig, train_clip

    data, spec = synthetic_captions(max(2000, 4 * args.train_batch)), ModelSpec(model=args.train_model)
    steps, warm = args.train_steps, min(5, args.train_steps // 3)

    def peak() -> str:
        return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB" if device.type == "cuda" else "n/a on CPU"

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    state = train_clip(TrainableCLIP(spec), data, ClipTrainConfig(steps=steps, batch_size=args.train_batch, warmup=2,
                                                                   precision=args.train_precision),
                       progress=False, log=lambda _: None, device=device, workers=args.workers)
    ours = float(np.median([r["samples_per_s"] for r in state.history[warm:]]))
    ours_peak = peak()

    model = TrainableCLIP(spec)
    net, loss_fn = model.net.to(device).train(), ClipLoss()
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.1,
                                  fused=device.type in ("cpu", "cuda"))
    images, texts, *_ = collate_pairs(data, range(args.train_batch), model.transform, model.tokenizer)
    images, texts = images.to(device), texts.to(device)  # ready tensors: no input pipeline at all
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rates = []
    for _ in range(steps):
        def step():
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, args.train_precision):
                image_features, text_features, logit_scale = net(images, texts)
                loss = loss_fn(image_features.float(), text_features.float(), logit_scale)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                net.logit_scale.clamp_(0, 4.6052)
        rates.append(args.train_batch / timed(step, device)[1])
    theirs = float(np.median(rates[warm:]))
    print(f"\n3. training {args.train_model}, batch {args.train_batch}, {args.train_precision}, median of steps "
          f"{warm}-{steps}")
    print(f"   labelspace train_clip (input pipeline included) {ours:8.1f} samples/s, peak memory {ours_peak}")
    print(f"   open_clip step on ready tensors                 {theirs:8.1f} samples/s, peak memory {peak()}")
    print(f"   ratio {ours / theirs:.2f}x")


def cpu_benchmarks() -> None:
    here = Path(__file__).parent
    print("\n4. the CPU benchmarks (their ratio lines)")
    for script, extra in (("zeroshot.py", ["--classes", "10", "--templates", "80", "--reference-classes", "2",
                                            "--images", "160", "--rounds", "3"]), ("train_clip.py", [])):
        run = subprocess.run([sys.executable, str(here / script), *extra], capture_output=True, text=True)
        lines = [line for line in run.stdout.splitlines() if "ratio" in line or "/ bare" in line or "speed-up" in line]
        print(f"   {script} {' '.join(extra)} (exit {run.returncode}):")
        for line in lines or run.stderr.splitlines()[-3:]:
            print(f"     {line.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default=None, help="evaluation precision (default bf16 on CUDA, else fp32)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--skip", action="append", default=[], help="eval, jpeg, classifier, training or cpu")
    for key in GPU_SIZES:
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(GPU_SIZES[key]), default=None)
    args = parser.parse_args()
    device = resolve_device(args.device)
    for key, value in (GPU_SIZES if device.type == "cuda" else CPU_SIZES).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    args.workers = resolve_workers(args.workers)
    args.cache = tempfile.mkdtemp(prefix="ls-gpu-bench-")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} torch threads"
    print(f"device {device} ({name}); {args.workers} DataLoader workers; torch {torch.__version__}")
    torch.manual_seed(0)
    if "eval" not in args.skip:
        evaluation(args, device)
    if "jpeg" not in args.skip:
        jpeg_decoding(args, device)
    if "classifier" not in args.skip:
        classifier(args, device)
    if "training" not in args.skip:
        training(args, device)
    if device.type == "cpu" and "cpu" not in args.skip:
        cpu_benchmarks()


if __name__ == "__main__":
    main()
