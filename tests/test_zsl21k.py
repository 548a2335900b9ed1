"""``eval --task zsl --labels``: the ImageNet-21K protocol (every image against a label set), checked against a
naive computation over the same scores, its bad input before any model loads, and Fashion-MNIST against 21K+1K."""
import json

import numpy as np
import pytest
from PIL import Image

from labelspace.evaluation.labelsets import evaluate_labels
from labelspace.evaluation.results import flat_metrics
from labelspace.metrics.hierarchy import wordnet
from labelspace.vocab import label_set, packaged_wnids

CONSE = "conse:efficientnet-lite0+glove-6b-50d"
SANDAL = "n04133789"  # an ImageNet-1K class, not in 2-hops


def photos() -> dict[str, Image.Image]:
    """Bundled photos (the ``photos`` dataset) under 2-hops synsets: domestic cat, coffee, rocket, flower."""
    from labelspace.data import load_dataset

    data = load_dataset("photos")
    wnids = {"cat": "n02121808", "coffee": "n07929519", "rocket": "n04099429", "flower": "n11669921"}
    return {wnids[data.class_names[t]]: data.load(i) for i, t in enumerate(data.targets) if data.class_names[t] in wnids}


def fall2011(root, images: dict[str, Image.Image]) -> str:
    """An ``imagenet:`` spec in the fall-2011 layout (``<wnid>/<wnid>_<i>.png``): 3 views (the image, its mirror,
    a centre crop) of every other class's image, 2 of the rest."""
    for c, (wnid, image) in enumerate(images.items()):
        (root / wnid).mkdir(parents=True)
        w, h = image.size
        views = [image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), image.crop((w // 6, h // 6, w - w // 6, h - h // 6))]
        for i, view in enumerate(views[:3 - c % 2]):
            view.convert("RGB").save(root / wnid / f"{wnid}_{i}.png")
    return f"imagenet:{root}"


def grey(*wnids) -> dict[str, Image.Image]:
    return {wnid: Image.new("RGB", (32, 32), (90, 90, 90)) for wnid in wnids}


def naive(scores, truth, nodes, k):
    """Per image: hit@k by dense rank (labels scoring at least the true one's), and hP@k with the correct set
    grown by a plain breadth-first search over WordNet's hypernym and hyponym edges, a level at a time."""
    net = wordnet()
    hits, precisions = [], []
    for row, t in zip(scores, truth):
        hits.append(float((row >= row[t]).sum() - 1 < k))
        found, seen, level = {nodes[t]} & set(nodes), {nodes[t]}, [nodes[t]]
        while len(found) < k and level:
            level = [o for n in level for o in net.parents.get(n, []) + net.children.get(n, [])]
            level = [o for o in dict.fromkeys(level) if o not in seen]
            seen.update(level)
            found |= set(level) & set(nodes)
        good = [n in found for n in nodes]
        top = sorted(range(len(nodes)), key=lambda j: (-row[j], good[j]))[:k]  # ties: wrong labels first
        precisions.append(sum(good[j] for j in top) / k)
    return np.array(hits), np.array(precisions)


@pytest.fixture
def no_models(monkeypatch):
    """Fail any model load or feature extraction: what an error must come before."""
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("labelspace.methods.trained.load_classifier", refuse)
    monkeypatch.setattr("labelspace.data.extract_features", refuse)


def test_cli_against_2hops_equals_naive_numpy(cli_main, tmp_path):
    from labelspace.data import extract_features, load_dataset
    from labelspace.methods.trained import load_classifier

    spec = fall2011(tmp_path / "fall11", photos())
    code, stdout, err = cli_main("eval", "--task", "zsl", "--model", CONSE, "--dataset", spec,
                                 "--labels", "imagenet-2hops", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "│ chance.hit@1     │ 0.0006 │" in stdout and "│ per_image.hit@10 │ 0.3000 │" in stdout
    [path] = (tmp_path / "out").glob("*.json")
    assert "labels=imagenet-2hops" in path.name
    result = json.loads(path.read_text())
    assert (result["method"], result["image_model"], result["text_model"], result["top_t"]) == (
        "conse", "efficientnet-lite0", "glove-6b-50d", 10)
    assert result["labels"] == "imagenet-2hops" and result["class_synsets"] == {
        "rocket": "n04099429", "domestic cat": "n02121808", "coffee": "n07929519", "flower": "n11669921"}
    metrics = result["metrics"]
    names = [f"hit@{k}" for k in (1, 2, 5, 10, 20)] + [f"hP@{k}" for k in (2, 5, 10, 20)]
    assert list(metrics["per_image"]) == names and list(metrics["per_class"]) == names

    classifier, _ = load_classifier(CONSE)
    data = load_dataset(spec)
    feats = extract_features(classifier.image_encoder, data)
    candidates = classifier.candidates(label_set("imagenet-2hops"))
    assert metrics["candidates"] == len(candidates) and metrics["excluded"] == 1549 - len(candidates)
    assert metrics["images"] == 10 and metrics["classes"] == 4
    assert metrics["chance"] == {f"hit@{k}": pytest.approx(k / len(candidates)) for k in (1, 2, 5, 10, 20)}
    scores = classifier.scores(feats.features, candidates)
    truth = np.array([candidates.wnids.index(w) for w in data.wnids])[feats.targets]
    for name in names:
        kind, k = name.split("@")
        hits, precisions = naive(scores, truth, candidates.wnids, int(k))
        per_image = hits if kind == "hit" else precisions
        per_class = np.mean([per_image[feats.targets == c].mean() for c in range(4)])
        assert metrics["per_image"][name] == pytest.approx(per_image.mean(), abs=1e-12), name
        assert metrics["per_class"][name] == pytest.approx(per_class, abs=1e-12), name
    # chunks splitting classes (2 images at a time) give the same numbers
    chunked = evaluate_labels(classifier, feats.features, feats.targets, data.wnids, candidates, chunk=2)
    assert flat_metrics(chunked) == pytest.approx(flat_metrics(metrics), abs=1e-12)
    # the fixture tells the two averages apart (classes of 3 and 2 images), and the photos score hits
    assert metrics["per_image"]["hit@10"] > metrics["per_class"]["hit@10"] > 0


def test_a_class_outside_the_set_fails_before_any_model(cli_main, tmp_path, no_models):
    spec = fall2011(tmp_path / "fall11", grey("n02121808", "n07929519", "n04099429", SANDAL))
    code, _, err = cli_main("eval", "--task", "zsl", "--model", CONSE, "--dataset", spec,
                            "--labels", "imagenet-2hops", "--out", str(tmp_path / "out"))
    assert code == 2 and err.strip() == ("error: 1 of 4 dataset classes are not in imagenet-2hops: 'sandal' "
                                         "(n04133789); use --labels imagenet-2hops+1k or a larger set")
    code, _, err = cli_main("eval", "--task", "zsl", "--model", CONSE, "--dataset", "fashion-mnist:test@2",
                            "--labels", "imagenet-2hops", "--out", str(tmp_path / "out"))
    assert code == 2 and err.strip() == (
        "error: 3 of 10 dataset classes are not in imagenet-2hops: 'T-shirt/top' (n03595614), 'sandal' (n04133789), "
        "'sneaker' (n03472535); use a larger set (imagenet-21k+1k: every fall-2011 synset; wordnet-nouns: every noun)")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_class_without_a_word_fails_before_features(cli_main, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("features were extracted")

    monkeypatch.setattr("labelspace.data.extract_features", refuse)
    hats = "wordnet:n03497657"  # every hat; sou'wester (n04264361) has no GloVe word
    spec = fall2011(tmp_path / "fall11", grey("n04264361", "n03124170"))  # sou'wester, cowboy hat
    code, _, err = cli_main("eval", "--task", "zsl", "--model", CONSE, "--dataset", spec, "--labels", hats)
    assert code == 2 and err.strip() == ("error: 1 of 2 dataset classes have no word in text model 'glove-6b-50d', "
                                         f"so {hats} cannot score them: \"sou'wester\" (n04264361); use another "
                                         "--text-model")


@pytest.mark.parametrize("args,message", [
    (["--labels", "imagenet-5k"], "unknown label set 'imagenet-5k' (accepted: imagenet-1k, "),
    (["--labels", "imagenet-1k+1k"], "'imagenet-1k+1k': 'imagenet-1k' already holds all 1,000 ImageNet-1K labels"),
    (["--labels", "imagenet-2hops", "--split", "fashion-mnist-zsl"],
     "--labels 'imagenet-2hops' (every image against a label set) takes no --split: the split protocol's"),
    (["--labels", "imagenet-2hops", "--task", "zeroshot_classification"],
     "--labels does not apply to --task zeroshot_classification (only to zsl)"),
])
def test_bad_label_options_are_one_line_before_any_model(args, message, cli_main, tmp_path, no_models):
    code, _, err = cli_main("eval", "--model", CONSE, "--dataset", "fashion-mnist:test@2", *args,
                            "--out", str(tmp_path / "out"))
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_plain_name_label_file_is_refused(cli_main, tmp_path, no_models):
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n")
    code, _, err = cli_main("eval", "--model", CONSE, "--dataset", "fashion-mnist:test@2", "--labels", str(names))
    assert code == 2 and f"--labels {str(names)!r} holds plain names" in err


class Constant:
    """Every label scores the same (or NaN): ties and NaN count against the model, so nothing is a hit."""

    def __init__(self, value):
        self.value = value

    def scores(self, features, labels):
        return np.full((len(features), len(labels)), self.value)


@pytest.mark.parametrize("value", [0.5, np.nan])
def test_ties_and_nan_count_against_the_model(value):
    dogs = label_set("wordnet:n02103406")  # working dog: 46 synsets
    features, targets = np.zeros((3, 1)), np.array([0, 1, 1])
    metrics = evaluate_labels(Constant(value), features, targets, [dogs.wnids[2], dogs.wnids[5]], dogs)
    for average in ("per_image", "per_class"):  # kuvasz, schipperke: leaves, whose correct sets are small
        assert [metrics[average][name] for name in ("hit@1", "hit@5", "hit@20", "hP@2", "hP@5")] == [0.0] * 5
    few = evaluate_labels(Constant(value), features, targets, [dogs.wnids[2], dogs.wnids[5]],
                          label_set("wordnet:n02103406").keep([i < 6 for i in range(len(dogs))]))
    assert few["note"] == "hit@10, hit@20, hP@10, hP@20 skipped: only 6 candidates" and few["excluded"] == len(dogs) - 6


def test_fashion_mnist_against_21k_plus_1k():
    from labelspace.evaluation import evaluate_zsl

    result = evaluate_zsl(CONSE, "fashion-mnist:test@10", labels="imagenet-21k+1k")
    synsets = result["class_synsets"]
    assert synsets == {"T-shirt/top": "n03595614", "trouser": "n04489008", "pullover": "n04021028",
                       "dress": "n03236735", "coat": "n03057021", "sandal": "n04133789", "shirt": "n04197391",
                       "sneaker": "n03472535", "bag": "n02773037", "ankle boot": "n02872752"}
    assert {c for c, w in synsets.items() if w in set(packaged_wnids("imagenet-1k"))} == {"T-shirt/top", "sandal"}
    metrics = result["metrics"]
    assert metrics["candidates"] == 21841 and metrics["excluded"] == 1  # sou'wester: no GloVe word
    assert metrics["images"] == 100 and metrics["classes"] == 10
    assert metrics["chance"]["hit@20"] == pytest.approx(20 / 21841)
    assert metrics["per_image"] == pytest.approx(metrics["per_class"])  # 10 images per class: the two means agree
    assert 0 < metrics["per_image"]["hit@20"] <= 1 and metrics["per_image"]["hit@1"] <= metrics["per_image"]["hit@20"]


def test_chance_over_21k_labels_shows_in_the_table():
    from labelspace.cli.evaluate import shown

    assert [shown(1 / 21841), shown(20 / 21841), shown(0.02), shown(0.0), shown(21841)] == [
        "4.58e-05", "0.0009", "0.0200", "0.0000", "21841"]
