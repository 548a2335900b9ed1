"""Device, precision and worker choices; probes on the model's device; the input pipeline's edge cases."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from labelspace.data import extract_features, synthetic
from labelspace.data.loader import device_transform, fast_tokenizer, tokenize_counted
from labelspace.devices import resolve_device, resolve_precision, resolve_workers
from labelspace.errors import LabelspaceError


def test_device_and_precision_resolve_or_name_what_is_there():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(LabelspaceError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    with pytest.raises(LabelspaceError, match="available: cpu"):
        resolve_device(f"cuda:{torch.cuda.device_count() + 6}")
    with pytest.raises(LabelspaceError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", torch.device("cpu"))
    with pytest.raises(LabelspaceError, match="fp16"):
        resolve_precision("fp16", torch.device("cpu"))
    with pytest.raises(LabelspaceError, match="--workers -1"):
        resolve_workers(-1)
    assert resolve_workers(None) >= 0 and resolve_workers(3) == 3


def test_torchrun_ranks_on_a_cuda_machine_join_gloo_for_cpu_tensors_and_bind_their_gpu(monkeypatch):
    """Where CUDA exists the group has gloo for CPU tensors (``--device cpu`` works) and NCCL for CUDA ones;
    only a CUDA rank is bound to its GPU, LOCAL_RANK modulo the GPUs it sees. Faked: this runs without a GPU."""
    from labelspace import distributed

    calls = []
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "3")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("set_device", device)))
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda backend, device_id: calls.append((backend, device_id)))
    monkeypatch.setattr(distributed, "rank_and_world", lambda: (3, 4))
    for spec in ("cpu", "cuda"):
        distributed.init_distributed(resolve_device(spec))
    gpu = torch.device("cuda", 1)
    assert calls == [("cpu:gloo,cuda:nccl", None), ("set_device", gpu), ("cpu:gloo,cuda:nccl", gpu)]


def test_cli_refuses_a_missing_device_and_negative_workers_in_one_line():
    cli = [sys.executable, "-m", "labelspace.cli"]
    missing = f"cuda:{torch.cuda.device_count() + 6}"
    runs = [subprocess.run(cli + ["eval", "--task", "zeroshot_classification", "--model", "open_clip:RN50",
                                  "--device", missing], capture_output=True, text=True),
            subprocess.run(cli + ["eval", "--task", "zeroshot_classification", "--workers", "-1"],
                           capture_output=True, text=True)]
    for run in runs:
        assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert missing in runs[0].stderr and "available: cpu" in runs[0].stderr
    assert "--workers -1" in runs[1].stderr


def test_every_text_probe_runs_on_the_model_device():
    """The export crash: ``_set_dims`` probed a CUDA model with CPU tokens. On the meta device the
    tokens that reach the embedding must be on meta too (trimmed and untrimmed towers)."""
    import open_clip

    from labelspace.models import OpenCLIPModel

    seen = []
    torch.manual_seed(0)
    net = open_clip.CLIP(
        32, {"image_size": 32, "layers": 1, "width": 32, "head_width": 32, "patch_size": 16},
        {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 1, "layers": 1})
    net.to("meta")
    net.logit_scale = torch.nn.Parameter(torch.tensor(2.0))  # read as a number by the probe
    net.token_embedding.register_forward_pre_hook(lambda module, args: seen.append(args[0].device))
    model = OpenCLIPModel(net, None, open_clip.SimpleTokenizer(context_length=16), "t", "w", {})
    assert model.device.type == "meta" and model.embed_dim == 32
    model.encode_text(["a photo of a cat"], trim=False)
    assert seen and all(d.type == "meta" for d in seen)


def test_out_of_memory_names_the_batch_size():
    class Exploding:
        name, feature_dim, cache_key, transform = "boom", 4, "boom", None

        def preprocess(self, image):
            return torch.zeros(3, 4, 4)

        def encode(self, batch):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(LabelspaceError, match=r"out of GPU memory at --batch-size 32: try --batch-size 16"):
        extract_features(Exploding(), synthetic(), batch_size=32, use_cache=False, progress=False, workers=0)


def test_workers_give_the_same_features_and_count_unreadable_images(tmp_path):
    from labelspace.data import FileImages

    good = synthetic(2, 3)
    paths = []
    for i in range(len(good)):
        paths.append(tmp_path / f"{i}.png")
        good.load(i).save(paths[-1])
    (tmp_path / "bad.png").write_bytes(b"not an image")
    data = FileImages("files", paths + [tmp_path / "bad.png", tmp_path / "missing.png"], [0, 0, 0, 1, 1, 1, 0, 1],
                      ["a", "b"])

    class Mean:
        name, feature_dim, cache_key = "mean", 3, "mean"

        @staticmethod
        def preprocess(image):
            return torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)

        @staticmethod
        def encode(batch):
            return batch.mean((2, 3))

    runs = [extract_features(Mean(), data, batch_size=4, use_cache=False, progress=False, workers=w) for w in (0, 2)]
    for run in runs:
        assert run.skipped == 2 and list(run.indices) == list(range(6))
    np.testing.assert_array_equal(runs[0].features, runs[1].features)


def test_device_preprocessing_matches_the_pil_transform():
    """uint8 -> resize (bicubic, antialiased) -> crop -> normalise on a device equals torchvision's PIL
    pipeline to within the rounding PIL does on uint8 (1/255 before normalisation)."""
    from labelspace.encoders.image import _eval_transform

    transform = _eval_transform(24, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    images = synthetic(2, 4, size=32)
    pil = torch.stack([transform(images.load(i)) for i in range(len(images))])
    pixels = torch.from_numpy(images.images).permute(0, 3, 1, 2)
    ours = device_transform(transform)(pixels)
    assert ours.shape == pil.shape
    assert float((ours - pil).abs().max()) < 4 * 4 / 255  # a few uint8 steps, scaled by 1/std


def test_features_resized_on_the_device_are_cached_apart_from_the_pil_transforms(tmp_path):
    """The cache never hands PIL-preprocessed features to a device-preprocessing run, or the other way round."""
    from labelspace.encoders.image import _eval_transform

    class Pixels:
        name, cache_key, feature_dim = "pixels", "pixels", 3 * 24 * 24
        transform = _eval_transform(24, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))

        def preprocess(self, image):
            return self.transform(image)

        def encode(self, batch):
            return batch.flatten(1)

    images = synthetic(2, 3, size=32)
    runs = {mode: extract_features(Pixels(), images, cache_dir=tmp_path, progress=False, workers=0, preprocess=mode)
            for mode in ("cpu", "device")}
    assert not runs["device"].cached
    again = {mode: extract_features(Pixels(), images, cache_dir=tmp_path, progress=False, workers=0, preprocess=mode)
             for mode in ("cpu", "device")}
    for mode in runs:
        assert again[mode].cached
        np.testing.assert_array_equal(again[mode].features, runs[mode].features)
    assert float(np.abs(runs["cpu"].features - runs["device"].features).max()) > 0


def test_fast_tokenizer_gives_open_clips_ids_on_all_imagenet_prompts_and_odd_texts():
    """1,000 ImageNet classes x 80 OpenAI templates, plus texts that need ftfy, HTML unescaping or special tokens."""
    import open_clip

    reference = open_clip.SimpleTokenizer()
    fast = fast_tokenizer(reference)
    prompts = [t(c) for c in open_clip.IMAGENET_CLASSNAMES for t in open_clip.OPENAI_IMAGENET_TEMPLATES]
    odd = ["Caf\u00e9 na\u00efve \u201cquoted\u201d", "fish &amp; chips", "tab\tand\nnew line  ", "<start_of_text> x",
           "\u00c3\u00a9 mojibake", "ALL CAPS, punctuation!!! 123", "", "  "]
    assert len(prompts) == 80_000
    assert torch.equal(fast(prompts + odd), reference(prompts + odd))


def test_tokens_counted_once_equal_open_clip_and_its_truncation():
    import open_clip

    reference = open_clip.SimpleTokenizer(context_length=8)
    texts = ["a cat", "a red bag at the top left and a blue sneaker at the bottom right", "one two three four five six"]
    tokens, truncated = tokenize_counted(fast_tokenizer(reference), texts)
    assert torch.equal(tokens, reference(texts))
    assert truncated == sum(len(reference.encode(t)) + 2 > 8 for t in texts) == 1


@pytest.mark.parametrize("command", [["eval", "--task", "zeroshot_classification"], ["analyze"], ["train", "clip"]])
def test_a_bad_preprocess_is_one_line_naming_the_choices(command, cli_main):
    code, _, err = cli_main(*command, "--preprocess", "gpu")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--preprocess 'gpu'" in err and "auto, cpu, device" in err


def _jpeg_folder(root):
    """Two classes of JPEGs of different sizes (one greyscale), a PNG, a truncated JPEG and a non-image .jpg."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, size in (("a/0.jpg", (40, 30)), ("a/1.jpg", (33, 47)), ("b/0.jpg", (64, 64)), ("b/1.png", (20, 28))):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        pixels = (rng.random((size[1] // 4, size[0] // 4, 3)) * 255).astype(np.uint8)  # smooth, as photos are
        Image.fromarray(pixels).resize(size, Image.BICUBIC).save(root / name, quality=90)
    Image.open(root / "a/1.jpg").convert("L").save(root / "a/2.jpg")
    whole = (root / "b/0.jpg").read_bytes()
    (root / "b/2.jpg").write_bytes(whole[:len(whole) // 2])
    (root / "b/3.jpg").write_bytes(b"not a jpeg at all")
    from labelspace.data import image_folder

    return image_folder(root)


def test_jpeg_decoded_by_torchvision_equals_pil_and_corrupt_files_are_counted(tmp_path):
    """``decode="device"`` on the CPU (``torchvision.io.decode_jpeg``): pixels within one uint8 step of PIL's,
    so the features equal those of PIL decoding with the same on-device preprocessing to 1/255; the
    truncated and the non-image file are counted and skipped, the PNG decoded by PIL."""
    from torchvision import transforms as T

    from labelspace.data.loader import decoded_batches

    data = _jpeg_folder(tmp_path)

    class Pixels:  # features: the preprocessed pixels themselves
        name, cache_key, feature_dim = "pixels", "pixels", 3 * 16 * 16
        transform = T.Compose([T.Resize(16, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(16),
                               T.ToTensor()])

        def encode(self, batch):
            return batch.flatten(1)

    runs = {d: extract_features(Pixels(), data, batch_size=b, use_cache=False, progress=False, workers=w,
                                preprocess="device", decode=d)  # PIL decoding stacks uint8: one image a batch
            for d, b, w in (("cpu", 1, 0), ("device", 4, 2))}
    for run in runs.values():
        assert run.skipped == 2 and sorted(data.paths[i].name for i in run.indices) == ["0.jpg", "0.jpg", "1.jpg",
                                                                                        "1.png", "2.jpg"]
    assert any("truncated" in m for m in runs["device"].skipped_images)
    assert float(np.abs(runs["cpu"].features - runs["device"].features).max()) <= 1 / 255 + 1e-6
    jpegs = data.subset(np.flatnonzero([p.suffix == ".jpg" and p.parent.name == "a" for p in data.paths]))
    for positions, batch, _ in decoded_batches(jpegs, lambda x: x.flatten(1), 1, torch.device("cpu"), workers=0):
        pil = torch.from_numpy(np.array(jpegs.load(positions[0]))).permute(2, 0, 1).flatten()
        assert int((batch[0].int() - pil.int()).abs().max()) <= 1
    with pytest.raises(LabelspaceError, match="decoding on the device preprocesses there too"):
        extract_features(Pixels(), data, use_cache=False, progress=False, preprocess="cpu", decode="device")
