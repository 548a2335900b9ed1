"""Every registered entry of every kind meets its kind's contract, built from an offline example spec.

A new entry without an example here fails ``test_every_entry_has_an_example``: add one (or name it in
NEEDS_NETWORK with the reason).
"""
import csv
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import skimage
import torch
from PIL import Image

import clip_helpers as h
from dataset_fixtures import study_sets, write_cifar10
from labelspace.data.vision_sets import TORCHVISION_SETS
from labelspace.errors import LabelspaceError
from labelspace.registry import (CAPTION_SOURCES, CLIP_MODELS, DATASETS, EVAL_TASKS, IMAGE_ENCODERS, LABEL_SETS,
                                 METHODS, REGISTRIES, TEXT_ENCODERS)

CAT = Path(skimage.__file__).parent / "data" / "chelsea.png"
LABELS = ["cat", "dog", "car"]
NEEDS_NETWORK = {}


def entries():
    return [pytest.param(r, e, id=f"{r.kind}:{e.name}") for r in REGISTRIES for e in r.list()]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small offline inputs for the specs that name files or folders."""
    from labelspace.encoders.text import minilm_dir
    from labelspace.models import load_clip, save_clip

    root = tmp_path_factory.mktemp("registry")
    for name, colour in [("red", (230, 20, 20)), ("blue", (20, 20, 230))]:
        (root / "folder" / name).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (32, 32), colour).save(root / "folder" / name / f"{i}.png")
    rows = [("folder/red/0.png", "red"), ("folder/blue/0.png", "blue")]
    with open(root / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with open(root / "captions.csv", "w", newline="") as f:
        csv.writer(f).writerows([(p, f"a {c} square") for p, c in rows])
    with open(root / "multi.csv", "w", newline="") as f:
        csv.writer(f).writerows([(p, f"{c};square") for p, c in rows])
    (root / "vectors.txt").write_text("cat 1 0 0\ndog 0 1 0\ncar 0 0 1\n")
    with tarfile.open(root / "shard.tar", "w") as tar:
        for i, (path, label) in enumerate(rows):
            for suffix, payload in [("png", (root / path).read_bytes()), ("txt", f"a {label} square".encode())]:
                info = tarfile.TarInfo(f"{i:04d}.{suffix}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    save_clip(load_clip("open_clip:ls-clip-tiny"), root / "tiny.safetensors")
    with pytest.MonkeyPatch.context() as patch:
        yield {"root": root, "minilm": minilm_dir(), "hf": h.hf_clip_folder(root / "hf"),
               "checkpoints": trained_checkpoints(root), "run": towers_run(root), **native_sets(root, patch)}


def native_sets(root: Path, patch: pytest.MonkeyPatch) -> dict:
    """VOC, COCO, ImageNet synset folders, CIFAR-10 batches and a save_to_disk folder, small, in their formats."""
    voc, coco = study_sets(root / "study", per_class=1)
    for wnid in ("n01440764", "n02102040"):
        (root / "imagenet" / wnid).mkdir(parents=True)
        Image.new("RGB", (32, 32), (len(wnid), 90, 30)).save(root / "imagenet" / wnid / "0.png")
    pixels = np.random.default_rng(0).integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
    md5 = write_cifar10(root / "cifar", pixels[:10], np.arange(10), pixels[10:], [3, 5], [f"class {i}" for i in range(10)])
    from torchvision.datasets import CIFAR10  # it checks its files' md5s: tell it these

    patch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
    patch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    patch.setitem(CIFAR10.meta, "md5", md5["batches.meta"])
    sets = {"voc": voc, "coco": coco, "imagenet": root / "imagenet", "cifar10": root / "cifar"}
    import datasets
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["red", "blue"])})
    images = [Image.new("RGB", (16, 16), c) for c in ((230, 20, 20), (20, 20, 230))]
    datasets.Dataset.from_dict({"image": images, "label": [0, 1]}, features=features).save_to_disk(root / "hfdata")
    (root / "wnids.txt").write_text("# two synsets\nn02121808 domestic cat\nn02084071\n")
    return {**sets, "hfdata": root / "hfdata", "wnids": root / "wnids.txt"}


def towers_run(root: Path) -> Path:
    """A LiT-style --model towers CLIP run (locked EfficientNet-Lite0, small text transformer), two steps."""
    from labelspace.data.captions import caption_data
    from labelspace.models.trainable import ModelSpec, TrainableCLIP
    from labelspace.training.clip_trainer import ClipTrainConfig, train_clip

    spec = ModelSpec(model="towers", image="efficientnet-lite0", text="transformer:32x1", lock_image=True)
    train_clip(TrainableCLIP(spec), caption_data(f"folder:{root / 'folder'}"),
               ClipTrainConfig(steps=2, batch_size=4, warmup=1), root / "run", progress=False, log=lambda _: None)
    return root / "run"


def trained_checkpoints(root: Path) -> dict:
    """A DeViSE and a softmax checkpoint folder fitted on the synthetic set's EfficientNet-Lite0 features."""
    from labelspace.data import extract_features, synthetic
    from labelspace.data.splits import ClassSplit
    from labelspace.encoders import load_image_encoder, load_text_encoder
    from labelspace.methods.trained import fit_on_split
    from labelspace.training import TrainConfig

    feats = extract_features(load_image_encoder("efficientnet-lite0"), synthetic())
    split = ClassSplit("synthetic-zsl", ("class0", "class1", "class2"), ("class3",), ("class0",))
    folders = {}
    for method in ("devise", "softmax"):
        folders[method] = root / method
        fit_on_split(method, feats.features, feats.targets, feats.class_names, split,
                     TrainConfig(epochs=2, batch_size=16), {"lr": [0.01], "margin": [0.1]},
                     load_text_encoder("random:16"), checkpoint=folders[method],
                     meta={"image_model": "efficientnet-lite0"})
    return folders


def example(registry, name, files) -> str | None:
    """An offline spec for each entry."""
    root = files["root"]
    return {
        (IMAGE_ENCODERS, "timm"): "timm:resnet10t",
        (TEXT_ENCODERS, "wordvec"): f"wordvec:{root / 'vectors.txt'}",
        (TEXT_ENCODERS, "sentence"): f"sentence:{files['minilm']}",
        (TEXT_ENCODERS, "random"): "random:8:1",
        (CLIP_MODELS, "open_clip"): "open_clip:ls-clip-tiny",
        (CLIP_MODELS, "hf"): f"hf:{files['hf']}",
        (CLIP_MODELS, "<file>"): str(root / "tiny.safetensors"),
        (CLIP_MODELS, "run"): f"run:{files['run']}",
        (DATASETS, "fashion-mnist"): "fashion-mnist:test@2",
        (DATASETS, "folder"): f"folder:{root / 'folder'}",
        (DATASETS, "csv"): f"csv:{root / 'labels.csv'}",
        (DATASETS, "captions"): f"captions:{root / 'captions.csv'}",
        (DATASETS, "multilabel"): f"multilabel:{root / 'multi.csv'}",
        (DATASETS, "voc"): f"voc:{files['voc']}",
        (DATASETS, "coco"): f"coco:{files['coco']}",
        (DATASETS, "imagenet"): f"imagenet:{files['imagenet']}",
        (DATASETS, "wds"): f"wds:{root / 'shard.tar'}",
        (DATASETS, "hf"): f"hf:{files['hfdata']}",
        **{(DATASETS, name): f"{name}:{files['cifar10'] if name == 'cifar10' else root / 'not-on-disk'}"
           for name in TORCHVISION_SETS},
        (CAPTION_SOURCES, "captions"): f"captions:{root / 'captions.csv'}",
        (CAPTION_SOURCES, "csv"): f"csv:{root / 'captions.csv'}",
        (CAPTION_SOURCES, "folder"): f"folder:{root / 'folder'}",
        (CAPTION_SOURCES, "wds"): f"wds:{root / 'shard.tar'}",
        (CAPTION_SOURCES, "synthetic-captions"): "synthetic-captions@4",
        (METHODS, "clip"): "clip:open_clip:ls-clip-tiny",
        (METHODS, "conse"): "conse:efficientnet-lite0+random:8",
        (METHODS, "devise"): f"devise:{files['checkpoints']['devise']}",
        (METHODS, "softmax"): f"softmax:{files['checkpoints']['softmax']}",
        (METHODS, "<folder>"): str(files["checkpoints"]["devise"]),
        (LABEL_SETS, "wordnet"): "wordnet:n02121808",
        (LABEL_SETS, "file"): str(files["wnids"]),
    }.get((registry, name), name)


def cat_features(encoder) -> torch.Tensor:
    with torch.inference_mode():
        return encoder.encode(encoder.preprocess(Image.open(CAT).convert("RGB"))[None])


@pytest.mark.parametrize("registry, entry", entries())
def test_every_entry_meets_its_contract(registry, entry, files):
    assert entry.description and entry.name not in NEEDS_NETWORK
    spec = example(registry, entry.name, files)
    if registry is IMAGE_ENCODERS:
        from labelspace.encoders import load_image_encoder

        encoder = load_image_encoder(spec, pretrained=False)
        features = cat_features(encoder)
        assert features.shape == (1, encoder.feature_dim) and torch.isfinite(features).all()
    elif registry is TEXT_ENCODERS:
        from labelspace.encoders import load_text_encoder

        vectors = load_text_encoder(spec).encode(LABELS)
        assert vectors.shape == (3, load_text_encoder(spec).dim) and np.isfinite(vectors).all()
        assert np.linalg.matrix_rank(vectors) == 3  # three labels, three different vectors
    elif registry is CLIP_MODELS:
        from labelspace.models import load_clip

        model = load_clip(spec)
        text = model.encode_text(LABELS)
        assert cat_features(model).shape == (1, model.embed_dim) and text.shape == (3, model.embed_dim)
    elif registry in (DATASETS, CAPTION_SOURCES):
        check_data(registry, spec)
    elif registry is METHODS:
        from labelspace.methods import create_classifier

        classifier = create_classifier(spec)
        labels = getattr(classifier, "labels", LABELS)  # a softmax knows only its seen labels (others score -inf)
        features = cat_features(classifier.image_encoder).numpy()
        scores = classifier.scores(features, labels)
        assert scores.shape == (1, len(labels)) and np.isfinite(scores).all()
        probabilities = classifier.probabilities(features, labels)
        assert probabilities.shape == scores.shape and classifier.exclusive
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
        assert np.array_equal(np.argsort(-probabilities[0], kind="stable"), np.argsort(-scores[0], kind="stable"))
        kept = list(np.argsort(-scores[0], kind="stable")[:-1])  # fewer candidates: the same shares, renormalised
        np.testing.assert_allclose(classifier.probabilities(features, [labels[i] for i in kept])[0],
                                   probabilities[0, kept] / probabilities[0, kept].sum(), rtol=1e-5)
    elif registry is LABEL_SETS:
        from labelspace.metrics.hierarchy import wordnet
        from labelspace.vocab import label_set

        labels = label_set(spec)
        assert len(labels) > 0 and len(set(labels)) == len(labels) and len(labels.wnids) == len(set(labels.wnids))
        assert set(labels.wnids) <= set(wordnet().lemmas)
    else:
        assert registry is EVAL_TASKS and callable(entry.factory)


def check_data(registry, spec):
    if registry is DATASETS:
        from labelspace.data import load_dataset
        from labelspace.data.eval_sets import CaptionSet, MultiLabelSet

        name = spec.partition(":")[0]
        if name in TORCHVISION_SETS and name != "cifar10":  # only CIFAR-10's files are written here
            with pytest.raises(LabelspaceError, match=rf"{name} is not on disk .*download=True") as error:
                load_dataset(spec)
            assert "\n" not in str(error.value)
            return
        data = load_dataset(spec)
        images = data.images if isinstance(data, (CaptionSet, MultiLabelSet)) else data  # they wrap image sets
        assert len(images) > 0 and images.load(0).mode == "RGB"
        if images is data:
            assert set(np.unique(data.targets)) <= set(range(len(data.class_names)))
    else:
        from labelspace.data.captions import ShardStream, caption_data

        data = caption_data(spec)
        image, caption, *_ = next(data.samples(0, 1)) if isinstance(data, ShardStream) else data.load(0)  # labelled sets add a class
        assert image.convert("RGB").size[0] > 0 and isinstance(caption, str) and caption


def test_every_entry_has_an_example(files):
    for registry in REGISTRIES:
        for entry in registry.list():
            needs_argument = entry.argument is not None and not entry.optional or registry.fallback is entry
            if needs_argument:
                assert example(registry, entry.name, files) != entry.name, f"{registry.kind} {entry.name}: add an example"


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.kind)
def test_unknown_spec_is_one_line_error_naming_the_entries(registry):
    with pytest.raises(LabelspaceError) as error:
        registry.create("no-such-entry:x/y")
    message = str(error.value)
    assert "\n" not in message and all(e.spec in message for e in registry.list())


def test_list_prints_every_entry(cli_main, monkeypatch):
    from labelspace.cli import basic

    monkeypatch.setattr(basic.out, "width", 250)  # one line per entry, nothing cut
    code, out, _ = cli_main("list")
    assert code == 0
    assert all(f"{r.kind} " in out and e.spec in out for r in REGISTRIES for e in r.list())


def test_the_listing_manifest_is_what_the_registries_list():
    """`labelspace list` prints presets/registry.json, not the registries: an entry added, changed or removed
    without regenerating it fails here."""
    from labelspace.registry import WRITE_MANIFEST, listing, manifest

    assert manifest() == listing(), f"src/labelspace/presets/registry.json is stale: run `{WRITE_MANIFEST}`"


def test_register_twice_is_refused():
    from labelspace.registry import Registry

    registry = Registry("thing", "labelspace.errors")
    registry.register("a", description="first")(lambda argument: 1)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("a", description="second")(lambda argument: 2)
    assert registry.create("a") == 1
    with pytest.raises(LabelspaceError, match="takes no argument"):
        registry.create("a:x")


@pytest.mark.parametrize("entry", METHODS.list(), ids=lambda e: e.name)
def test_every_method_gives_one_result_through_classify_eval_and_serve(entry, files, tmp_path):
    """classify's ranking, serve's answer and eval's top-1 agree for the same image and candidate labels."""
    from fastapi.testclient import TestClient

    import labelspace
    from labelspace.evaluation import evaluate
    from labelspace.methods import create_classifier
    from labelspace.serve import create_app

    spec = example(METHODS, entry.name, files)
    labels = sorted(getattr(create_classifier(spec), "labels", LABELS))
    [ranked] = labelspace.classify([CAT], labels, method=spec, top=len(labels))
    assert sorted(r["label"] for r in ranked) == labels
    assert sum(r["score"] for r in ranked) == pytest.approx(1.0, abs=1e-6)  # probabilities over the candidates

    with TestClient(create_app({spec: create_classifier(spec)})) as client:
        response = client.post("/classify", files={"image": ("cat.png", CAT.read_bytes(), "image/png")},
                               data={"labels": ",".join(labels)})
    assert response.status_code == 200, response.text
    served = response.json()["labels"]
    assert [r["label"] for r in served] == [r["label"] for r in ranked]
    np.testing.assert_allclose([r["score"] for r in served], [r["score"] for r in ranked], rtol=1e-5, atol=1e-6)

    for label in labels:  # the cat in the folder of classify's best and of its worst label: eval's acc1 is 1/2
        (tmp_path / "eval-set" / label).mkdir(parents=True)
    for label in (ranked[0]["label"], ranked[-1]["label"]):
        (tmp_path / "eval-set" / label / "cat.png").write_bytes(CAT.read_bytes())
    result = evaluate("zeroshot_classification", None, f"folder:{tmp_path / 'eval-set'}", method=spec)
    assert result["metrics"]["acc1"] == 0.5 and result["metrics"]["images"] == 2


def test_a_towers_run_is_evaluated_by_eval(files):
    """`train clip --model towers` writes a folder that `labelspace eval` loads as run:<folder>."""
    from labelspace.evaluation import evaluate
    from labelspace.models import load_clip

    spec = f"run:{files['run']}"
    result = evaluate("zeroshot_classification", spec, f"folder:{files['root'] / 'folder'}", templates="photo")
    model = load_clip(spec)
    with torch.inference_mode():
        images = [Image.open(p).convert("RGB") for p in sorted((files["root"] / "folder").rglob("*.png"))]
        image = torch.nn.functional.normalize(model.encode_image(torch.stack([model.preprocess(i) for i in images])), dim=-1)
        text = torch.nn.functional.normalize(model.encode_text(["a photo of a blue.", "a photo of a red."]), dim=-1)
    truth = np.array([0, 0, 1, 1])  # sorted: blue/0, blue/1, red/0, red/1
    assert result["metrics"]["acc1"] == pytest.approx(np.mean((image @ text.T).argmax(1).numpy() == truth))
