import numpy as np
import pytest
from rsatoolbox.rdm import RDMs
from rsatoolbox.rdm import compare as rsa_compare
from scipy.stats import kstest

from labelspace.analysis.domains import SHIFTS, shift_pixels, shifted
from labelspace.analysis.pipeline import analyze, comparison_pairs, run_analysis
from labelspace.analysis.presets import apply_preset, load_preset
from labelspace.analysis.representations import text_representations, vision_representations
from labelspace.analysis.similarity import (
    SimilarityMatrix, bootstrap_draws, compare, cosine_matrix, cosine_similarity, mantel,
)
from labelspace.data import Features, synthetic
from labelspace.data.datasets import ArrayImages
from labelspace.errors import LabelspaceError

NAMES = [f"c{i}" for i in range(8)]


def image_features(centres, per_class, noise, seed, names=NAMES):
    rng = np.random.default_rng(seed)
    targets = np.repeat(np.arange(len(centres)), per_class)
    rows = centres[targets] + noise * rng.standard_normal((len(targets), centres.shape[1]))
    return Features(rows.astype(np.float32), targets, np.arange(len(targets)), list(names), 0)


class TableText:
    """A text model from a fixed table: anything with ``.encode(labels)`` plugs in (CLIP text towers too)."""

    name = "table"

    def __init__(self, table: dict):
        self.table = table

    def encode(self, labels):
        return np.stack([self.table[label] for label in labels]).astype(np.float32)


def matrix(vectors, label="m"):
    return SimilarityMatrix(cosine_matrix(vectors), [f"c{i}" for i in range(len(vectors))], label, label, "vision")


def rdm(m: SimilarityMatrix) -> RDMs:
    """rsatoolbox's RDM of a similarity matrix: cosine distances 1 - S."""
    return RDMs(dissimilarities=(1.0 - m.matrix)[None])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_comparisons_equal_rsatoolbox(seed):
    rng = np.random.default_rng(seed)
    va = rng.standard_normal((15, 40))
    a, b = matrix(va, "a"), matrix(va + rng.standard_normal((15, 40)), "b")
    ours = compare(a, b, permutations=0)
    np.testing.assert_allclose(rdm(a).get_vectors()[0], a.dissimilarities(), atol=1e-12)
    for method, value in (("corr", ours.pearson), ("spearman", ours.spearman), ("cosine", ours.cosine)):
        assert value == pytest.approx(rsa_compare(rdm(a), rdm(b), method=method)[0, 0], abs=1e-10)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # inside rsatoolbox's averaging
def test_class_means_and_similarity_equal_rsatoolbox_calc_rdm():
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm

    rng = np.random.default_rng(0)
    feats = image_features(rng.standard_normal((8, 20)), 6, 1.0, 0)
    rep = vision_representations(feats, "m", "clean")
    data = Dataset(np.asarray(feats.features, dtype=np.float64), obs_descriptors={"class": feats.targets})
    # rsatoolbox has no cosine RDM; its correlation RDM is the cosine distance of mean-centred class means.
    centred = rep.vectors - rep.vectors.mean(axis=1, keepdims=True)
    ours = 1 - cosine_matrix(centred.astype(np.float64))[np.triu_indices(8, 1)]
    theirs = calc_rdm(data, method="correlation", descriptor="class").get_vectors()[0]
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_reordered_classes_are_aligned_before_comparing():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((6, 10))
    a = matrix(v)
    perm = np.array([3, 1, 5, 0, 2, 4])
    b = SimilarityMatrix(a.matrix[np.ix_(perm, perm)], [a.class_names[i] for i in perm], "b", "b", "vision")
    assert compare(a, b, permutations=0).pearson == pytest.approx(1.0)


def test_mantel_small_p_for_noisy_copy():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((12, 30))
    a, b = matrix(v), matrix(v + 0.5 * rng.standard_normal((12, 30)))
    for method in ("pearson", "spearman"):
        result = mantel(a.matrix, b.matrix, permutations=999, seed=1, method=method)
        assert result.r > 0.7 and result.p <= 0.002


def test_mantel_p_values_look_uniform_for_unrelated_matrices():
    rng = np.random.default_rng(0)
    p = np.array([mantel(cosine_matrix(rng.standard_normal((7, 5))), cosine_matrix(rng.standard_normal((7, 5))),
                         permutations=199, seed=s).p for s in range(300)])
    assert kstest(p, "uniform").pvalue > 0.01
    assert 0.02 < np.mean(p <= 0.05) < 0.09


def test_mantel_is_reproducible_and_matches_a_plain_loop():
    rng = np.random.default_rng(3)
    a, b = cosine_matrix(rng.standard_normal((6, 4))), cosine_matrix(rng.standard_normal((6, 4)))
    result = mantel(a, b, permutations=99, seed=5)
    assert result == mantel(a, b, permutations=99, seed=5)
    iu = np.triu_indices(6, 1)
    perms = np.random.default_rng(5).permuted(np.tile(np.arange(6), (99, 1)), axis=1)
    loop = [np.corrcoef(a[iu], b[np.ix_(p, p)][iu])[0, 1] for p in perms]
    assert result.p == pytest.approx((1 + sum(r >= result.r - 1e-12 for r in loop)) / 100)


def test_bootstrap_resamples_within_classes():
    targets = np.array([0, 0, 1, 1, 1, 2])
    draws = np.concatenate(list(bootstrap_draws(targets, 50, seed=0)))
    assert draws.shape == (50, 6) and np.array_equal(targets[draws], np.broadcast_to(targets, draws.shape))
    assert np.array_equal(draws, np.concatenate(list(bootstrap_draws(targets.copy(), 50, seed=0, chunk=7))))


def test_resampled_class_means_equal_a_plain_loop():
    rng = np.random.default_rng(0)
    feats = image_features(rng.standard_normal((8, 5)), 4, 1.0, 0)
    rep = vision_representations(feats, "m", "clean", normalize=True)
    draws = next(bootstrap_draws(feats.targets, 3, seed=1))
    unit = feats.features / np.linalg.norm(feats.features, axis=1, keepdims=True)
    np.testing.assert_allclose(rep.vectors, [unit[feats.targets == c].mean(0) for c in range(8)], atol=1e-6)
    for b in range(3):
        expected = [unit[draws[b][feats.targets == c]].mean(0) for c in range(8)]
        np.testing.assert_allclose(rep.resampled_vectors(draws)[b], expected, atol=1e-5)


def test_bootstrap_intervals_contain_estimate_and_track_the_sampling_spread():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((8, 16))
    text = text_representations(TableText(dict(zip(NAMES, centres + rng.standard_normal((8, 16))))), NAMES)
    results, estimates = [], []
    for seed in range(12):  # independent image samples: the spread the interval should describe
        vision = vision_representations(image_features(centres, 30, 2.0, seed), "m", "clean")
        result = run_analysis([vision, text], permutations=0, bootstrap=300, seed=seed).comparisons[0]
        results.append(result)
        estimates.append(result.pearson)
    for r in results:
        assert r.pearson_ci[0] <= r.pearson <= r.pearson_ci[1] and r.spearman_ci[0] <= r.spearman <= r.spearman_ci[1]
        assert r.bootstrap == 300 and r.bootstrap_bias < 0.02
    half_width = np.mean([(r.pearson_ci[1] - r.pearson_ci[0]) / 2 for r in results])
    assert 0.5 < half_width / (1.96 * np.std(estimates, ddof=1)) < 2.0


def test_comparison_kinds_cover_the_seed():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((8, 6))
    reps = [vision_representations(image_features(centres, 3, 1.0, s), model, domain)
            for s, (model, domain) in enumerate([("a", "clean"), ("b", "clean"), ("a", "inverted")])]
    reps += [text_representations(TableText(dict(zip(NAMES, rng.standard_normal((8, 4))))), NAMES, name)
             for name in ("glove", "minilm")]
    kinds = [(kind, reps[i].label, reps[j].label) for kind, i, j in comparison_pairs(reps)]
    assert kinds == [("vision-vision", "a on clean", "b on clean"), ("language-language", "glove", "minilm"),
                     ("vision-language", "a on clean", "glove"), ("vision-language", "a on clean", "minilm"),
                     ("vision-language", "b on clean", "glove"), ("vision-language", "b on clean", "minilm"),
                     ("vision-language", "a on inverted", "glove"), ("vision-language", "a on inverted", "minilm"),
                     ("across-domains", "a on clean", "a on inverted")]
    result = run_analysis(reps, permutations=9, bootstrap=5)
    assert [c.kind for c in result.comparisons] == [k for k, _, _ in kinds]
    assert result.matrix("glove").summary().nearest.keys() == set(NAMES)


def test_prompt_ensembling_averages_unit_prompt_vectors():
    table = {f"{t} {n}": np.eye(3)[i] * (i + 1) + k for k, t in enumerate("xy") for i, n in enumerate("abc")}
    rep = text_representations(TableText(table), list("abc"), templates=["x {}", "y {}"])
    unit = {key: v / np.linalg.norm(v) for key, v in table.items()}
    expected = unit["x a"] + unit["y a"]
    np.testing.assert_allclose(rep.vectors[0], expected / np.linalg.norm(expected), atol=1e-6)


def test_different_class_names_are_an_error_naming_them():
    rng = np.random.default_rng(0)
    vision = vision_representations(image_features(rng.standard_normal((8, 4)), 2, 1.0, 0), "m", "clean")
    other = NAMES[:7] + ["zebra"]
    text = text_representations(TableText(dict(zip(other, rng.standard_normal((8, 4))))), other)
    with pytest.raises(LabelspaceError, match=r"only in the first \['c7'\], only in the second \['zebra'\]"):
        run_analysis([vision, text])


def test_datasets_with_different_classes_are_an_error():
    a, b = synthetic(n_classes=3, per_class=2), synthetic(n_classes=4, per_class=2)
    with pytest.raises(LabelspaceError, match="class names differ between 'dataset .*only in the second \\['class3'\\]"):
        analyze([a, b], image_models=[], text_models=[TableText({})])


def test_class_without_images_is_an_error():
    data = ArrayImages("gap", np.zeros((4, 8, 8), np.uint8), [0, 0, 2, 2], ["a", "b", "c"])
    with pytest.raises(LabelspaceError, match="no images of class\\(es\\) b"):
        analyze([data], image_models=[], text_models=[TableText({})])
    feats = Features(np.ones((4, 3), np.float32), np.array([0, 0, 2, 2]), np.arange(4), ["a", "b", "c"], 0)
    with pytest.raises(LabelspaceError, match="classes with no images: b"):
        vision_representations(feats, "m")


def test_too_few_classes_is_an_error():
    text = text_representations(TableText({"a": np.ones(2), "b": np.ones(2)}), ["a", "b"])
    with pytest.raises(LabelspaceError, match="at least 3"):
        cosine_similarity(text)


@pytest.mark.parametrize("kind", SHIFTS)
def test_shifts_keep_images_and_classes(kind):
    data = synthetic(n_classes=3, per_class=4).per_class(2)
    out = shifted(data, kind, seed=0)
    assert out.class_names == data.class_names and np.array_equal(out.targets, data.targets)
    assert out.images.shape[0] == len(data) and out.images.dtype == np.uint8
    assert out.fingerprint != shifted(data, "inverted" if kind != "inverted" else "blurred").fingerprint


def test_shift_pixels():
    grey = np.array([[[0, 255], [100, 200]]], dtype=np.uint8)
    assert shift_pixels(grey, "inverted").tolist() == [[[255, 0], [155, 55]]]
    assert shift_pixels(grey, "colour-jittered").shape == (1, 2, 2, 3)
    assert np.array_equal(shift_pixels(grey, "noisy", seed=1), shift_pixels(grey, "noisy", seed=1))
    with pytest.raises(LabelspaceError, match="unknown domain shift 'rotated'"):
        shift_pixels(grey, "rotated")


def test_presets_and_aliases():
    voc = load_preset("voc")
    assert len(voc.classes) == 20 and voc.classes[-1] == "monitor" and "diningtable" in voc.classes
    assert [load_preset(f"coco-20i-{k}").classes[0] for k in range(4)] == ["person", "bicycle", "car", "motorcycle"]
    assert sum(len(load_preset(f"coco-20i-{k}").classes) for k in range(4)) == 80
    assert load_preset("pascal-5i-3").classes == ["plant", "sheep", "sofa", "train", "monitor"]
    folders = ["TVMonitor", "airplane", "pottedplant", "zebra"] + [c for c in voc.classes
                                                                  if c not in ("monitor", "aeroplane", "plant")]
    data = ArrayImages("voc-like", np.zeros((len(folders), 4, 4), np.uint8), np.arange(len(folders)), folders)
    relabelled = apply_preset(data, voc)
    assert relabelled.class_names == voc.classes and len(relabelled) == 20
    assert relabelled.class_names[relabelled.targets[relabelled.indices.tolist().index(0)]] == "monitor"
    # Folders already in the preset's order but under VOC's own spellings still get the preset's names.
    voc_folders = [{"monitor": "tvmonitor", "plant": "pottedplant"}.get(c, c) for c in voc.classes]
    in_order = apply_preset(ArrayImages("voc", np.zeros((20, 4, 4), np.uint8), np.arange(20), voc_folders), voc)
    assert in_order.class_names == voc.classes
    with pytest.raises(LabelspaceError, match="no class for aeroplane, .*cat.* of preset .voc."):
        apply_preset(ArrayImages("x", np.zeros((2, 4, 4), np.uint8), [0, 1], ["dog", "bird"]), voc)
    with pytest.raises(LabelspaceError, match="unknown class preset"):
        load_preset("coco-20i-4")
