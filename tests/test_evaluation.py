"""Evaluation tasks and metrics: hand-built matrices, sklearn and plain-loop references, 2-process parity."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import clip_helpers as h
from labelspace.data import synthetic
from labelspace.errors import LabelspaceError
from labelspace.evaluation import (
    evaluate,
    linear_probe,
    load_results,
    merge_results,
    write_result,
    zeroshot_classification,
)
from labelspace.methods.clip import CLIPClassifier
from labelspace.metrics import mean_average_precision, retrieval_recall
from labelspace.models import load_clip, save_clip


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    """A tiny random open_clip model in labelspace's safetensors format (loadable in any process)."""
    folder = tmp_path_factory.mktemp("tiny")
    h.register_tiny_configs(folder)
    path = folder / "tiny.safetensors"
    save_clip(load_clip("open_clip:ls-tiny-vit"), path)
    return str(path)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELSPACE_CACHE", str(tmp_path / "cache"))


def test_retrieval_recall_on_hand_built_matrix_with_ties():
    caption_image = [0, 0, 1, 2, 2]
    similarity = [[0.9, 0.1, 0.9, 0.2, 0.4],  # image 0: its best caption ties with image 1's caption -> rank 2
                  [0.3, 0.2, 0.5, 0.6, 0.1],  # image 1: beaten by caption 3 -> rank 2
                  [0.0, 0.0, 0.0, 0.4, 0.4]]  # image 2: first
    r = retrieval_recall(similarity, caption_image, ks=(1, 2))
    assert r["text_retrieval_recall@1"] == pytest.approx(1 / 3) and r["text_retrieval_recall@2"] == 1.0
    # captions: 0 first; 1 beaten by image 1; 2 by image 0; 3 by image 1; 4 tied with image 0
    assert r["image_retrieval_recall@1"] == pytest.approx(1 / 5) and r["image_retrieval_recall@2"] == 1.0
    with pytest.raises(LabelspaceError, match="one image per caption"):
        retrieval_recall(similarity, [0, 1])


def test_mean_average_precision_equals_sklearn_with_ties():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(40, 5)).astype(float)  # many ties
    truth = rng.random((40, 5)) < 0.3
    expected = np.mean([average_precision_score(truth[:, j], scores[:, j]) for j in range(5)])
    assert mean_average_precision(scores, truth) == pytest.approx(expected, abs=1e-12)


def test_zeroshot_classification_equals_plain_open_clip_loop(tiny_file):
    import open_clip

    data = synthetic(n_classes=8, per_class=3)  # 8 classes: top-5 can miss
    clf = CLIPClassifier(tiny_file, templates="simple")
    result = zeroshot_classification(clf, data, progress=False)
    net, pre = clf.model.net, clf.model.preprocess
    with torch.no_grad():
        images = torch.nn.functional.normalize(net.encode_image(torch.stack([pre(data.load(i)) for i in range(len(data))])), dim=-1)
        weights = open_clip.build_zero_shot_classifier(net, clf.model.tokenizer, data.class_names,
                                                       open_clip.SIMPLE_IMAGENET_TEMPLATES)
    logits = (images @ weights).numpy()
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert result["acc1"] == pytest.approx(np.mean(logits.argmax(1) == data.targets))
    assert result["acc5"] == pytest.approx(np.mean([t in row for t, row in zip(data.targets, top5)]))
    assert result["images"] == 24


def test_linear_probe_and_few_shot_beat_chance(tiny_file):
    data = synthetic(n_classes=4, per_class=16)
    train, test = data.subset(np.flatnonzero(np.arange(64) % 4 != 3)), data.subset(np.arange(3, 64, 4))
    model = load_clip(tiny_file)
    full = linear_probe(model, train, test, progress=False)
    few = linear_probe(model, train, test, shots=2, progress=False)
    assert full["acc1"] > 0.5 and full["train_images"] == 48  # chance is 0.25
    assert few["train_images"] == 8 and few["acc1"] > 0.25


def test_retrieval_and_multilabel_tasks_from_csv(tmp_path, tiny_file):
    data = synthetic(n_classes=3, per_class=2)
    rows_cap, rows_ml = ["path,caption"], ["path,labels"]
    for i in range(len(data)):
        data.load(i).save(tmp_path / f"{i}.png")
        rows_cap += [f"{i}.png,a photo of class{data.targets[i]} number {i}", f"{i}.png,picture number {i}"]  # no twins
        rows_ml.append(f"{i}.png,class{data.targets[i]};stripes")
    (tmp_path / "cap.csv").write_text("\n".join(rows_cap))
    (tmp_path / "ml.csv").write_text("\n".join(rows_ml))
    r = evaluate("zeroshot_retrieval", tiny_file, f"captions:{tmp_path / 'cap.csv'}", templates="photo")
    assert r["metrics"]["captions"] == 12 and r["metrics"]["images"] == 6
    model = load_clip(tiny_file)
    captions = [row.split(",", 1)[1] for row in rows_cap[1:]]
    with torch.no_grad():  # a plain open_clip loop: unit embeddings, cosine, ranks by hand
        images = torch.nn.functional.normalize(
            model.net.encode_image(torch.stack([model.preprocess(data.load(i)) for i in range(len(data))])), dim=-1)
        texts = torch.nn.functional.normalize(model.net.encode_text(model.tokenizer(captions)), dim=-1)
    similarity, owner = (images @ texts.T).numpy(), np.repeat(np.arange(len(data)), 2)
    for k in (1, 5):
        text_hits = [np.isin(np.flatnonzero(owner == i), np.argsort(-similarity[i])[:k]).any() for i in range(len(data))]
        image_hits = [owner[j] in np.argsort(-similarity[:, j])[:k] for j in range(len(captions))]
        assert r["metrics"][f"text_retrieval_recall@{k}"] == pytest.approx(np.mean(text_hits))
        assert r["metrics"][f"image_retrieval_recall@{k}"] == pytest.approx(np.mean(image_hits))
    m = evaluate("multilabel_classification", tiny_file, f"multilabel:{tmp_path / 'ml.csv'}", templates="photo")
    from sklearn.metrics import average_precision_score

    labels = ["class0", "class1", "class2", "stripes"]
    scores = CLIPClassifier(tiny_file, "photo").scores(images.numpy(), labels)
    truth = np.array([[f"class{t}" == c or c == "stripes" for c in labels] for t in data.targets])
    expected = np.mean([average_precision_score(truth[:, j], scores[:, j]) for j in range(len(labels))])
    assert m["metrics"]["mAP"] == pytest.approx(expected, abs=1e-6)
    with pytest.raises(LabelspaceError, match="needs a captioned dataset"):
        evaluate("zeroshot_retrieval", tiny_file, "synthetic")


def test_results_json_named_from_parts_and_merged(tmp_path, tiny_file):
    a = evaluate("zeroshot_classification", tiny_file, "synthetic", templates="photo", out_dir=tmp_path / "runs")
    b = evaluate("zeroshot_classification", tiny_file, "synthetic@4", templates="plain", out_dir=tmp_path / "runs")
    c = evaluate("zeroshot_classification", tiny_file, "synthetic@4", templates="photo", out_dir=tmp_path / "runs")
    assert Path(a["path"]).name.startswith("zeroshot_classification__clip__")
    assert Path(b["path"]).name.endswith("synthetic-4__templates=plain.json") and b["path"] != c["path"]
    assert len(load_results([tmp_path / "runs"])) == 3
    csv_text = merge_results([tmp_path / "runs"], tmp_path / "all.csv").read_text().splitlines()
    assert csv_text[0] == "task,method,model,dataset,templates,acc1,acc5,mean_per_class_recall,images,skipped"
    assert len(csv_text) == 4
    md = merge_results([tmp_path / "runs"], tmp_path / "all.md").read_text()
    assert md.startswith("| task | method | model | dataset | templates | acc1") and md.count("\n") == 5
    lines = md.splitlines()  # the same table as the CSV, floats at 4 decimals
    assert lines[1] == "|" + "---|" * 10
    as_csv = [[f"{float(c):.4f}" if n >= 5 and "." in c else c for n, c in enumerate(line.split(","))]
              for line in csv_text]
    assert [line.removeprefix("| ").removesuffix(" |").split(" | ") for line in [lines[0], *lines[2:]]] == as_csv


def test_zsl_and_clip_results_merge_into_one_table(tmp_path, tiny_file):
    """A zsl result (nested views) and a zeroshot_classification result share a folder and a table."""
    evaluate("zeroshot_classification", tiny_file, "synthetic", out_dir=tmp_path)
    zsl = {"task": "zsl", "method": "conse", "model": "conse", "dataset": "synthetic", "image_model": "efficientnet-lite0",
           "top_t": 10, "split": "s", "metrics": {"seen": {"hit@1": 0.5}, "gzsl": {"u": 0.0, "s": 0.5, "H": 0.0}}}
    paths = {write_result(tmp_path, {**zsl, "text_model": t}).name for t in ("glove-6b-50d", "minilm")}
    assert paths == {"zsl__conse__conse__synthetic__image_model=efficientnet-lite0__text_model=glove-6b-50d__top_t=10"
                     "__split=s.json", "zsl__conse__conse__synthetic__image_model=efficientnet-lite0__text_model=minilm"
                     "__top_t=10__split=s.json"}
    header, *rows = [line.split(",") for line in merge_results([tmp_path], tmp_path / "all.csv").read_text().splitlines()]
    assert header[:10] == ["task", "method", "model", "dataset", "image_model", "text_model", "top_t", "templates", "split",
                           "acc1"]
    assert {"seen.hit@1", "gzsl.H"} <= set(header) and len(rows) == 3
    h_column = header.index("gzsl.H")
    assert sorted(row[h_column] for row in rows) == ["", "0.0", "0.0"]
    with pytest.raises(LabelspaceError, match="unknown task"):
        evaluate("zeroshot_dancing", tiny_file, "synthetic")


@pytest.mark.parametrize("args,message", [
    (["--task", "zeroshot_classification", "--split", "fashion-mnist-zsl"], "--split does not apply to --task "
     "zeroshot_classification (only to zsl)"),
    (["--task", "linear_probe", "--no-hp"], "--no-hp does not apply"),
    (["--task", "zeroshot_retrieval", "--image-model", "efficientnet-lite1"], "--image-model does not apply"),
    (["--task", "zeroshot_classification", "--shots", "4"], "--shots does not apply to --task zeroshot_classification"),
    (["--task", "linear_probe", "--templates", "photo"], "--templates does not apply"),
    (["--model", "conse", "--templates", "photo"], "--templates applies to CLIP models only"),
    (["--task", "zeroshot_classification", "--calibrate"], "--calibrate does not apply"),
    (["--model", "conse", "--method", "conse"], "--method does not apply to --task zsl"),
    (["--model", "conse", "--distributed"], "--distributed does not apply"),
    (["--model", "conse", "--train-dataset", "synthetic"], "--train-dataset does not apply"),
    (["--task", "zeroshot_dancing"], "unknown task 'zeroshot_dancing'"),
    (["--task", "zeroshot_classification", "--text-model", "minilm"], "--text-model does not apply to --method clip"),
    (["--task", "zeroshot_classification", "--method", "conse", "--templates", "photo"],
     "--templates does not apply to --method conse"),
])
def test_eval_refuses_options_the_task_ignores(args, message, cli_main):
    code, _, err = cli_main("eval", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # two torchrun processes start torch: ~25 s on 2 cores
def test_distributed_two_processes_equal_one(tmp_path, tiny_file, free_port):
    single = evaluate("zeroshot_classification", tiny_file, "synthetic", templates="photo")
    env = {**os.environ, "LABELSPACE_CACHE": str(tmp_path / "cache2"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port),
               "-m", "labelspace.cli", "eval", "--task", "zeroshot_classification", "--model", tiny_file, "--dataset", "synthetic",
               "--templates", "photo", "--distributed", "--out", str(tmp_path / "runs")]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    [path] = (tmp_path / "runs").glob("*.json")
    result = json.loads(path.read_text())
    assert result["processes"] == 2
    assert result["metrics"] == single["metrics"]


def test_distributed_eval_destroys_its_process_group_errors_included(tmp_path, tiny_file, free_port, monkeypatch,
                                                                     cli_main):
    """``eval --distributed`` in a one-process gloo group (torchrun's environment): the group is gone after a
    failed run and after a finished one."""
    import torch.distributed as dist

    monkeypatch.setenv("LABELSPACE_CACHE", str(tmp_path / "cache"))
    for key, value in dict(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                           MASTER_PORT=str(free_port)).items():
        monkeypatch.setenv(key, value)
    try:
        for dataset, expected in (("no-such-dataset", 2), ("synthetic", 0)):
            code, _, err = cli_main("eval", "--task", "zeroshot_classification", "--model", tiny_file, "--dataset",
                                    dataset, "--templates", "photo", "--distributed", "--out", str(tmp_path / "runs"))
            assert code == expected, err
            assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_zsl_task_scores_a_clip_model_with_calibration_and_csls(tmp_path, tiny_file, cli_main):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"name": "s", "seen": ["class0", "class1", "class2"], "unseen": ["class3"],
                                 "validation": ["class0"]}))
    code, out, err = cli_main("eval", "--model", tiny_file, "--dataset", "synthetic", "--split", str(split), "--no-hp",
                              "--templates", "photo", "--calibrate", "--csls", "--out", str(tmp_path / "runs"))
    assert code == 0, err
    [path] = (tmp_path / "runs").glob("zsl__clip__*csls=True.json")
    result = json.loads(path.read_text())
    assert result["templates"] == "photo" and result["metrics"]["hubness"]["csls_k"] in (1, 3, 10, 30, 100)
    # the same numbers as evaluate_split on the same CLIP classifier and cached features
    from labelspace.data import extract_features, load_dataset
    from labelspace.data.splits import load_split
    from labelspace.evaluation import evaluate_split

    model = CLIPClassifier(tiny_file, "photo")
    feats = extract_features(model.image_encoder, load_dataset("synthetic"), progress=False)
    direct = evaluate_split(model, feats.features, feats.targets, feats.class_names, load_split(str(split)), hp_ks=(),
                            calibrate=True, csls=True)
    assert result["metrics"]["calibrated"] == pytest.approx(direct["calibrated"])
    assert result["metrics"]["gzsl"] == pytest.approx(direct["gzsl"])


def test_device_preprocessing_reaches_the_encoder_and_agrees_with_cpu(tmp_path, tiny_file, monkeypatch):
    """--preprocess device on the CPU: the same accuracy as the PIL transform on in-memory images, and the
    one-line error for images of different sizes (which only the device path stacks as uint8). Each
    mode has its own cache: the feature cache does not tell them apart (they agree within its tolerance)."""
    def run(dataset, preprocess, **options):
        monkeypatch.setenv("LABELSPACE_CACHE", str(tmp_path / f"cache-{preprocess}"))
        return evaluate("zeroshot_classification", tiny_file, dataset, preprocess=preprocess, **options)

    results = {p: run("synthetic", p, templates="photo") for p in ("cpu", "device")}
    assert results["cpu"]["metrics"]["acc1"] == results["device"]["metrics"]["acc1"]
    for name, size in (("cat", 20), ("dog", 28)):
        (tmp_path / "set" / name).mkdir(parents=True)
        Image.new("RGB", (size, size), (size * 8, 90, 200)).save(tmp_path / "set" / name / "0.png")
    folder = f"folder:{tmp_path / 'set'}"
    assert run(folder, "cpu")["metrics"]["images"] == 2
    with pytest.raises(LabelspaceError, match="differ in size: preprocess them on the CPU"):
        run(folder, "device")
