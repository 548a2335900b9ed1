"""Class-representation analysis at scale: one image model's 100k images x 2048-d features over
1000 classes, compared with two more representations given as class vectors (a second image
model's 1000 x 2048 class means, a text model's 1000 x 300 name vectors): class means, the three
cosine-similarity matrices and the three comparisons (Pearson, Spearman, rsatoolbox cosine) of
every pair, timed against rsatoolbox's ``calc_rdm`` + ``compare`` on the same data in the same run.

rsatoolbox has no cosine RDM, so it runs ``calc_rdm(method='correlation', descriptor='class')``
(cosine distance of mean-centred class means, the same amount of work); the script checks that
our matrices of the centred means equal its RDMs. Mantel and bootstrap are timed separately.

    PYTHONPATH=src .venv/bin/python benchmarks/analysis.py
"""
from __future__ import annotations

import warnings

import numpy as np
from rsatoolbox.data import Dataset
from rsatoolbox.rdm import calc_rdm
from rsatoolbox.rdm import compare as rsa_compare

from labelspace.analysis.representations import ClassRepresentations, vision_representations
from labelspace.analysis.similarity import (
    bootstrap_triangles, compare, cosine_matrix, cosine_similarity, mantel, pearson, rdm_cosine, spearman,
)
from labelspace.data import Features
from timing import best_of, timed

N_IMAGES, DIM, N_CLASSES, TEXT_DIM = 100_000, 2048, 1000, 300


def data(seed: int):
    rng = np.random.default_rng(seed)
    targets = rng.permutation(np.arange(N_IMAGES) % N_CLASSES)
    centres = rng.standard_normal((N_CLASSES, DIM), dtype=np.float32)
    features = centres[targets]
    features += 3.0 * rng.standard_normal((N_IMAGES, DIM), dtype=np.float32)
    return Features(features, targets, np.arange(N_IMAGES), [f"class{i}" for i in range(N_CLASSES)], 0)


def ours(images, class_vectors, names):
    reps = [vision_representations(images, "model0", "clean")]
    reps += [ClassRepresentations(names, v, f"model{i + 1}", "vision", "clean") for i, v in enumerate(class_vectors)]
    matrices = [cosine_similarity(r) for r in reps]
    return [compare(a, b, permutations=0) for i, a in enumerate(matrices) for b in matrices[i + 1:]], reps


def theirs(images, class_vectors):
    rdms = [calc_rdm(Dataset(np.asarray(images.features), obs_descriptors={"class": images.targets}),
                     method="correlation", descriptor="class")]
    rdms += [calc_rdm(Dataset(v), method="correlation") for v in class_vectors]
    return [{m: rsa_compare(a, b, method=m)[0, 0] for m in ("corr", "spearman", "cosine")}
            for i, a in enumerate(rdms) for b in rdms[i + 1:]], rdms


def main():
    warnings.filterwarnings("ignore", "invalid value encountered in cast", RuntimeWarning)  # rsatoolbox's averaging
    images = data(0)
    rng = np.random.default_rng(1)
    class_vectors = [rng.standard_normal((N_CLASSES, d)).astype(np.float32) for d in (DIM, TEXT_DIM)]
    print(f"{N_IMAGES} images x {DIM}-d, {N_CLASSES} classes, plus {N_CLASSES} x {DIM} and {N_CLASSES} x {TEXT_DIM} "
          "class vectors; 3 pairs x 3 comparisons")
    (_, reps), t_ours = best_of(lambda: ours(images, class_vectors, images.class_names), 3)
    (rsa, rdms), t_theirs = timed(lambda: theirs(images, class_vectors))
    print(f"labelspace (class means + cosine matrices + comparisons): {t_ours:.3f} s")
    print(f"rsatoolbox (calc_rdm correlation by class + compare):     {t_theirs:.3f} s")
    print(f"ratio rsatoolbox / labelspace: {t_theirs / t_ours:.1f}x")

    iu = np.triu_indices(N_CLASSES, 1)
    centred = [r.vectors - r.vectors.mean(axis=1, keepdims=True) for r in reps]
    uppers = [cosine_matrix(c.astype(np.float64))[iu] for c in centred]
    rdm_gap = max(np.abs((1 - u) - r.get_vectors()[0]).max() for u, r in zip(uppers, rdms))
    pairs = [(a, b) for i, a in enumerate(uppers) for b in uppers[i + 1:]]
    gap = max(abs(f(a, b) - r[m]) for (a, b), r in zip(pairs, rsa)
              for m, f in (("corr", pearson), ("spearman", spearman), ("cosine", rdm_cosine)))
    print(f"same data, centred class means: max |RDM difference| {rdm_gap:.1e}, max |comparison difference| {gap:.1e}")
    a, b = (cosine_similarity(r) for r in reps[:2])
    _, t_mantel = timed(lambda: mantel(a, b, 99, 0))
    print(f"Mantel test, 99 permutations of 1000 classes: {t_mantel:.2f} s")
    _, t_boot = timed(lambda: bootstrap_triangles(reps[0], 10, 0))
    print(f"bootstrap, 10 resamples of 100k images within classes: {t_boot:.2f} s")


if __name__ == "__main__":
    main()
