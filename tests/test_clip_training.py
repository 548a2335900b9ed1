"""CLIP training: exact resume, falling loss and above-chance retrieval, evaluation, data sources and bad input."""
import csv
import json
import io
import sys
import tarfile
import types

import numpy as np
import pytest
import torch
from PIL import Image

from labelspace.data import synthetic
from labelspace.data.captions import caption_data, compositional_set, synthetic_captions
from labelspace.errors import LabelspaceError
from labelspace.models.trainable import EvalView, ModelSpec, TrainableCLIP
from labelspace.evaluation.clip_training import clip_evaluator
from labelspace.training.checkpoint import load_checkpoint
from labelspace.training.clip_trainer import ClipTrainConfig, learning_rate, train_clip
from labelspace.zeroshot.classifier import build_classifier

TINY = ModelSpec()  # open_clip:ls-clip-tiny, random init seeded


@pytest.fixture(scope="module")
def scenes():
    return synthetic_captions(512, seed=3)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_schedule_warms_up_then_decays_to_zero():
    config = ClipTrainConfig(steps=100, warmup=10, lr=1.0)
    assert learning_rate(0, config) == pytest.approx(0.1) and learning_rate(9, config) == pytest.approx(1.0)
    assert learning_rate(55, config) == pytest.approx(0.5) and learning_rate(99, config) < 1e-3


@pytest.mark.slow
def test_killed_and_resumed_run_ends_with_the_same_weights(scenes, tmp_path):
    config = ClipTrainConfig(steps=6, batch_size=32, warmup=2, checkpoint_every=2, lr=2e-3)
    whole = TrainableCLIP(TINY)
    train_clip(whole, scenes, config, tmp_path / "whole", progress=False, log=lambda _: None)
    first = TrainableCLIP(TINY)
    stopped = ClipTrainConfig(**{**config.__dict__, "stop_at": 3})  # leaves after step 3, as a killed job would
    assert train_clip(first, scenes, stopped, tmp_path / "cut", progress=False, log=lambda _: None).step == 3
    second = TrainableCLIP(TINY)
    state = train_clip(second, scenes, config, tmp_path / "cut", resume=True, progress=False, log=lambda _: None)
    assert state.step == 6 and len(state.history) == 6
    expected = _weights(whole)
    assert all(torch.equal(v, expected[k]) for k, v in _weights(second).items())
    assert (tmp_path / "cut" / "metrics.json").is_file()


def test_the_saved_cuda_rng_state_is_the_training_gpus(monkeypatch):
    """The CUDA RNG state saved and restored is the training GPU's, not the current device's; a CPU run saves
    the CPU's only. Faked: this runs without a GPU."""
    from labelspace.training.clip_trainer import _rng_state, _set_rng_state

    seen = []
    monkeypatch.setattr(torch.cuda, "get_rng_state",
                        lambda device: seen.append(("get", device)) or torch.zeros(8, dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: seen.append(("set", device)))
    gpu = torch.device("cuda", 1)
    _set_rng_state(_rng_state(gpu), gpu)
    assert seen == [("get", gpu), ("set", gpu)]
    assert set(_rng_state(torch.device("cpu"))) == {"cpu"}


def test_building_a_model_leaves_every_gpus_rng_alone(monkeypatch):
    """Seeded construction on the CPU forks and seeds the CPU RNG only: no GPU is initialised or reseeded.
    Faked: this runs without a GPU."""
    from labelspace.models.clip import load_clip

    touched = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for name in ("get_rng_state", "set_rng_state", "manual_seed_all"):
        monkeypatch.setattr(torch.cuda, name, lambda *args, name=name: touched.append(name))
    TrainableCLIP(TINY)
    load_clip("open_clip:ls-clip-tiny")
    assert touched == []


def test_resume_with_another_model_training_or_data_config_is_refused(scenes, tmp_path):
    config = ClipTrainConfig(steps=1, batch_size=32, warmup=0)
    train_clip(TrainableCLIP(TINY), scenes, config, tmp_path, progress=False, log=lambda _: None)

    def resume(model=TINY, data=scenes, **changes):
        return train_clip(TrainableCLIP(model), data, ClipTrainConfig(**{**config.__dict__, **changes}), tmp_path,
                          resume=True, progress=False, log=lambda _: None)

    with pytest.raises(LabelspaceError, match=r"differs in: model\.loss\)"):
        resume(ModelSpec(loss="siglip"))
    with pytest.raises(LabelspaceError, match=r"differs in: train\.steps, train\.batch_size\)"):
        resume(steps=2, batch_size=16)
    with pytest.raises(LabelspaceError, match=r"differs in: data\)"):
        resume(data=synthetic_captions(64, seed=4))
    assert resume(stop_at=1, eval_every=5, checkpoint_every=7).step == 1  # when to stop/evaluate/save may change
    _, progress, _ = load_checkpoint(tmp_path)
    assert len(progress["rng"]) == 1 and set(progress["rng"][0]) >= {"cpu"}  # one RNG state per process


def test_final_checkpoint_is_saved_before_the_final_evaluation(scenes, tmp_path):
    def broken(model):
        raise LabelspaceError("evaluation broke")

    with pytest.raises(LabelspaceError, match="evaluation broke"):
        train_clip(TrainableCLIP(TINY), scenes, ClipTrainConfig(steps=1, batch_size=32, warmup=0), tmp_path,
                   evaluate=broken, progress=False, log=lambda _: None)
    assert load_checkpoint(tmp_path)[1]["step"] == 1


def test_tensorboard_writer_is_closed_when_the_loss_is_nan(scenes, tmp_path, monkeypatch):
    closed = []

    class Writer:
        def __init__(self, folder):
            pass

        def add_scalar(self, *args):
            pass

        def close(self):
            closed.append(True)

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=Writer))
    model = TrainableCLIP(TINY)
    with torch.no_grad():
        model.net.visual.conv1.weight.fill_(float("nan"))
    with pytest.raises(LabelspaceError, match="loss is nan"):
        train_clip(model, scenes, ClipTrainConfig(steps=1, batch_size=32, warmup=0), tensorboard=str(tmp_path),
                   progress=False, log=lambda _: None)
    assert closed == [True]


def test_each_evaluation_encodes_prompts_with_the_current_weights(tmp_path):
    model = TrainableCLIP(TINY)
    names = ["red bag", "blue sneaker", "green shirt"]
    first = build_classifier(EvalView(model, "run"), names, "simple", cache_dir=tmp_path)
    with torch.no_grad():
        model.net.text_projection.mul_(-1)  # every text embedding flips sign, so every class weight does
    second = build_classifier(EvalView(model, "run"), names, "simple", cache_dir=tmp_path)
    np.testing.assert_allclose(second, -first, atol=1e-5)


def test_evaluator_refuses_bad_templates_before_training():
    with pytest.raises(LabelspaceError, match="unknown template set 'nonesuch'"):
        clip_evaluator(zeroshot=synthetic(), templates="nonesuch")


@pytest.mark.slow
def test_batch_that_does_not_split_and_nan_loss_are_errors(scenes, tmp_path):
    with pytest.raises(LabelspaceError, match="split evenly"):
        ClipTrainConfig(batch_size=30, accum=4).check(world=1)
    with pytest.raises(LabelspaceError, match="split evenly"):
        ClipTrainConfig(batch_size=33).check(world=2)
    model = TrainableCLIP(TINY)
    config = ClipTrainConfig(steps=3, batch_size=32, warmup=0, checkpoint_every=1)
    train_clip(model, scenes, ClipTrainConfig(**{**config.__dict__, "stop_at": 1}), tmp_path, progress=False,
               log=lambda _: None)
    saved = (tmp_path / "checkpoint.safetensors").read_bytes()
    with torch.no_grad():
        model.net.visual.conv1.weight.fill_(float("nan"))
    with pytest.raises(LabelspaceError, match="loss is nan at step 0"):
        train_clip(model, scenes, config, tmp_path, progress=False, log=lambda _: None)
    assert (tmp_path / "checkpoint.safetensors").read_bytes() == saved  # the last good checkpoint stays


def test_accumulation_trains_like_the_whole_batch(scenes):
    """Four micro-batches give the whole batch's loss and gradient: the same losses, step after step."""
    runs = []
    for accum in (1, 4):
        config = ClipTrainConfig(steps=3, batch_size=16, lr=1e-2, warmup=1, accum=accum)
        runs.append([h["loss"] for h in train_clip(TrainableCLIP(TINY), scenes, config, progress=False,
                                                   log=lambda _: None).history])
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-4)
    assert abs(runs[0][2] - runs[0][1]) > 1e-3  # the model did learn between the compared steps


def _ddp_rank(rank, port, accum, out):
    """One of two gloo processes, as torchrun starts them: train 3 steps and save the losses (rank 0)."""
    import os

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    config = ClipTrainConfig(steps=3, batch_size=16, lr=1e-2, warmup=1, accum=accum)
    state = train_clip(TrainableCLIP(TINY), synthetic_captions(512, seed=3), config, progress=False,
                       log=lambda _: None, device="cpu", workers=0)
    if rank == 0:
        torch.save([h["loss"] for h in state.history], out)


@pytest.mark.slow  # two processes start torch
def test_two_process_accumulation_trains_like_one_process(scenes, tmp_path, free_port):
    """DDP with accum 2 (the syncing micro-batch reduces every parameter's gradient, the logit scale's
    included) gives the losses of one process on the whole batch, step after step."""
    torch.multiprocessing.spawn(_ddp_rank, args=(free_port, 2, str(tmp_path / "losses.pt")), nprocs=2, join=True)
    config = ClipTrainConfig(steps=3, batch_size=16, lr=1e-2, warmup=1)
    single = [h["loss"] for h in train_clip(TrainableCLIP(TINY), scenes, config, progress=False, log=lambda _: None,
                                             workers=0).history]
    np.testing.assert_allclose(torch.load(tmp_path / "losses.pt"), single, rtol=1e-4)


@pytest.mark.slow
def test_training_loss_falls_and_held_out_recall_beats_chance():
    torch.set_num_threads(1)
    data = synthetic_captions(1500, seed=0)
    held = synthetic_captions(100, "test", seed=1).retrieval_set()
    evaluate = clip_evaluator(held, compositional_set(60), templates=["a {} at the top left"])
    model = TrainableCLIP(TINY)
    state = train_clip(model, data, ClipTrainConfig(steps=120, batch_size=64, lr=2e-3, warmup=10),
                       evaluate=evaluate, progress=False, log=lambda _: None)
    losses = [h["loss"] for h in state.history]
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    final = state.evaluations[-1]
    assert final["image_retrieval_recall@1"] > 5 * final["retrieval_chance@1"]
    assert final["text_retrieval_recall@1"] > 5 * final["retrieval_chance@1"]


def test_csv_missing_images_are_counted_and_long_captions_truncated(tmp_path):
    Image.new("RGB", (8, 8), "red").save(tmp_path / "a.png")
    with open(tmp_path / "pairs.csv", "w", newline="") as f:
        csv.writer(f).writerows([["path", "caption"], ["a.png", "a red square"], ["gone.png", "missing"],
                                 ["a.png", "word " * 60]])
    data = caption_data(f"csv:{tmp_path / 'pairs.csv'}")
    assert len(data) == 2 and data.skipped == 1
    model = TrainableCLIP(TINY)
    model.encode_text([data.load(0)[1], data.load(1)[1]])
    assert model.truncated == 1  # 60 words do not fit 32 tokens
    EvalView(model, "eval").encode_text(["word " * 60])
    assert model.truncated == 1  # evaluation prompts are not training captions


def test_a_caption_csv_is_one_caption_set_for_training_and_retrieval(tmp_path):
    from labelspace.data import load_dataset
    from labelspace.data.pairs import CaptionSet

    for colour in ("red", "blue"):
        Image.new("RGB", (8, 8), colour).save(tmp_path / f"{colour}.png")
    rows = [["path", "caption"], ["red.png", "a red square"], ["blue.png", "a blue square"],
            ["red.png", "something red"], ["gone.png", "missing"]]
    with open(tmp_path / "pairs.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    train, retrieval = caption_data(f"captions:{tmp_path / 'pairs.csv'}"), load_dataset(f"captions:{tmp_path / 'pairs.csv'}")
    assert isinstance(train, CaptionSet) and isinstance(retrieval, CaptionSet)
    assert train.captions == retrieval.captions[:3] and list(train.caption_image) == [0, 1, 0] and train.skipped == 1
    for j, (path, text) in enumerate(rows[1:4]):
        image, caption = train.pair(j)
        assert caption == text
        assert np.asarray(image).tolist() == np.asarray(Image.open(tmp_path / path).convert("RGB")).tolist()


def test_webdataset_shards_split_over_processes_and_skip_incomplete_samples(tmp_path):
    from labelspace.data.captions import local_batches

    for shard in range(2):
        with tarfile.open(tmp_path / f"s{shard}.tar", "w") as tar:
            for k in range(4):
                members = {"txt": f"caption {shard}-{k}".encode()}
                if k != 3:
                    buffer = io.BytesIO()
                    Image.new("RGB", (8, 8), (k * 60, 0, 0)).save(buffer, "JPEG")
                    members["jpg"] = buffer.getvalue()
                for ext, payload in members.items():
                    info = tarfile.TarInfo(f"{shard}-{k:03d}.{ext}")
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
    data = caption_data(f"wds:{tmp_path}/s{{0..1}}.tar")
    rank1 = next(local_batches(data, global_batch=4, seed=0, rank=1, world=2))
    assert [c for _, c in rank1] == ["caption 1-0", "caption 1-1"]
    resumed = next(local_batches(data, global_batch=4, seed=0, start_step=1, rank=0, world=2))
    assert [c for _, c in resumed] == ["caption 0-2", "caption 0-0"] and data.skipped >= 1
    with pytest.raises(LabelspaceError, match="at least one shard per process"):
        next(local_batches(caption_data(f"wds:{tmp_path}/s0.tar"), 4, 0, rank=1, world=2))


def test_bf16_with_gradient_checkpointing_stays_close_to_fp32(scenes, tmp_path):
    """bf16 autocast + gradient checkpointing on CPU: a finite loss within bf16 rounding of the fp32 loss."""
    losses = {}
    for precision, checkpointing in (("fp32", False), ("bf16", True)):
        config = ClipTrainConfig(steps=2, batch_size=32, warmup=0, precision=precision,
                                 grad_checkpointing=checkpointing)
        state = train_clip(TrainableCLIP(TINY), scenes, config, tmp_path / precision, progress=False,
                           log=lambda _: None)
        losses[precision] = [row["loss"] for row in state.history]
    assert all(np.isfinite(losses["bf16"]))
    assert losses["bf16"][0] == pytest.approx(losses["fp32"][0], rel=0.02)


def test_train_clip_command_logs_every_n_steps_and_says_how_to_resume(tmp_path, cli_main):
    for name, colour in [("red", (230, 20, 20)), ("blue", (20, 20, 230))]:
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (32, 32), tuple(c + 5 * i for c in colour)).save(tmp_path / "data" / name / f"{i}.png")
    args = ["train", "clip", "--data", f"folder:{tmp_path / 'data'}", "--steps", "4", "--batch-size", "4",
            "--warmup", "1", "--log-every", "1", "--out", str(tmp_path / "run")]
    code, out, err = cli_main(*args, "--stop-at", "2")
    assert code == 0, err
    lines = " ".join(out.split())
    assert "step 1/4: loss" in lines and "step 2/4: loss" in lines and "step 3/4" not in lines
    assert f"stopped at step 2 of 4 (--stop-at); the checkpoint is {tmp_path / 'run' / 'checkpoint.safetensors'}" in lines
    assert "--resume latest" in lines
    code, out, err = cli_main(*args, "--resume", "latest")
    assert code == 0, err
    lines = " ".join(out.split())
    assert "step 3/4: loss" in lines and "step 1/4" not in lines
    code, _, err = cli_main("eval-merge", str(tmp_path / "run" / "metrics.json"), "--out", str(tmp_path / "all.csv"))
    assert code == 0, err
    header, row = (tmp_path / "all.csv").read_text().splitlines()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert header.startswith("task,method,model,dataset") and "loss" in header.split(",")
    assert row.startswith(f"train_clip,clip,run:{tmp_path / 'run'},") and metrics["metrics"]["loss"] == metrics["history"][-1]["loss"]
def test_label_aware_training_needs_labelled_data_and_uses_the_labels(scenes, tmp_path):
    with pytest.raises(LabelspaceError, match="needs data with class labels"):
        train_clip(TrainableCLIP(TINY), scenes, ClipTrainConfig(steps=1, batch_size=16, label_aware=True),
                   progress=False, log=lambda _: None)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(4):
            Image.fromarray(np.full((8, 8, 3), 60 * i + (name == "b") * 30, dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    data = caption_data(f"folder:{tmp_path}", "openai")  # captions differ within a class
    assert [data.load(i)[2] for i in range(len(data))] == data.dataset.targets.tolist()
    losses = {}
    for label_aware in (False, True):
        config = ClipTrainConfig(steps=1, batch_size=8, warmup=0, label_aware=label_aware)
        losses[label_aware] = train_clip(TrainableCLIP(TINY), data, config, progress=False, log=lambda _: None).history[0]["loss"]
    assert losses[True] != losses[False]  # the labels reach the loss: 4 positives per row instead of 1


def test_fp32_training_is_plain_fused_adamw_steps(scenes):
    """The gradient scaler is disabled outside fp16: two trainer steps equal a plain open_clip-style loop
    (forward, loss, backward, fused AdamW, logit-scale clamp) on the same batches, bit for bit."""
    from labelspace.data.loader import caption_batches
    from labelspace.training.clip_losses import LOSSES, MAX_LOGIT_SCALE

    config = ClipTrainConfig(steps=2, batch_size=16, warmup=0, lr=1e-2, weight_decay=0.0)
    trained = TrainableCLIP(TINY)
    train_clip(trained, scenes, config, progress=False, log=lambda _: None, workers=0)
    plain = TrainableCLIP(TINY).train()
    optimizer = torch.optim.AdamW([p for p in plain.parameters() if p.requires_grad], weight_decay=0.0, fused=True)
    batches = caption_batches(scenes, plain.transform, plain.tokenizer, config.batch_size, config.seed, workers=0)
    loss_fn = LOSSES[TINY.loss]()
    for step in range(config.steps):
        images, texts, *_ = next(batches)
        optimizer.param_groups[0]["lr"] = learning_rate(step, config)
        optimizer.zero_grad()
        loss_fn(*plain(images, texts), None).backward()
        optimizer.step()
        with torch.no_grad():
            plain.net.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
    expected = _weights(plain)
    assert all(torch.equal(v, expected[k]) for k, v in _weights(trained).items())


@pytest.fixture
def fp16_on_cpu(monkeypatch):
    """CPU autocast runs float16 in this torch, though labelspace refuses it there (slow, for the GPU):
    let the trainer take it, to run the gradient-scaler path without a GPU."""
    from labelspace.training import clip_trainer

    monkeypatch.setattr(clip_trainer, "resolve_precision", lambda precision, device: precision)


@pytest.mark.slow
def test_fp16_scaler_state_is_checkpointed_and_resume_is_exact(scenes, tmp_path, fp16_on_cpu):
    config = ClipTrainConfig(steps=4, batch_size=16, warmup=1, checkpoint_every=2, precision="fp16")
    whole = TrainableCLIP(TINY)
    state = train_clip(whole, scenes, config, tmp_path / "whole", progress=False, log=lambda _: None, workers=0)
    assert [h["step"] for h in state.history] == [1, 2, 3, 4] and all(np.isfinite([h["loss"] for h in state.history]))
    train_clip(TrainableCLIP(TINY), scenes, ClipTrainConfig(**{**config.__dict__, "stop_at": 2}), tmp_path / "cut",
               progress=False, log=lambda _: None, workers=0)
    assert load_checkpoint(tmp_path / "cut")[1]["scaler"]["scale"] > 0
    resumed = TrainableCLIP(TINY)
    train_clip(resumed, scenes, config, tmp_path / "cut", resume=True, progress=False, log=lambda _: None, workers=0)
    expected = _weights(whole)
    assert all(torch.equal(v, expected[k]) for k, v in _weights(resumed).items())
    assert load_checkpoint(tmp_path / "cut")[1]["scaler"] == load_checkpoint(tmp_path / "whole")[1]["scaler"]


def test_fp16_skips_a_nan_step_but_a_persistent_nan_loss_is_an_error(scenes, tmp_path, fp16_on_cpu, monkeypatch):
    from labelspace.training import clip_losses

    calls, clip_loss = [], clip_losses.LOSSES[TINY.loss]

    class NanOnLastStep(torch.nn.Module):
        def forward(self, *args):
            calls.append(1)
            loss = clip_loss()(*args)
            return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setitem(clip_losses.LOSSES, TINY.loss, NanOnLastStep)
    config = ClipTrainConfig(steps=3, batch_size=16, warmup=0, precision="fp16")
    model = TrainableCLIP(TINY)
    state = train_clip(model, scenes, config, tmp_path / "once", progress=False, log=lambda _: None, workers=0)
    assert [h["step"] for h in state.history] == [1, 2]  # step 3 was skipped, not recorded
    progress = load_checkpoint(tmp_path / "once")[1]
    assert progress["step"] == 3 and progress["scaler"]["scale"] < 65536  # saved at the end; the scaler backed off
    assert all(bool(torch.isfinite(v).all()) for v in _weights(model).values())
    monkeypatch.setitem(clip_losses.LOSSES, TINY.loss, clip_loss)
    broken = TrainableCLIP(TINY)
    with torch.no_grad():
        broken.net.visual.conv1.weight.fill_(float("nan"))
    with pytest.raises(LabelspaceError, match="loss is nan at step 4"):  # FP16_SKIPS (5) in a row
        train_clip(broken, scenes, ClipTrainConfig(steps=8, batch_size=16, warmup=0, precision="fp16"), tmp_path / "nan",
                   progress=False, log=lambda _: None, workers=0)


def test_fp16_is_refused_where_the_device_cannot_run_it(scenes):
    with pytest.raises(LabelspaceError, match="--precision fp16"):
        train_clip(TrainableCLIP(TINY), scenes, ClipTrainConfig(steps=1, batch_size=16, precision="fp16"),
                   progress=False, log=lambda _: None, device="cpu")


def test_device_preprocessing_trains_like_the_pil_transform(scenes):
    """--preprocess device on the CPU: uint8 scenes resized and normalised in the trainer give the first
    step's loss of the PIL transform within resize rounding, and the run trains."""
    losses = {}
    for preprocess in ("cpu", "device"):
        state = train_clip(TrainableCLIP(TINY), scenes, ClipTrainConfig(steps=2, batch_size=32, warmup=0),
                           progress=False, log=lambda _: None, workers=0, preprocess=preprocess)
        losses[preprocess] = [h["loss"] for h in state.history]
    assert losses["device"][0] == pytest.approx(losses["cpu"][0], rel=1e-3)
    assert losses["device"][1] != losses["device"][0]
