"""PASCAL VOC and COCO readers on fixtures in their real formats, against hand-made expectations and torchvision."""
import json

import numpy as np
import pytest
from dataset_fixtures import COCO_NAMES, colour, write_coco, write_voc

from labelspace.data import load_dataset
from labelspace.errors import LabelspaceError

VOC = {
    "000001": ((64, 48), [("dog", (10, 5, 30, 25), False, False), ("person", (40, 10, 60, 40), True, False)]),
    "000002": ((50, 40), [("cat", (0, 0, 24, 20), False, True), ("bird", (30, 30, 33, 33), False, False),
                          ("tvmonitor", (26, 2, 48, 18), False, False)]),
    "000003": ((40, 40), [("sheep", (5, 5, 35, 35), False, False)]),
}


@pytest.fixture
def voc_root(tmp_path):
    return write_voc(tmp_path, VOC, {"val": ["000001", "000002"], "train": ["000003"]})


def mean_colour(image):
    return np.asarray(image, dtype=np.float64).reshape(-1, 3).mean(axis=0)


def test_voc_crops_match_the_boxes_written(voc_root):
    crops = load_dataset(f"voc:{voc_root.parent}")  # the VOCdevkit folder holding one VOC20xx
    # default: split val, difficult objects dropped, truncated kept: dog, cat, bird, tvmonitor
    assert [crops.class_names[t] for t in crops.targets] == ["dog", "cat", "bird", "tvmonitor"]
    expected = [(10, 5, 30, 25), (0, 0, 24, 20), (30, 30, 33, 33), (26, 2, 48, 18)]
    for i, (box, name) in enumerate(zip(expected, ["dog", "cat", "bird", "tvmonitor"])):
        crop = crops.load(i)
        assert crop.size == (box[2] - box[0], box[3] - box[1])
        if min(crop.size) > 4:  # JPEG keeps a solid box's colour within a few grey levels away from its edges
            inner = np.asarray(crop)[2:-2, 2:-2].reshape(-1, 3).mean(axis=0)
            assert np.abs(inner - colour(crops.class_names.index(name))).max() < 8


def test_voc_options_filter_and_widen(voc_root):
    every = load_dataset(f"voc:{voc_root},difficult=true")
    assert [every.class_names[t] for t in every.targets] == ["dog", "person", "cat", "bird", "tvmonitor"]
    plain = load_dataset(f"voc:{voc_root},truncated=false,min_size=4")
    assert [plain.class_names[t] for t in plain.targets] == ["dog", "tvmonitor"]
    wide = load_dataset(f"voc:{voc_root},margin=0.5")
    assert wide.load(0).size == (40, 35)  # dog (10, 5, 30, 25) widened by 10 px a side: columns 0..40, rows 0..35
    assert wide.load(1).size == (36, 30)  # cat at the corner: clipped on the left and top
    train = load_dataset(f"voc:{voc_root},split=train")
    assert [train.class_names[t] for t in train.targets] == ["sheep"]
    assert len({every.fingerprint, plain.fingerprint, wide.fingerprint, load_dataset(f"voc:{voc_root}").fingerprint}) == 4


def test_voc_images_view_holds_label_sets(voc_root):
    from labelspace.data.eval_sets import MultiLabelSet

    images = load_dataset(f"voc:{voc_root},view=images")
    assert isinstance(images, MultiLabelSet)  # the reader gives the multi-label type; the eval runner wraps nothing
    names = images.class_names
    assert [sorted(names[c] for c in np.flatnonzero(row)) for row in images.multi_hot] == [
        ["dog", "person"], ["bird", "cat", "tvmonitor"]]
    assert images.load(0).size == (64, 48)


def test_voc_matches_torchvision_vocdetection(voc_root):
    from torchvision.datasets import VOCDetection

    reference = VOCDetection(str(voc_root.parent.parent), year="2012", image_set="val", download=False)
    ours = load_dataset(f"voc:{voc_root},difficult=true")
    boxes = []
    for image, target in reference:
        for obj in target["annotation"]["object"]:
            b = obj["bndbox"]
            boxes.append((obj["name"], float(b["xmin"]) - 1, float(b["ymin"]) - 1, float(b["xmax"]), float(b["ymax"])))
    assert [(ours.class_names[t], *box) for t, box in zip(ours.targets, ours.boxes.tolist())] == boxes
    first = ours.load(0)
    expected = reference[0][0].crop((10, 5, 30, 25))
    assert np.array_equal(np.asarray(first), np.asarray(expected))


def test_voc_corrupt_image_is_skipped_and_named(voc_root, tmp_path):
    import torch

    from labelspace.data import extract_features

    class Size:  # a stand-in encoder: each crop's width and height
        name, cache_key, feature_dim = "size", "size-v1", 2

        def preprocess(self, image):
            return torch.tensor(image.size, dtype=torch.float32)

        def encode(self, batch):
            return batch

    (voc_root / "JPEGImages" / "000002.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    feats = extract_features(Size(), load_dataset(f"voc:{voc_root}"), cache_dir=tmp_path, progress=False)
    assert feats.indices.tolist() == [0] and feats.features.tolist() == [[20, 20]]  # only the dog's crop decodes
    assert feats.skipped == 3 and all("000002.jpg" in s for s in feats.skipped_images)


@pytest.mark.parametrize("change, message", [
    (lambda v: (v / "ImageSets" / "Main" / "val.txt").write_text("000001\n000009\n"), "has no annotation"),
    (lambda v: (v / "JPEGImages" / "000002.jpg").unlink(), "1 image(s) named by"),
    (lambda v: (v / "Annotations" / "000001.xml").write_text(
        (v / "Annotations" / "000001.xml").read_text().replace("<xmax>30</xmax>", "<xmax>99</xmax>")), "outside"),
    (lambda v: (v / "Annotations" / "000001.xml").write_text(
        (v / "Annotations" / "000001.xml").read_text().replace("<xmax>30</xmax>", "<xmax>10</xmax>")), "zero area"),
    (lambda v: (v / "Annotations" / "000001.xml").write_text("<annotation"), "not valid XML"),
])
def test_voc_bad_input_is_one_line(voc_root, change, message):
    change(voc_root)
    with pytest.raises(LabelspaceError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        load_dataset(f"voc:{voc_root}")
    assert "\n" not in str(info.value)


def test_voc_unknown_split_view_option_and_wrong_folder(voc_root, tmp_path):
    with pytest.raises(LabelspaceError, match=r"split 'test' is unknown .*accepted: train, val"):
        load_dataset(f"voc:{voc_root},split=test")
    with pytest.raises(LabelspaceError, match="view=.*accepted: crops, images"):
        load_dataset(f"voc:{voc_root},view=boxes")
    with pytest.raises(LabelspaceError, match="unknown option 'margn'"):
        load_dataset(f"voc:{voc_root},margn=0.1")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "photo.jpg").write_bytes(b"")
    with pytest.raises(LabelspaceError, match="not a PASCAL VOC folder .*expected a VOCdevkit/VOC20xx.*found photo.jpg"):
        load_dataset(f"voc:{tmp_path / 'elsewhere'}")


COCO_CATEGORIES = [(1, "person"), (5, "airplane"), (18, "dog"), (72, "tv")]
COCO_IMAGES = [
    ((64, 48), [(18, [10.5, 5.0, 20.0, 20.0], False), (1, [0.0, 0.0, 64.0, 48.0], True), (5, [30, 20, 34, 28], False)]),
    ((32, 32), [(72, [2, 2, 12, 14], False)]),
    ((32, 32), []),
]


@pytest.fixture
def coco_json(tmp_path):
    return write_coco(tmp_path / "coco", COCO_IMAGES, COCO_CATEGORIES)


def test_coco_crops_names_from_the_file_crowd_skipped(coco_json):
    crops = load_dataset(f"coco:{coco_json}")
    assert crops.class_names == ["person", "airplane", "dog", "tv"]  # category-id order
    assert [crops.class_names[t] for t in crops.targets] == ["dog", "airplane", "tv"]
    assert crops.crowd_skipped == 1
    assert [crops.load(i).size for i in range(3)] == [(21, 20), (34, 28), (12, 14)]  # 10.5..30.5 -> columns 10..30
    inner = np.asarray(crops.load(2))[3:-3, 3:-3].reshape(-1, 3).mean(axis=0)
    assert np.abs(inner - colour(3)).max() < 8  # tv: the fixture painted category index 3


def test_coco_images_view_and_image_folder_option(coco_json, tmp_path):
    images = load_dataset(f"coco:{coco_json},view=images")
    assert type(images).__name__ == "MultiLabelSet"
    assert images.multi_hot.astype(int).tolist() == [[0, 1, 1, 0], [0, 0, 0, 1]]  # crowd person not a label
    assert images.unlabelled == 1
    moved = tmp_path / "pictures"
    (coco_json.parent.parent / "val2017").rename(moved)
    with pytest.raises(LabelspaceError, match="no image folder val2017/"):
        load_dataset(f"coco:{coco_json}")
    assert len(load_dataset(f"coco:{coco_json},images={moved}")) == 3


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["annotations"][0].update(bbox=[60, 5, 20, 20]), "outside its 64x48 image"),
    (lambda d: d["annotations"][0].update(bbox=[10, 5, 0, 20]), "zero area"),
    (lambda d: d["annotations"][0].update(image_id=99), "names image id 99"),
    (lambda d: d["images"].append({"id": 4, "file_name": "gone.jpg", "width": 8, "height": 8}), "missing: .*gone.jpg"),
    (lambda d: d.pop("categories"), "not a COCO instances file .*found keys annotations, images, info"),
])
def test_coco_bad_input_is_one_line(coco_json, edit, message):
    data = json.loads(coco_json.read_text())
    edit(data)
    coco_json.write_text(json.dumps(data))
    with pytest.raises(LabelspaceError, match=message):
        load_dataset(f"coco:{coco_json}")


def test_coco_names_map_onto_voc_with_the_preset(coco_json):
    from labelspace.analysis.presets import apply_preset, load_preset

    crops = load_dataset(f"coco:{coco_json}")
    voc = load_preset("voc")
    assert [voc.canonical(n) for n in crops.class_names] == ["person", "aeroplane", "dog", "monitor"]
    assert COCO_NAMES[-1] == "tv" and len({voc.canonical(n) for n in COCO_NAMES}) == 20
    with pytest.raises(LabelspaceError, match="has no class for bicycle"):
        apply_preset(crops, voc)


@pytest.mark.slow  # two packaged CNNs on 20 crops per set
def test_analyze_pascal_vs_coco_in_one_command(tmp_path, cli_main, monkeypatch):
    from dataset_fixtures import study_sets

    monkeypatch.setenv("LABELSPACE_CACHE", str(tmp_path / "cache"))
    voc, coco = study_sets(tmp_path, per_class=1)
    code, _, err = cli_main("analyze", "-d", f"voc:{voc}", "-d", f"coco:{coco}", "--preset", "voc",
                            "-i", "efficientnet-lite0", "-i", "efficientnet-lite1", "-t", "glove-6b-50d",
                            "--bootstrap", "20", "--permutations", "99", "--out", str(tmp_path / "out"))
    assert code in (0, None), err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["class_names"][0] == "aeroplane" and results["class_names"][-1] == "monitor"
    kinds = [c["kind"] for c in results["comparisons"]]
    # two models on each of two domains, one text model
    assert kinds.count("vision-vision") == 2 and kinds.count("vision-language") == 4
    assert kinds.count("across-domains") == 2
    across = [c for c in results["comparisons"] if c["kind"] == "across-domains"]
    # the same painted colours in both sets: each model's class relations agree across the two domains
    assert all(c["pearson"] > 0.5 and c["mantel_p"] < 0.05 for c in across)
    report = (tmp_path / "out" / "report.md").read_text()
    for kind in ("vision-vision", "vision-language", "across-domains"):
        assert kind in report


@pytest.mark.parametrize("command", [
    ["analyze", "-d", "voc:/nowhere/VOC2012", "-t", "minilm"],
    ["eval", "--task", "zeroshot_classification", "--dataset", "cifar10:/nowhere"],
    ["eval", "--task", "multilabel_classification", "--dataset", "coco:/nowhere/instances_val2017.json"],
])
def test_cli_bad_native_spec_is_one_line_exit_2(cli_main, command):
    code, _, err = cli_main(*command)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "/nowhere" in err
