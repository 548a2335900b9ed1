"""hP@k on a hand-built hierarchy with hand-computed values, against the former dense implementation on a random
DAG (block by block, with ties and NaN), and the WordNet label mapping."""
import numpy as np
import pytest

from labelspace.errors import LabelspaceError
from labelspace.metrics import classification, flat_hits
from labelspace.metrics.hierarchy import Hierarchy, hierarchical_precision, hierarchical_precision_per_image, wordnet
from labelspace.vocab import label_set

#            entity
#           /      \
#      footwear    garment
#      /    \       /   \
#   shoe   boot  shirt  coat
#   /  \
# sandal sneaker
PARENTS = {"footwear": ["entity"], "garment": ["entity"], "shoe": ["footwear"], "boot": ["footwear"],
           "shirt": ["garment"], "coat": ["garment"], "sandal": ["shoe"], "sneaker": ["shoe"]}
LABELS = ["sandal", "sneaker", "boot", "shirt", "coat"]
TREE = Hierarchy(PARENTS)


def names(indices):
    return sorted(LABELS[i] for i in indices)


def test_correct_sets_grow_breadth_first_by_whole_levels():
    # distance from sandal: sneaker 2 (via shoe), boot 3 (shoe, footwear), shirt/coat 5
    assert names(TREE.correct_set("sandal", LABELS, 1)) == ["sandal"]
    assert names(TREE.correct_set("sandal", LABELS, 2)) == ["sandal", "sneaker"]
    assert names(TREE.correct_set("sandal", LABELS, 3)) == ["boot", "sandal", "sneaker"]
    assert names(TREE.correct_set("sandal", LABELS, 4)) == sorted(LABELS)  # distance 5 adds shirt and coat at once
    # boot: footwear(1) -> shoe, entity(2) -> sandal, sneaker, garment(3): 3 labels at distance 3
    assert names(TREE.correct_set("boot", LABELS, 2)) == ["boot", "sandal", "sneaker"]
    assert names(TREE.correct_set("shirt", LABELS, 2)) == ["coat", "shirt"]


def test_hierarchical_precision_hand_computed():
    # columns: sandal, sneaker, boot, shirt, coat
    scores = np.array([
        [0.9, 0.8, 0.1, 0.0, 0.2],  # true sandal: top-2 sandal, sneaker -> 2/2; top-3 + coat -> 2/3 of N_3
        [0.1, 0.2, 0.3, 0.9, 0.0],  # true sandal: top-2 shirt, boot -> 0/2;  top-3 + sneaker -> 2/3
        [0.0, 0.1, 0.2, 0.3, 0.9],  # true shirt: top-1 coat -> 0; top-2 coat, shirt -> 2/2; top-3 + boot -> 3/3
    ])
    targets = np.array([0, 0, 3])
    # N_3(shirt): coat at distance 2, boot at 4 (garment, entity, footwear, boot)
    assert sorted(LABELS[i] for i in TREE.correct_set("shirt", LABELS, 3)) == ["boot", "coat", "shirt"]
    got = hierarchical_precision(scores, targets, LABELS, TREE, ks=(1, 2, 3))
    assert got[1] == pytest.approx(flat_hits(scores, targets, [1])[1]) == pytest.approx(1 / 3)
    assert got[2] == pytest.approx((1 + 0 + 1) / 3)
    assert got[3] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_k_above_candidate_count_is_an_error():
    with pytest.raises(LabelspaceError, match="k=6"):
        hierarchical_precision(np.zeros((1, 5)), [0], LABELS, TREE, ks=(6,))


def reference_correct_set(edges, start, candidates, k):
    """The former ``Hierarchy.correct_set``: a plain breadth-first search over sets, one level at a time."""
    where = {}
    for i, node in enumerate(candidates):
        where.setdefault(node, []).append(i)
    found, seen, frontier = set(where.get(start, [])), {start}, [start]
    while len(found) < k and frontier:
        nxt = []
        for node in frontier:
            for other in edges.get(node, ()):
                if other not in seen:
                    seen.add(other)
                    nxt.append(other)
                    found.update(where.get(other, []))
        frontier = nxt
    return found


def reference(scores, targets, label_nodes, edges, ks):
    """Per-image hit@k and hP@k as the former dense implementation computed them: a labels x labels correct
    matrix and a full sort of every row, NaN and ties against the model."""
    scores = np.asarray(scores, dtype=np.float64)
    n = len(label_nodes)
    true = scores[np.arange(len(targets)), targets]
    wrong = np.where(np.isnan(scores), np.inf, scores)
    above = (wrong >= np.where(np.isnan(true), -np.inf, true)[:, None]).sum(axis=1) - 1
    hits, hp = {}, {}
    for k in ks:
        hits[k] = (above < k).astype(float)
        correct = np.zeros((n, n), dtype=bool)
        for c in np.unique(targets):
            correct[c, list(reference_correct_set(edges, label_nodes[c], label_nodes, k))] = True
        good = correct[targets]
        effective = np.where(np.isnan(scores), np.where(good, -np.inf, np.inf), scores)
        top = np.lexsort((good, -effective), axis=-1)[:, :k]
        hp[k] = np.take_along_axis(good, top, axis=1).sum(axis=1) / k
    return hits, hp


def per_class(values, targets):
    return np.mean([values[targets == c].mean() for c in np.unique(targets)])


def random_dag(rng, n_nodes=3000, n_labels=2000):
    """Nodes with 1-3 parents among the earlier ones; the labels: distinct nodes, two labels on one node and one
    node outside the hierarchy."""
    parents = {f"v{i}": [f"v{p}" for p in set(rng.integers(max(0, i - 300), i, rng.integers(1, 4)))]
               for i in range(1, n_nodes)}
    labels = [f"v{i}" for i in rng.choice(n_nodes, n_labels - 2, replace=False)]
    return Hierarchy(parents), labels + [labels[0], "outside"]


KS = (1, 2, 5, 10, 20)


@pytest.mark.parametrize("ties, nan, block_rows", [(None, 0.0, 7), (2, 0.01, 50), (1, 0.2, 1000), (0, 0.0, 64)])
def test_blocks_equal_the_dense_reference_with_ties_and_nan(monkeypatch, ties, nan, block_rows):
    rng = np.random.default_rng(ties or 5)
    tree, labels = random_dag(rng)
    n_images = 300
    scores = rng.random((n_images, len(labels)), dtype=np.float32)
    if ties is not None:  # 0: a constant scorer, every row one tie
        scores = np.round(scores, ties)
    scores[rng.random(scores.shape) < nan] = np.nan
    targets = rng.integers(0, len(labels), n_images)
    targets[:3] = [0, len(labels) - 2, len(labels) - 1]  # the shared node and the node outside
    scores[5] = np.nan
    monkeypatch.setattr(classification, "BLOCK_SCORES", block_rows * len(labels))
    hits, hp = reference(scores, targets, labels, tree.edges, KS)
    got_hits = {k: (classification.true_label_rank(scores, targets) < k) for k in KS}
    got = hierarchical_precision_per_image(scores, targets, labels, tree, KS)
    for k in KS:
        np.testing.assert_array_equal(got_hits[k], hits[k])
        np.testing.assert_allclose(got[k], hp[k])
    assert flat_hits(scores, targets, KS, average="classes") == pytest.approx({k: per_class(hits[k], targets) for k in KS})
    assert hierarchical_precision(scores, targets, labels, tree, KS, average="classes") == pytest.approx(
        {k: per_class(hp[k], targets) for k in KS})
    assert hierarchical_precision(scores, targets, labels, tree, KS) == pytest.approx({k: hp[k].mean() for k in KS})


def test_memmaps_and_block_iterators_give_the_same_precision(tmp_path):
    rng = np.random.default_rng(3)
    tree, labels = random_dag(rng, 500, 300)
    scores, targets = np.round(rng.random((40, len(labels)), dtype=np.float32), 2), rng.integers(0, len(labels), 40)
    mapped = np.lib.format.open_memmap(tmp_path / "scores.npy", mode="w+", dtype=np.float32, shape=scores.shape)
    mapped[:] = scores
    mapped.flush()
    expected = hierarchical_precision(scores, targets, labels, tree, (2, 5))
    assert hierarchical_precision(np.load(tmp_path / "scores.npy", mmap_mode="r"), targets, labels, tree, (2, 5)) == expected
    assert hierarchical_precision(iter(np.array_split(scores, 3)), targets, labels, tree, (2, 5)) == expected
    assert flat_hits(iter(np.array_split(scores, 3)), targets, (1, 5)) == flat_hits(scores, targets, (1, 5))
    with pytest.raises(LabelspaceError, match="held 27 rows for 40 targets"):
        hierarchical_precision(iter(np.array_split(scores, 3)[:2]), targets, labels, tree, (2,))
    with pytest.raises(LabelspaceError, match=r"must be \(rows, 300\)"):
        hierarchical_precision(iter([scores[:, :10]]), targets, labels, tree, (2,))


def test_a_correct_set_is_searched_once_per_candidate_list():
    sets = TREE.correct_sets(LABELS)
    assert TREE.correct_sets(list(LABELS)) is sets
    hierarchical_precision(np.zeros((2, 5)), [0, 3], LABELS, TREE, ks=(1, 2, 3))
    assert sorted(sets.found) == [0, 3]
    columns, ends, ran_out = sets.found[0]
    assert ends.tolist() == [1, 1, 2, 3] and not ran_out  # sandal; shoe; sneaker; footwear -> boot


@pytest.mark.slow
def test_wordnet_maps_fashion_mnist_labels_and_refuses_unknown_ones():
    from labelspace.data.datasets import FASHION_MNIST_CLASSES
    from labelspace.metrics.hierarchy import load_overrides, wordnet

    net = wordnet()
    nodes = dict(zip(FASHION_MNIST_CLASSES, net.synsets(FASHION_MNIST_CLASSES, load_overrides())))
    assert net.name(nodes["sneaker"]) == "gym_shoe" and net.name(nodes["ankle boot"]) == "boot"
    assert nodes["T-shirt/top"] == "n03595614" and net.name(net.synset("trousers")) == "trouser"
    labels = list(nodes.values())
    assert sorted(net.correct_set(nodes["sandal"], labels, 2)) == sorted(
        [FASHION_MNIST_CLASSES.index("sandal"), FASHION_MNIST_CLASSES.index("sneaker")])
    with pytest.raises(LabelspaceError, match="'xqzzy' has no WordNet noun synset"):
        net.synset("xqzzy")
    assert net.synset("xqzzy", {"xqzzy": "boot.n.01"}) == nodes["ankle boot"]
    with pytest.raises(LabelspaceError, match="names no noun synset"):
        net.synset("bag", {"bag": "bag.n.99"})


# NLTK 3.10's Synset.wup_similarity on the same WordNet 3.0 files (its names, then its value); dog with itself is
# below 1 in NLTK too: its hypernym domestic_animal.n.01 is deeper by min_depth than dog.n.01 and becomes the subsumer.
NLTK_WUP = [("n02084071", "n02121620", "dog.n.01", "cat.n.01", 0.8571428571428571),
            ("n02084071", "n02084071", "dog.n.01", "dog.n.01", 0.9285714285714286),
            ("n01440764", "n01443537", "tench.n.01", "goldfish.n.01", 0.9411764705882353),
            ("n02123045", "n04254680", "tabby.n.01", "soccer_ball.n.01", 0.4),
            ("n03126707", "n02012849", "crane.n.04", "crane.n.05", 0.36363636363636365),
            ("n07747607", "n07753592", "orange.n.01", "banana.n.02", 0.782608695652174),
            ("n09246464", "n02690373", "cliff.n.01", "airliner.n.01", 0.3333333333333333),
            ("n04591713", "n07930864", "wine_bottle.n.01", "cup.n.06", 0.2)]


@pytest.mark.parametrize("a,b,name_a,name_b,expected", NLTK_WUP)
def test_wu_palmer_equals_nltk(a, b, name_a, name_b, expected):
    net = wordnet()
    assert (net.nltk_name(a), net.nltk_name(b)) == (name_a, name_b)
    assert net.wu_palmer([a, b])[0, 1] == pytest.approx(expected, abs=1e-12)


def test_wu_palmer_over_imagenet_1k_is_symmetric_and_bounded():
    wnids = label_set("imagenet-1k").wnids
    m = wordnet().wu_palmer(wnids)
    assert m.shape == (1000, 1000) and np.array_equal(m, m.T)
    assert m[np.triu_indices(1000, 1)].min() == pytest.approx(0.0740740740740, abs=1e-9) and m.max() <= 1.0
    dog, cat = wnids.index("n02085620"), wnids.index("n02123045")  # Chihuahua, tabby
    assert m[dog, cat] == pytest.approx(wordnet().wu_palmer(["n02085620", "n02123045"])[0, 1])
    with pytest.raises(LabelspaceError, match="is not a WordNet 3.0 noun synset"):
        wordnet().wu_palmer(["n02084071", "n99999999"])
