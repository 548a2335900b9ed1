"""Open-vocabulary answers over WordNet: each answer's gloss and hypernym path, and hedged answers.

Hedging your bets (Deng, Krause, Berg, Fei-Fei, CVPR 2012): where a model's probability is spread over
many specific labels (cat breeds), answer at the most specific synset whose subtree holds at least P of
it ("domestic cat") instead of a likely wrong leaf. A synset's mass is the sum of the probabilities of the
candidate labels at or below it (each label once, however many hypernym paths lead up from it); among the
synsets whose mass reaches P, the answer is the one of least mass (no synset under it reaches P), ties
going to the deeper one, then the smaller wnid.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from labelspace.errors import LabelspaceError
from labelspace.metrics.hierarchy import wordnet


def check_hedge(p: float) -> float:
    if not (0 < p <= 1):
        raise LabelspaceError(f"--hedge must be a probability in (0, 1], got {p}")
    return float(p)


class Hedger:
    """Hedged answers over fixed candidate synsets of a hierarchy with ``ancestors`` and ``max_depth`` (WordNet)."""

    def __init__(self, wnids: Sequence[str], net):
        from scipy.sparse import csr_matrix

        index, rows, cols = {}, [], []
        for i, wnid in enumerate(wnids):
            for up in net.ancestors(wnid):
                cols.append(index.setdefault(up, len(index)))
                rows.append(i)
        self.nodes = list(index)
        self.up = csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(len(wnids), len(index)))
        self.depth = np.array([net.max_depth(n) for n in self.nodes])

    def answer(self, probabilities: np.ndarray, p: float) -> list[tuple[str, float]]:
        """Per image (a row of ``probabilities`` over the candidates), the hedged (wnid, subtree mass)."""
        check_hedge(p)
        probabilities = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
        if not np.isfinite(probabilities).all():
            raise LabelspaceError("cannot hedge non-finite probabilities (the model's scores are NaN or infinite)")
        mass = np.asarray(self.up.T.dot(probabilities.T).T)
        out = []
        for row in mass:
            ok = np.flatnonzero(row >= p - 1e-9)
            if not len(ok):
                raise LabelspaceError(f"no synset holds probability {p} (the candidates' total is {row.max():.3f})")
            best = min(ok, key=lambda j: (round(row[j], 9), -self.depth[j], self.nodes[j]))
            out.append((self.nodes[best], float(row[best])))
        return out


@lru_cache(maxsize=4)
def _hedger(wnids: tuple[str, ...]) -> Hedger:
    return Hedger(wnids, wordnet())


def hedger(wnids: Sequence[str]) -> Hedger:
    """The ``Hedger`` over WordNet 3.0 for these candidate synsets, built once per process per set."""
    return _hedger(tuple(wnids))


def describe(wnid: str, length: int = 5) -> dict:
    """What an open-vocabulary answer shows of a synset: wnid, gloss and hypernym path (``a < b < c``)."""
    net = wordnet()
    return {"wnid": wnid, "gloss": net.glosses[wnid],
            "path": " < ".join(net.name(w).replace("_", " ") for w in net.path(wnid, length))}
