"""Cosine-similarity matrices of class representations (or their own similarity: WordNet's Wu-Palmer) and
their comparison.

Two matrices are compared on their upper triangles (each class pair once, the diagonal left out):
Pearson and Spearman correlation, plus rsatoolbox's ``cosine`` of the dissimilarity vectors.

Mapping to rsatoolbox: its RDM of a similarity matrix ``S`` is the cosine distance ``1 - S``
(upper triangle, row-major, as ``np.triu_indices(n, 1)``). Pearson and Spearman correlation are
unchanged when both vectors go through ``s -> 1 - s``, so ``pearson`` equals
``rsatoolbox.rdm.compare(rdm_a, rdm_b, method='corr')`` and ``spearman`` equals ``method='spearman'``;
a cosine is not shift-invariant, so ``cosine`` is computed on ``1 - s`` to equal ``method='cosine'``.

Inference: a Mantel test (the classes of one matrix are permuted, rows and columns together;
one-sided p-value ``(1 + #{r_perm >= r}) / (1 + permutations)``) and bootstrap intervals from
resampling images within classes (``bootstrap_triangles``). Resampled class means are noisier
than the sample's, so resampled correlations sit below the estimate (their median minus the
estimate is reported as ``bootstrap_bias``); the interval therefore takes the bootstrap's spread
around its median and centres it on the estimate:
``[r - (median - q_low), r + (q_high - median)]``, clipped to [-1, 1]. It says how far r moves
with another draw of as many images per class.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.stats import rankdata

from labelspace.analysis.representations import ClassRepresentations, align_classes
from labelspace.errors import LabelspaceError, moved_names


@dataclass
class SimilaritySummary:
    mean: float  # mean off-diagonal similarity
    std: float
    min: float
    max: float
    nearest: dict[str, str]  # each class -> its most similar other class


@dataclass
class SimilarityMatrix:
    """Cosine similarities between the class vectors of one representation."""

    matrix: np.ndarray
    class_names: list[str]
    label: str
    model: str
    modality: str
    domain: str = ""

    @cached_property
    def upper(self) -> np.ndarray:
        """The upper triangle, row by row: each class pair once (rsatoolbox's vector order)."""
        return self.matrix[np.triu_indices(len(self.class_names), 1)]

    @cached_property
    def ranks(self) -> np.ndarray:
        """Average ranks of the upper triangle, kept for the Spearman comparisons of this matrix."""
        return rankdata(self.upper)

    def dissimilarities(self) -> np.ndarray:
        """rsatoolbox's RDM vector: cosine distances ``1 - s`` of the upper triangle."""
        return 1.0 - self.upper

    def summary(self) -> SimilaritySummary:
        off = self.upper
        masked = np.where(np.eye(len(self.matrix), dtype=bool), -np.inf, self.matrix)
        nearest = {name: self.class_names[j] for name, j in zip(self.class_names, masked.argmax(axis=1))}
        return SimilaritySummary(float(off.mean()), float(off.std()), float(off.min()), float(off.max()), nearest)


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair of rows; works on stacks (..., classes, dim).

    The product runs in float32 (twice as fast; errors near 1e-7) and is returned in float64.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
    return np.clip(unit @ np.swapaxes(unit, -1, -2), -1.0, 1.0).astype(np.float64)


def cosine_similarity(rep: ClassRepresentations) -> SimilarityMatrix:
    """The cosine similarities of ``rep``'s class vectors, or its own ``similarity`` where it has one."""
    if len(rep.class_names) < 3:
        raise LabelspaceError(f"{rep.label!r} has {len(rep.class_names)} classes; comparing similarity "
                              "structures needs at least 3")
    matrix = cosine_matrix(rep.vectors) if rep.similarity is None else np.asarray(rep.similarity, dtype=np.float64)
    return SimilarityMatrix(matrix, list(rep.class_names), rep.label, rep.model, rep.modality, rep.domain)


def pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis (broadcasting over leading axes)."""
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(-1) / np.sqrt((x * x).sum(-1) * (y * y).sum(-1))


__getattr__ = moved_names(__name__, {"average_ranks": "moved: use scipy.stats.rankdata"})


def spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman correlation (Pearson of average ranks) along the last axis."""
    return pearson(rankdata(x, axis=-1), rankdata(y, axis=-1))


def rdm_cosine(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """rsatoolbox's ``cosine`` comparison of the dissimilarity vectors ``1 - x`` and ``1 - y``."""
    x, y = 1.0 - x, 1.0 - y
    return (x * y).sum(-1) / np.sqrt((x * x).sum(-1) * (y * y).sum(-1))


@dataclass
class MantelResult:
    r: float
    p: float
    permutations: int
    method: str


def _full(upper: np.ndarray, n: int) -> np.ndarray:
    """Symmetric matrices (..., n, n) with zero diagonal from upper triangles (..., pairs)."""
    iu = np.triu_indices(n, 1)
    out = np.zeros(upper.shape[:-1] + (n, n), dtype=upper.dtype)
    out[..., iu[0], iu[1]] = upper
    return out + np.swapaxes(out, -1, -2)


def mantel(a: SimilarityMatrix | np.ndarray, b: SimilarityMatrix | np.ndarray, permutations: int = 999,
           seed: int = 0, method: str = "pearson") -> MantelResult:
    """Mantel permutation test of the correlation of two similarity matrices (``pearson`` or ``spearman``).

    Permuting classes only reorders the upper triangle, so its mean and norm stay fixed and each
    permuted correlation is one cross-product: all permutations run as batched array gathers.
    """
    ma, mb = (m.matrix if isinstance(m, SimilarityMatrix) else np.asarray(m, dtype=np.float64) for m in (a, b))
    if isinstance(a, SimilarityMatrix) and isinstance(b, SimilarityMatrix):
        order = align_classes(a.class_names, b.class_names, a.label, b.label)
        mb = mb[np.ix_(order, order)]
    if ma.shape != mb.shape or ma.ndim != 2 or len(ma) < 3:
        raise LabelspaceError(f"Mantel test needs two square matrices of the same size (>= 3 classes), "
                              f"got {ma.shape} and {mb.shape}")
    if method not in ("pearson", "spearman"):
        raise LabelspaceError(f"unknown Mantel method {method!r} (accepted: pearson, spearman)")
    n = len(ma)
    iu = np.triu_indices(n, 1)
    x, y = ma[iu], mb[iu]
    if method == "spearman":
        x, y = rankdata(x), rankdata(y)
    x, y = x - x.mean(), y - y.mean()
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    r = float(x @ y)
    xs, ys = _full(x, n), _full(y, n)
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.tile(np.arange(n), (permutations, 1)), axis=1)
    chunk = max(1, (1 << 22) // (n * n))
    r_perm = np.concatenate([
        0.5 * np.einsum("pij,ij->p", ys[p[:, :, None], p[:, None, :]], xs)
        for p in np.array_split(perms, max(1, -(-permutations // chunk)))
    ]) if permutations else np.empty(0)
    p_value = (1 + int((r_perm >= r - 1e-12).sum())) / (1 + permutations)
    return MantelResult(r, p_value, permutations, method)


def bootstrap_draws(targets: np.ndarray, replicates: int, seed: int = 0, chunk: int | None = None):
    """Yield blocks (<= ``chunk`` replicates, images) of feature rows resampled within each class.

    The stream is seeded by ``seed`` and the class layout, so two image sets with the same layout
    (several models on one dataset, or shifted copies of it) get the same draws: a paired bootstrap.
    Blocks continue one random stream, so the draws do not depend on ``chunk``.
    """
    targets = np.asarray(targets)
    rng = np.random.default_rng([seed, zlib.crc32(targets.tobytes())])
    order = np.argsort(targets, kind="stable")
    counts = np.bincount(targets)
    starts = (np.cumsum(counts) - counts)[targets]
    chunk = chunk or replicates
    for done in range(0, replicates, chunk):
        uniform = rng.random((min(chunk, replicates - done), len(targets)))
        yield order[starts + np.floor(uniform * counts[targets]).astype(np.int64)]


def bootstrap_triangles(rep: ClassRepresentations, replicates: int, seed: int = 0,
                        memory: int = 1 << 28) -> np.ndarray:
    """Upper triangles (replicates, pairs) of the similarity matrices of bootstrap resamples of ``rep``.

    Replicates run in blocks whose class means and draws take about ``memory`` bytes each; a
    representation with no images (language, classifier weights, WordNet) has one triangle, shape
    (1, pairs), which broadcasts.
    """
    if rep.features is None:
        return cosine_similarity(rep).upper[None]
    n = len(rep.class_names)
    iu = np.triu_indices(n, 1)
    images = len(rep.features.targets)
    chunk = max(1, min(memory // (4 * n * rep.vectors.shape[1]), memory // (32 * images)))
    out = np.empty((replicates, len(iu[0])), dtype=np.float32)
    blocks = bootstrap_draws(rep.features.targets, replicates, seed, chunk)
    for start, draws in zip(range(0, replicates, chunk), blocks):
        out[start:start + len(draws)] = cosine_matrix(rep.resampled_vectors(draws))[:, iu[0], iu[1]]
    return out


@dataclass
class Comparison:
    """Two similarity matrices compared: correlations, Mantel p-value and bootstrap intervals."""

    kind: str  # vision-vision, language-language, vision-language, vision-wordnet, language-wordnet, across-domains
    a: str
    b: str
    pearson: float
    spearman: float
    cosine: float  # rsatoolbox's 'cosine' of the dissimilarity vectors 1 - s
    mean_a: float
    mean_b: float
    mantel_p: float | None  # None when no permutations were run
    permutations: int
    pearson_ci: tuple[float, float] | None = None
    spearman_ci: tuple[float, float] | None = None
    bootstrap: int = 0
    bootstrap_bias: float | None = None  # median of the resampled Pearson r minus the estimate


def centred_interval(replicates: np.ndarray, estimate: float, level: float = 0.95) -> tuple[float, float]:
    """The replicates' central ``level`` range around their median, moved onto ``estimate``."""
    low, median, high = np.quantile(replicates, [(1 - level) / 2, 0.5, (1 + level) / 2])
    return float(max(-1.0, estimate - (median - low))), float(min(1.0, estimate + (high - median)))


def compare(a: SimilarityMatrix, b: SimilarityMatrix, kind: str = "", permutations: int = 999, seed: int = 0,
            boot_a: np.ndarray | None = None, boot_b: np.ndarray | None = None, level: float = 0.95) -> Comparison:
    """Compare two matrices over the same classes; ``boot_a``/``boot_b`` are ``bootstrap_triangles``."""
    order = align_classes(a.class_names, b.class_names, a.label, b.label)
    same_order = np.array_equal(order, np.arange(len(order)))
    mb = b.matrix if same_order else b.matrix[np.ix_(order, order)]
    iu = np.triu_indices(len(order), 1)
    x, y = a.upper, (b.upper if same_order else mb[iu])
    rank_y = b.ranks if same_order else rankdata(y)
    p_value = mantel(a.matrix, mb, permutations, seed).p if permutations else None
    result = Comparison(kind, a.label, b.label, float(pearson(x, y)), float(pearson(a.ranks, rank_y)),
                        float(rdm_cosine(x, y)), float(x.mean()), float(y.mean()), p_value, permutations)
    if boot_a is not None and boot_b is not None and max(len(boot_a), len(boot_b)) > 1:
        if not same_order:
            boot_b = _full(boot_b, len(order))[..., order[:, None], order[None, :]][..., iu[0], iu[1]]
        resampled = pearson(boot_a, boot_b)
        result.pearson_ci = centred_interval(resampled, result.pearson, level)
        result.spearman_ci = centred_interval(spearman(boot_a, boot_b), result.spearman, level)
        result.bootstrap = max(len(boot_a), len(boot_b))
        result.bootstrap_bias = float(np.median(resampled) - result.pearson)
    return result

