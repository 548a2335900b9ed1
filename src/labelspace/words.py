"""Compound labels split into known words: the one segmentation text encoders and the WordNet lookup share."""
from __future__ import annotations

from collections.abc import Container


def segment(word: str, vocab: Container[str]) -> list[str] | None:
    """Split ``word`` into the fewest ``vocab`` words of length >= 2 (dynamic programming), or None
    ("diningtable" -> dining, table; "tvmonitor" -> tv, monitor)."""
    best: list[list[str] | None] = [[]] + [None] * len(word)
    for end in range(2, len(word) + 1):
        for start in range(0, end - 1):
            piece = word[start:end]
            if best[start] is not None and piece in vocab:
                candidate = best[start] + [piece]
                if best[end] is None or len(candidate) < len(best[end]):
                    best[end] = candidate
    return best[len(word)]
