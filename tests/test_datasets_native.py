"""ImageNet, torchvision, Hugging Face and webdataset readers on fixtures in their real formats."""
import re

import numpy as np
import pytest
from dataset_fixtures import paint, write_cifar10, write_shards

from labelspace.data import load_dataset
from labelspace.errors import LabelspaceError

WNIDS = {"n01440764": "tench", "n02012849": "crane (n02012849)", "n03126707": "crane (n03126707)"}


@pytest.fixture
def synset_root(tmp_path):
    root = tmp_path / "train"
    for c, wnid in enumerate(WNIDS):
        (root / wnid / "sub").mkdir(parents=True)
        for k in range(2):
            paint((20, 16), [(0, 0, 10, 10, c)], c * 10 + k).save(root / wnid / f"{wnid}_{k}.JPEG")
        paint((20, 16), [], 99).save(root / wnid / "sub" / "nested.png")
    (root / "n01440764" / "notes.txt").write_text("not an image")
    return root


def test_synset_folders_match_imagefolder_with_wordnet_names(synset_root):
    from torchvision.datasets import ImageFolder

    ours = load_dataset(f"imagenet:{synset_root},names=wordnet")
    reference = ImageFolder(str(synset_root))
    assert [str(p) for p in ours.paths] == [p for p, _ in reference.samples]
    assert ours.targets.tolist() == reference.targets
    assert ours.wnids == reference.classes == list(WNIDS)
    assert list(ours.class_names) == list(WNIDS.values())  # two cranes kept apart by their wnids
    assert ours.class_names.wnids == list(WNIDS) and ours.class_names.texts == ["tench", "crane", "crane"]
    assert np.array_equal(np.asarray(ours.load(3)), np.asarray(reference[3][0]))


def test_synset_folders_are_named_by_clip_by_default_within_imagenet_1k(synset_root):
    from labelspace.prompts import dataset_preset

    clip = dataset_preset("imagenet1k")["classes"]
    # ImageNet-1k indices (sorted wnids): tench 0, crane the bird 134, crane the machine 517
    for spec in (f"imagenet:{synset_root}", f"imagenet:{synset_root},names=clip", f"imagenet:{synset_root}@1"):
        ours = load_dataset(spec)
        assert ours.class_names == [clip[0], clip[134], clip[517]] == ["tench", "crane bird", "construction crane"]
        assert ours.wnids == list(WNIDS)


def test_a_synset_outside_imagenet_1k_names_every_class_by_wordnet(synset_root):
    (synset_root / "n00001740").mkdir()  # entity: no ImageNet-1k class, so CLIP has no name for it
    paint((4, 4), [], 0).save(synset_root / "n00001740" / "a.png")
    ours = load_dataset(f"imagenet:{synset_root}")
    assert list(ours.class_names) == ["entity", *WNIDS.values()] and ours.class_names.texts[2:] == ["crane", "crane"]
    with pytest.raises(LabelspaceError, match="'n00001740' is not an ImageNet-1k class"):
        load_dataset(f"imagenet:{synset_root},names=clip")


def test_synset_wnids_reach_hierarchical_precision(synset_root):
    from labelspace.metrics.hierarchy import wordnet

    ours = load_dataset(f"imagenet:{synset_root}@1")
    # the first-sense guess for "crane" is the bird; the machine keeps its own synset
    assert ours.wnids[2] == "n03126707" != wordnet().synset("crane")


def write_ilsvrc(root, files_wnids):
    """A flat ILSVRC2012 validation folder with the devkit's meta.mat and ground-truth file."""
    import scipy.io

    val, data = root / "val", root / "devkit" / "data"
    val.mkdir(parents=True)
    data.mkdir(parents=True)
    leaves = sorted(set(w for _, w in files_wnids))
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height",
              "num_train_images"]
    records = [(i + 1, w, w, "", 0, np.zeros(0), 0, 10) for i, w in enumerate(leaves)]
    records.append((len(leaves) + 1, "n00001740", "entity", "", 2, np.array([1, 2]), 5, 0))  # not a leaf: ignored
    synsets = np.array(records, dtype=[(f, object) for f in fields])
    scipy.io.savemat(data / "meta.mat", {"synsets": synsets})
    (data / "ILSVRC2012_validation_ground_truth.txt").write_text(
        "".join(f"{leaves.index(w) + 1}\n" for _, w in sorted(files_wnids)))
    for k, (name, _) in enumerate(files_wnids):
        paint((12, 12), [], k).save(val / name)
    (root / "gt.txt").write_text("".join(f"{name} {w}\n" for name, w in files_wnids))
    return val


def test_ilsvrc_validation_layout_by_devkit_and_by_list(tmp_path):
    files = [(f"ILSVRC2012_val_{i:08d}.JPEG", w) for i, w in
             enumerate(["n03126707", "n01440764", "n01440764", "n02012849"], start=1)]
    val = write_ilsvrc(tmp_path, files)
    by_devkit = load_dataset(f"imagenet:{val},devkit={tmp_path / 'devkit'}")
    by_list = load_dataset(f"imagenet:{val},labels={tmp_path / 'gt.txt'}")
    for ours in (by_devkit, by_list):
        assert [p.name for p in ours.paths] == [f for f, _ in files]
        assert [ours.wnids[t] for t in ours.targets] == [w for _, w in files]
        assert ours.class_names == ["tench", "crane bird", "construction crane"]  # CLIP's: all in ImageNet-1k
    (tmp_path / "bad.txt").write_text("ILSVRC2012_val_00000001.JPEG cat\n")
    with pytest.raises(LabelspaceError, match="needs lines '<file> <wnid>'"):
        load_dataset(f"imagenet:{val},labels={tmp_path / 'bad.txt'}")
    (tmp_path / "more.txt").write_text("ILSVRC2012_val_00000099.JPEG n01440764\n")
    with pytest.raises(LabelspaceError, match="1 image\\(s\\) named by .* missing"):
        load_dataset(f"imagenet:{val},labels={tmp_path / 'more.txt'}")
    with pytest.raises(LabelspaceError, match="not an ImageNet-style folder .*found none"):
        load_dataset(f"imagenet:{val}")


def test_unknown_wnid_folder_is_one_line(tmp_path):
    (tmp_path / "n99999999").mkdir()
    paint((4, 4), [], 0).save(tmp_path / "n99999999" / "a.png")
    with pytest.raises(LabelspaceError, match="'n99999999' is not a WordNet 3.0 noun synset"):
        load_dataset(f"imagenet:{tmp_path}")
    (tmp_path / "cats").mkdir()
    with pytest.raises(LabelspaceError, match="found cats/"):
        load_dataset(f"imagenet:{tmp_path}")


CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture
def cifar(tmp_path, monkeypatch):
    """CIFAR-10 batch files; torchvision's class is told their md5s (it refuses files it does not know)."""
    from torchvision.datasets import CIFAR10

    rng = np.random.default_rng(0)
    train, test = (rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8) for n in (25, 7))
    train_labels, test_labels = rng.integers(0, 10, 25), rng.integers(0, 10, 7)
    md5 = write_cifar10(tmp_path, train, train_labels, test, test_labels, CIFAR_NAMES)
    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setitem(CIFAR10.meta, "md5", md5["batches.meta"])
    return tmp_path, train, train_labels, test, test_labels


def test_cifar10_through_torchvision_same_items(cifar):
    from torchvision.datasets import CIFAR10

    root, train, train_labels, test, test_labels = cifar
    for split, images, labels in (("test", test, test_labels), ("train", train, train_labels)):
        ours = load_dataset(f"cifar10:{root},split={split}")
        reference = CIFAR10(str(root), train=split == "train", download=False)
        assert ours.class_names == CIFAR_NAMES == reference.classes
        assert ours.targets.tolist() == labels.tolist() == reference.targets
        for i in (0, len(labels) - 1):
            assert np.array_equal(np.asarray(ours.load(i)), images[i])
            assert np.array_equal(np.asarray(ours.load(i)), np.asarray(reference[i][0]))


def test_cifar10_missing_or_corrupt_says_how_to_download(cifar, tmp_path):
    root = cifar[0]
    with pytest.raises(LabelspaceError, match=r"cifar10 is not on disk .*torchvision.datasets.CIFAR10\(.*download=True"):
        load_dataset(f"cifar10:{tmp_path / 'nowhere'}")
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    with pytest.raises(LabelspaceError, match="not on disk .* or is corrupted"):
        load_dataset(f"cifar10:{root}")
    with pytest.raises(LabelspaceError, match="cifar10 split 'val' is unknown \\(accepted: test, train\\)"):
        load_dataset(f"cifar10:{root},split=val")


def test_class_name_file_must_match_the_data(cifar, tmp_path):
    root = cifar[0]
    (tmp_path / "names.txt").write_text("\n".join(f"thing {i}" for i in range(10)))
    assert load_dataset(f"cifar10:{root},classes={tmp_path / 'names.txt'}").class_names[3] == "thing 3"
    (tmp_path / "short.txt").write_text("a\nb\n")
    with pytest.raises(LabelspaceError, match="has 2 names but cifar10 .* has 10 classes"):
        load_dataset(f"cifar10:{root},classes={tmp_path / 'short.txt'}")


def test_hf_save_to_disk_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    images = [paint((10, 8), [(0, 0, 5, 5, c % 3)], c) for c in range(6)]
    features = datasets.Features({"img": datasets.Image(), "caption": datasets.Value("string"),
                                  "fine": datasets.ClassLabel(names=["red", "green", "blue"])})
    ds = datasets.Dataset.from_dict({"img": images, "caption": ["x"] * 6, "fine": [0, 1, 2, 2, 1, 0]}, features=features)
    datasets.DatasetDict({"train": ds.select(range(4)), "test": ds.select(range(4, 6))}).save_to_disk(tmp_path / "dict")
    ds.save_to_disk(tmp_path / "one")
    one = load_dataset(f"hf:{tmp_path / 'one'}")
    assert one.class_names == ["red", "green", "blue"] and one.targets.tolist() == [0, 1, 2, 2, 1, 0]
    assert np.array_equal(np.asarray(one.load(4)), np.asarray(images[4]))  # PNG round trip: exact
    reference = datasets.load_from_disk(str(tmp_path / "one"))
    assert np.array_equal(np.asarray(one.load(2)), np.asarray(reference[2]["img"].convert("RGB")))
    test = load_dataset(f"hf:{tmp_path / 'dict'}")  # a DatasetDict: test split by default
    assert test.targets.tolist() == [1, 0] and np.array_equal(np.asarray(test.load(0)), np.asarray(images[4]))
    assert load_dataset(f"hf:{tmp_path / 'dict'},split=train").targets.tolist() == [0, 1, 2, 2]
    with pytest.raises(LabelspaceError, match="split 'val' is not in .*accepted: train, test"):
        load_dataset(f"hf:{tmp_path / 'dict'},split=val")
    with pytest.raises(LabelspaceError, match="no ClassLabel column caption .*img: Image"):
        load_dataset(f"hf:{tmp_path / 'one'},label=caption")
    (tmp_path / "plain").mkdir()
    with pytest.raises(LabelspaceError, match="is not a saved Hugging Face dataset"):
        load_dataset(f"hf:{tmp_path / 'plain'}")


def shard_samples(kind):
    names = ["cat", "dog", "owl"]
    return [(paint((9, 9), [(0, 0, 4, 4, i % 3)], i), kind, (i % 3) if kind == "cls" else names[i % 3])
            for i in range(7)], names


def test_wds_shards_cls_and_txt_by_rank(tmp_path):
    samples, names = shard_samples("cls")
    pattern = write_shards(tmp_path / "cls", samples, per_shard=3)
    (tmp_path / "names.txt").write_text("\n".join(names))
    ours = load_dataset(f"wds:{pattern},classes={tmp_path / 'names.txt'}")
    assert ours.class_names == names and ours.targets.tolist() == [i % 3 for i in range(7)]
    for i in (0, 4, 6):
        assert np.array_equal(np.asarray(ours.load(i)), np.asarray(samples[i][0]))
    assert ours.rank_positions(0, 2).tolist() == [0, 1, 2, 6] and ours.rank_positions(1, 2).tolist() == [3, 4, 5]
    with pytest.raises(LabelspaceError, match="3 shard\\(s\\) for 4 processes"):
        ours.rank_positions(0, 4)
    with pytest.raises(LabelspaceError, match="hold cls indices: name their classes"):
        load_dataset(f"wds:{pattern}")
    txt, _ = shard_samples("txt")
    text = load_dataset(f"wds:{write_shards(tmp_path / 'txt', txt, per_shard=4)}")
    assert text.class_names == sorted(names) and [text.class_names[t] for t in text.targets] == [s[2] for s in txt]


def test_wds_incomplete_samples_are_counted_and_named(tmp_path):
    import webdataset as wds

    tmp_path.mkdir(exist_ok=True)
    with wds.TarWriter(str(tmp_path / "a.tar")) as sink:
        sink.write({"__key__": "good", "png": paint((5, 5), [], 0), "txt": "cat"})
        sink.write({"__key__": "nolabel", "png": paint((5, 5), [], 1)})
        sink.write({"__key__": "noimage", "txt": "dog"})
    ours = load_dataset(f"wds:{tmp_path / 'a.tar'}")
    assert len(ours) == 1 and ours.incomplete == 2 and ours.incomplete_keys == ["a.tar:nolabel", "a.tar:noimage"]
    with pytest.raises(LabelspaceError, match="webdataset shards not found: .*b.tar"):
        load_dataset(f"wds:{tmp_path / 'b.tar'}")


class MeanColour:
    """A stand-in image encoder: the mean RGB of a 4x4 resize (the feature cache and gathering are real)."""

    name, cache_key, feature_dim = "mean-colour", "mean-colour-v1", 3

    def preprocess(self, image):
        import torch

        return torch.tensor(np.asarray(image.resize((4, 4)), dtype=np.float32).mean(axis=(0, 1)))

    def encode(self, batch):
        return batch


class RecordingText:
    """A stand-in text encoder: a seeded random unit vector per text, every text it is given recorded."""

    name, dim = "recording", 8

    def __init__(self):
        import uuid

        self.cache_key, self.texts = f"recording-{uuid.uuid4()}", []  # never an earlier run's cached vectors

    def encode(self, labels, on_unknown="error"):
        self.texts += list(labels)
        return np.stack([np.random.default_rng(sum(map(ord, t))).normal(size=self.dim) for t in labels])


def test_wordnet_named_classes_reach_text_encoders_as_synsets_never_as_wnids(synset_root):
    """names=wordnet names the two cranes apart by their wnids; zero-shot eval (plain and over a split, features
    read back from the cache), DeViSE training and CLIP-training captions encode the synsets' lemmas and say the
    bare lemma: no wnid reaches a text model, and label vectors follow the synset rule."""
    import torch

    from labelspace.data import extract_features
    from labelspace.data.captions import TemplateCaptions
    from labelspace.data.splits import make_split
    from labelspace.evaluation import evaluate_split
    from labelspace.evaluation.tasks import zeroshot_classification
    from labelspace.methods.devise import DeViSE, DeViSEClassifier
    from labelspace.methods.trained import fit_on_split
    from labelspace.numeric import unit_rows
    from labelspace.training import TrainConfig
    from labelspace.zeroshot.synsets import synset_bank

    (synset_root / "n01443537").mkdir()  # goldfish: a third seen class for the split
    for k in range(2):
        paint((20, 16), [(0, 0, 10, 10, 5)], 70 + k).save(synset_root / "n01443537" / f"{k}.JPEG")
    data, text, wnid = load_dataset(f"imagenet:{synset_root},names=wordnet"), RecordingText(), re.compile(r"n\d{8}")
    torch.manual_seed(0)
    devise = DeViSEClassifier(DeViSE(3, text.dim), text, MeanColour())
    assert zeroshot_classification(devise, data, progress=False, workers=0)["images"] == 11
    lemmas = {lemma for synset in data.class_names.lemmas() for lemma in synset}
    assert "crane" in lemmas and set(text.texts) == lemmas and not any(wnid.search(t) for t in text.texts)
    bank = synset_bank(text, data.class_names)[0]  # the synset rule: the mean of each synset's unit lemma vectors
    probe = np.eye(3, dtype=np.float32)
    np.testing.assert_allclose(devise.scores(probe, data.class_names), unit_rows(devise.embed(probe)) @ bank.T,
                               rtol=1e-5)

    split = make_split("cranes", ["tench", "goldfish", "crane (n02012849)"], ["crane (n03126707)"],
                       validation=["crane (n02012849)"])
    feats = extract_features(MeanColour(), data, progress=False, workers=0)
    assert feats.cached and feats.class_names.wnids == ["n01440764", "n01443537", "n02012849", "n03126707"]
    text.texts.clear()
    metrics = evaluate_split(devise, feats.features, feats.targets, feats.class_names, split, hp_ks=())
    assert metrics["seen"]["images"] == 8 and metrics["zsl"]["images"] == 3
    fit_on_split("devise", np.asarray(feats.features), feats.targets, feats.class_names, split, TrainConfig(epochs=1),
                 {"lr": [0.01], "margin": [0.1]}, text)
    assert "crane" in text.texts and not any(wnid.search(t) for t in text.texts)
    prompts = [p for class_prompts in TemplateCaptions(data).prompts for p in class_prompts]
    assert "itap of a crane." in prompts and not any(wnid.search(p) for p in prompts)


def _rank(rank, pattern, classes, cache, out, port):
    import os

    import torch.distributed as dist

    from labelspace.evaluation import gathered_features

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LABELSPACE_CACHE=cache)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    dataset = load_dataset(f"wds:{pattern},classes={classes}")
    seen = []
    load = dataset.load
    dataset.load = lambda i: seen.append(int(i)) or load(i)
    feats = gathered_features(MeanColour(), dataset, progress=False, workers=0)  # the set holds a lambda
    np.savez(f"{out}-{rank}.npz", features=np.asarray(feats.features), indices=feats.indices, seen=seen)
    dist.destroy_process_group()


def test_distributed_features_read_whole_shards(tmp_path, free_port):
    """Under two processes each reads the samples of its own shards; gathered, they equal one process's."""
    import torch.multiprocessing as mp

    from labelspace.data import extract_features

    samples, names = shard_samples("cls")
    pattern = write_shards(tmp_path / "cls", samples, per_shard=3)
    (tmp_path / "names.txt").write_text("\n".join(names))
    single = extract_features(MeanColour(), load_dataset(f"wds:{pattern},classes={tmp_path / 'names.txt'}"),
                              use_cache=False, progress=False)
    mp.spawn(_rank, args=(pattern, str(tmp_path / "names.txt"), str(tmp_path / "cache"), str(tmp_path / "out"), free_port),
             nprocs=2)
    parts = [np.load(tmp_path / f"out-{r}.npz") for r in (0, 1)]
    assert sorted(parts[0]["seen"].tolist()) == [0, 1, 2, 6] and sorted(parts[1]["seen"].tolist()) == [3, 4, 5]
    for part in parts:
        assert part["indices"].tolist() == list(range(7))
        np.testing.assert_allclose(part["features"], single.features, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    import clip_helpers as h

    from labelspace.models import load_clip, save_clip

    folder = tmp_path_factory.mktemp("tiny")
    h.register_tiny_configs(folder)
    save_clip(load_clip("open_clip:ls-tiny-vit"), folder / "tiny.safetensors")
    return str(folder / "tiny.safetensors")


def test_eval_uses_the_sets_own_templates_unasked(cifar, tiny_clip, tmp_path, monkeypatch):
    from labelspace.evaluation import evaluate
    from labelspace.zeroshot import template_set

    monkeypatch.setenv("LABELSPACE_CACHE", str(tmp_path / "cache"))
    spec = f"cifar10:{cifar[0]}"
    unasked = evaluate("zeroshot_classification", tiny_clip, spec)
    assert unasked["templates"] == "cifar10" and unasked["metrics"]["images"] == 7
    assert template_set("cifar10")[:2] == ["a photo of a {}.", "a blurry photo of a {}."] and len(template_set("cifar10")) == 18
    explicit = evaluate("zeroshot_classification", tiny_clip, spec, templates=template_set("cifar10"))
    assert explicit["metrics"] == unasked["metrics"]
    assert evaluate("zeroshot_classification", tiny_clip, "synthetic")["templates"] == "openai"


def test_eval_multilabel_on_voc_images_view(tiny_clip, tmp_path, monkeypatch):
    from dataset_fixtures import write_voc

    from labelspace.evaluation import evaluate

    monkeypatch.setenv("LABELSPACE_CACHE", str(tmp_path / "cache"))
    voc = write_voc(tmp_path, {"a": ((40, 30), [("dog", (1, 1, 20, 20), False, False), ("cat", (20, 5, 39, 29), 0, 0)]),
                               "b": ((30, 30), [("cat", (0, 0, 30, 30), False, False)])}, {"val": ["a", "b"]})
    result = evaluate("multilabel_classification", tiny_clip, f"voc:{voc},view=images")
    assert result["templates"] == "voc2007" and result["metrics"]["images"] == 2
    assert 0 <= result["metrics"]["mAP"] <= 1
    with pytest.raises(LabelspaceError, match="one label per image: view=crops"):
        evaluate("zeroshot_classification", tiny_clip, f"voc:{voc},view=images")


def test_wds_class_names_from_a_packaged_set(tmp_path):
    from labelspace.prompts import dataset_preset

    samples = [(paint((6, 6), [], i), "cls", i) for i in range(3)]
    pattern = write_shards(tmp_path / "s", samples, per_shard=3)
    ours = load_dataset(f"wds:{pattern},classes=eurosat")
    assert ours.class_names == dataset_preset("eurosat")["classes"] and ours.class_names[:2] == ["annual crop land", "forest"]
    with pytest.raises(LabelspaceError, match="classes='nothing.txt' is neither a file"):
        load_dataset(f"wds:{pattern},classes=nothing.txt")
