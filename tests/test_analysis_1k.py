"""The seed's findings 1-3 at the 1,000 ImageNet-1K classes, with no images: EfficientNet-Lite0/1/2's classifier rows,
GloVe's and MiniLM's synset vectors and WordNet's Wu-Palmer similarity (README, Class-representation analysis).

Each test asserts what was measured; where the seed's claim does not hold at 1K, the measured fact is asserted.
"""
import numpy as np
import pytest

from labelspace.analysis.pipeline import analyze_classes, comparison_pairs
from labelspace.analysis.representations import (
    ClassRepresentations, head_representations, wordnet_groups, wordnet_representations,
)
from labelspace.analysis.similarity import cosine_similarity
from labelspace.errors import LabelspaceError
from labelspace.vocab import LabelSet, label_set

LITES = ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]


@pytest.fixture(scope="module")
def imagenet():
    return label_set("imagenet-1k")


@pytest.fixture(scope="module")
def fast(imagenet):
    """Everything but MiniLM (whose 1K synset bank takes about 30 s to encode): a few seconds."""
    result = analyze_classes(imagenet, LITES, ["glove-6b-50d"], wordnet=True, permutations=0)
    return {(c.a, c.b): c for c in result.comparisons}, {m.label: m for m in result.matrices}


class FakeHead:
    """An image encoder's head: three classes, rows in the order of its wnids."""

    name = "fake"
    head_wnids = ["n02084071", "n02121620", "n04254680"]

    class head:
        weight = __import__("torch").tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def test_head_rows_follow_the_label_set_and_refuse_what_the_head_lacks():
    labels = LabelSet("three", ["ball", "dog", "cat"], ["n04254680", "n02084071", "n02121620"])
    rep = head_representations(FakeHead(), labels)
    assert rep.class_names == ["ball", "dog", "cat"] and rep.vectors.tolist() == [[1, 1], [1, 0], [0, 1]]
    assert rep.label == "fake" and rep.modality == "vision"
    with pytest.raises(LabelspaceError, match="no head row for 1 class\\(es\\) of 'x' \\(e.g. 'tabby'\\)"):
        head_representations(FakeHead(), LabelSet("x", ["dog", "tabby"], ["n02084071", "n02123045"]))
    with pytest.raises(LabelspaceError, match="need a WordNet label set"):
        head_representations(FakeHead(), ["dog", "cat", "ball"])


def test_wordnet_is_a_representation_compared_with_every_other():
    labels = LabelSet("three", ["dog", "cat", "ball"], ["n02084071", "n02121620", "n04254680"])
    net = wordnet_representations(labels)
    assert net.vectors is None and cosine_similarity(net).upper.round(4).tolist() == [0.8571, 0.4211, 0.3333]
    assert wordnet_groups(labels) == ["dog", "other animal", "artifact"]
    vision = ClassRepresentations(labels.names, np.eye(3), "v", "vision")
    text = ClassRepresentations(labels.names, np.eye(3), "t", "language")
    assert [kind for kind, _, _ in comparison_pairs([vision, text, net])] == [
        "vision-language", "vision-wordnet", "language-wordnet"]


def test_finding_1_vision_models_share_the_pattern_but_not_a_high_mean(fast):
    comparisons, matrices = fast
    r = [comparisons[a, b].pearson for a, b in [(LITES[0], LITES[1]), (LITES[0], LITES[2]), (LITES[1], LITES[2])]]
    assert np.round(r, 3).tolist() == [0.744, 0.772, 0.764]  # the same pattern: holds
    # The seed's "high similarity mean" does not hold for class weights: their cosines centre on 0.
    assert all(abs(matrices[m].summary().mean) < 0.002 for m in LITES)


def test_finding_3_vision_language_gap_and_wordnet(fast):
    comparisons, matrices = fast
    vision_vision = min(c.pearson for c in comparisons.values() if c.kind == "vision-vision")
    with_glove = [comparisons[m, "glove-6b-50d"].pearson for m in LITES]
    with_wordnet = [comparisons[m, "WordNet Wu-Palmer"].pearson for m in LITES]
    assert np.round(with_glove, 3).tolist() == [0.185, 0.182, 0.219]
    assert np.round(with_wordnet, 3).tolist() == [0.278, 0.270, 0.323]
    assert max(with_glove) < vision_vision - 0.5  # the gap: holds
    assert all(w > g for w, g in zip(with_wordnet, with_glove))  # each network agrees more with WordNet than GloVe
    assert comparisons["glove-6b-50d", "WordNet Wu-Palmer"].pearson == pytest.approx(0.290, abs=5e-4)
    assert matrices["glove-6b-50d"].summary().mean == pytest.approx(0.172, abs=5e-4)


@pytest.mark.slow
def test_finding_2_language_models_share_a_weaker_pattern_with_a_higher_mean_than_vision(imagenet):
    result = analyze_classes(imagenet, LITES[:1], ["glove-6b-50d", "minilm"], permutations=0)
    comparisons = {(c.a, c.b): c for c in result.comparisons}
    means = {m.label: m.summary().mean for m in result.matrices}
    language = comparisons["glove-6b-50d", "minilm"]
    assert language.pearson == pytest.approx(0.277, abs=5e-4)
    # Lower than the vision-vision r (0.74-0.77), above every vision-language r (0.18-0.22).
    assert comparisons[LITES[0], "minilm"].pearson == pytest.approx(0.199, abs=5e-4)
    # The seed's "low similarity mean" of language models holds only against WordNet (0.445), not against vision.
    assert round(means["glove-6b-50d"], 3) == 0.172 and round(means["minilm"], 3) == 0.237
    assert means[LITES[0]] < means["glove-6b-50d"] < means["minilm"]
