"""Label vectors of WordNet synsets: one rule for every text encoder, cached on disk per encoder and label set.

A synset is its lemmas ("domestic cat", "house cat", "Felis catus"). Each lemma is encoded as a label is
(``zeroshot.label_vectors``: for word vectors the mean of its unit token vectors, ``encoders.text``'s rule;
for sentence encoders the lemma's text, prompt-ensembled where templates are given), and the synset's vector
is the mean of its lemmas' unit vectors (the rule GCNZ and DGP use). Glosses are not encoded. A lemma with
no known word is dropped; a synset with none is *not covered*: it is excluded from the candidates and
counted (``covered_labels``), never given a zero vector that would silently score 0.

Banks are cached under ``<cache>/label-banks/`` keyed by the encoder's ``cache_key``, the wnids (their lemmas are fixed) and
the prompts, and in memory for the process (a 21K-synset GloVe bank is 4 MB).
"""
from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labelspace.cache import default_cache_dir, digest
from labelspace.errors import LabelspaceError
from labelspace.io import atomic_write_bytes
from labelspace.numeric import unit_rows
from labelspace.vocab import LabelSet

RULE = "synset=mean(unit lemma vectors) v1"
_MEMORY: dict[str, tuple[np.ndarray, np.ndarray]] = {}
log = logging.getLogger("labelspace")


def forget_banks() -> None:
    """Forget the banks kept in memory (``zeroshot.clear_memory``)."""
    _MEMORY.clear()


def _encode_lemmas(text_encoder, lemmas: list[str], templates) -> np.ndarray:
    """(lemmas, dim) vectors, zero rows for lemmas the encoder has no word for."""
    if templates is None:
        return np.asarray(text_encoder.encode(lemmas, on_unknown="zero"), dtype=np.float32)
    from labelspace.zeroshot.classifier import label_vectors

    return label_vectors(text_encoder, lemmas, templates)


def _bank_key(text_encoder, labels: LabelSet, templates) -> str:
    return digest(RULE, text_encoder.cache_key, labels.fingerprint, templates)  # lemmas: WordNet 3.0's, fixed


def synset_bank(text_encoder, labels: LabelSet, templates=None, cache_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, covered): unit synset vectors (labels, dim) by the module's rule, and which synsets have one
    (an uncovered synset's row is zero)."""
    key = _bank_key(text_encoder, labels, templates)
    if key in _MEMORY:
        return _MEMORY[key]
    path = Path(cache_dir or default_cache_dir()) / "label-banks" / f"{key}.npz"
    if path.exists():
        try:
            with np.load(path) as cached:
                vectors, covered = cached["vectors"], cached["covered"]
            if vectors.shape[0] != len(labels) or covered.shape != (len(labels),) or not np.isfinite(vectors).all():
                raise ValueError(f"shapes {vectors.shape}, {covered.shape} do not fit {len(labels)} labels")
            _MEMORY[key] = vectors, covered
            return vectors, covered
        except (OSError, ValueError, KeyError, EOFError) as e:
            log.warning(f"label bank {path} is unreadable ({type(e).__name__}: {str(e)[:120]}); recomputing it")
    lemma_lists = labels.lemmas()
    unique = list(dict.fromkeys(lemma for lemmas in lemma_lists for lemma in lemmas))
    index = {lemma: i for i, lemma in enumerate(unique)}
    lemma_vectors = _encode_lemmas(text_encoder, unique, templates)
    norms = np.linalg.norm(lemma_vectors, axis=1)
    if not np.isfinite(lemma_vectors).all():
        raise LabelspaceError(f"text model {text_encoder.name!r} gave non-finite vectors for synset lemmas")
    lemma_vectors = lemma_vectors / np.maximum(norms, 1e-12)[:, None]
    vectors = np.zeros((len(labels), lemma_vectors.shape[1]), dtype=np.float32)
    covered = np.zeros(len(labels), dtype=bool)
    for row, lemmas in enumerate(lemma_lists):
        known = [index[lemma] for lemma in lemmas if norms[index[lemma]] > 0]
        if known:
            vectors[row] = lemma_vectors[known].mean(axis=0)
            covered[row] = True
    vectors = unit_rows(vectors)
    buffer = io.BytesIO()
    np.savez(buffer, vectors=vectors, covered=covered)
    atomic_write_bytes(path, buffer.getvalue())
    vectors.setflags(write=False)
    _MEMORY[key] = vectors, covered
    return vectors, covered


def covered_labels(text_encoder, labels, templates=None):
    """``labels`` without the synsets ``text_encoder`` has no word for (counted in ``LabelSet.excluded``);
    plain label lists are returned as they are."""
    if not isinstance(labels, LabelSet) or labels.wnids is None:
        return labels
    vectors, covered = synset_bank(text_encoder, labels, templates)
    if covered.all():
        return labels
    if not covered.any():
        raise LabelspaceError(f"text model {text_encoder.name!r} has no word for any synset of {labels.spec!r}")
    kept = labels.keep(covered)  # its bank is the rows of this one: kept in memory, never encoded again
    _MEMORY.setdefault(_bank_key(text_encoder, kept, templates), (vectors[covered], covered[covered]))
    return kept


def synset_vectors(text_encoder, labels: LabelSet, templates=None) -> np.ndarray:
    """Unit vectors of a WordNet label set; a synset with no vector is a one-line error (``covered_labels``
    removes those first)."""
    vectors, covered = synset_bank(text_encoder, labels, templates)
    if not covered.all():
        missing = [n for n, c in zip(labels.names, covered) if not c]
        raise LabelspaceError(f"text model {text_encoder.name!r} has no word for {len(missing)} synset(s) of "
                              f"{labels.spec!r} (e.g. {missing[0]!r}); leave them out with covered_labels()")
    return vectors
