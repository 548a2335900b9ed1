"""Every packaged class list maps to WordNet noun synsets, by the lookup rule plus the scoped overrides; a label with
none is found before any encoding."""
import json
from importlib import resources

import pytest

from labelspace.data.datasets import FASHION_MNIST_CLASSES
from labelspace.data.vision_sets import SPEC_PRESETS
from labelspace.data.voc import VOC_CLASSES
from labelspace.errors import LabelspaceError
from labelspace.metrics.hierarchy import load_overrides, wordnet

PRESETS = resources.files("labelspace") / "presets"
# the names torchvision reads from these sets' own files (not packaged: the sets are not)
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100 = ["apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl",
            "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee",
            "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant",
            "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower",
            "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
            "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate",
            "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark",
            "shrew", "skunk", "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower",
            "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor", "train", "trout", "tulip",
            "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm"]
STL10 = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def packaged_lists():
    """(dataset kind, class names) of every class list labelspace ships or reads from a known set."""
    kinds = {preset: kind for kind, preset in SPEC_PRESETS.items()}
    lists = [("voc", VOC_CLASSES), ("voc", json.loads((PRESETS / "voc.json").read_text())["classes"]),
             ("coco", json.loads((PRESETS / "coco.json").read_text())["classes"]),
             ("fashion-mnist", FASHION_MNIST_CLASSES), ("cifar10", CIFAR10), ("cifar100", CIFAR100), ("stl10", STL10)]
    for path in sorted((PRESETS / "datasets").iterdir(), key=lambda p: p.name):
        preset = json.loads(path.read_text())
        if "classes" in preset and preset["name"] != "imagenet1k":  # ImageNet's classes carry their wnids
            lists.append((kinds.get(preset["name"], preset["name"]), preset["classes"]))
    return lists


@pytest.mark.parametrize("kind,names", packaged_lists(), ids=[f"{k}-{len(n)}" for k, n in packaged_lists()])
def test_every_packaged_class_name_maps_to_a_noun_synset(kind, names):
    net = wordnet()
    nodes = net.synsets(names, load_overrides(dataset=f"{kind}:/data"))
    assert len(nodes) == len(names) and all(node in net.lemmas for node in nodes)


def test_imagenet_1k_classes_map_to_their_own_synsets():
    net = wordnet()
    wnids = (PRESETS / "labelsets" / "imagenet-1k.txt").read_text().split()
    clip = json.loads((PRESETS / "datasets" / "imagenet1k.json").read_text())["classes"]
    assert len(wnids) == len(clip) == 1000 and all(w in net.lemmas for w in wnids)
    overrides = load_overrides(dataset="imagenet:/data")
    overrides.update(zip(clip, wnids))  # what evaluate_zsl does with the data's wnids
    once = [i for i, name in enumerate(clip) if clip.count(name) == 1]  # CLIP named two pairs alike (missile, sunglasses)
    assert len(once) == 996
    assert net.synsets([clip[i] for i in once], overrides) == [wnids[i] for i in once]


@pytest.mark.parametrize("kind,label,wnid", [
    ("voc", "diningtable", "n03201208"),         # dining table, by segmentation: dining_table
    ("coco", "dining table", "n03201208"),
    ("voc", "pottedplant", "n11536230"),         # pot plant, not the industrial plant
    ("coco", "potted plant", "n11536230"),
    ("voc", "tvmonitor", "n04405762"),           # television monitor, by segmentation
    ("voc", "motorbike", "n03790512"),           # motorcycle, not WordNet's minibike
    ("coco", "mouse", "n03793489"),              # the computer mouse
    ("cifar100", "mouse", "n02330245"),          # the animal
    ("coco", "keyboard", "n03085013"),           # computer keyboard
    ("cifar100", "keyboard", "n03614007"),       # any keyboard (pianos too)
    ("coco", "apple", "n07739125"),              # the fruit
    ("coco", "tv", "n04405907"),                 # a television set, not broadcasting
    ("coco", "hot dog", "n07697537"),            # the food, not the show-off
    ("cifar100", "turtle", "n01662784"),         # the reptile, not the turtleneck
    ("cifar100", "seal", "n02076196"),           # the animal, not sealing wax
    ("pets", "Boxer", "n02108089"),              # the dog, not the fighter
    ("country211", "Turkey", "n09039411"),       # the country, not the bird
    ("cifar10", "automobile", "n02958343"),
])
def test_tricky_names_map_to_the_right_sense(kind, label, wnid):
    assert wordnet().synset(label, load_overrides(dataset=f"{kind}:/data")) == wnid


def test_overrides_are_scoped_to_their_dataset_and_a_user_file_wins(tmp_path):
    assert "mouse" not in load_overrides() and load_overrides(dataset="coco:/a.json")["mouse"] == "mouse.n.04"
    user = tmp_path / "mine.json"
    user.write_text('{"mouse": "mouse.n.01"}')
    assert load_overrides(user, "coco:/a.json")["mouse"] == "mouse.n.01"


def test_segmentation_is_the_text_encoders(monkeypatch):
    from labelspace.encoders.text import label_tokens

    net = wordnet()
    assert net.words_of("diningtable") == label_tokens("diningtable", net.vocabulary) == ["dining", "table"]
    assert net.words_of("tvmonitor") == ["tv", "monitor"]


def test_a_label_without_synset_stops_eval_before_any_encoding(monkeypatch, tmp_path):
    from PIL import Image

    from labelspace.evaluation import zsl
    from labelspace.methods import trained

    for name in ("cat", "xqzzyplonk"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "a.png")

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the labels were checked")

    monkeypatch.setattr(trained, "load_classifier", no_model)
    with pytest.raises(LabelspaceError, match="'xqzzyplonk' has no WordNet noun synset.*--wordnet-overrides"):
        zsl.evaluate_zsl("conse", f"folder:{tmp_path}")
