"""Compound labels split into known words: the one segmentation text encoders and the WordNet lookup share."""
from __future__ import annotations

from collections.abc import Container

MAX_PIECE = 30  # letters in the longest word a compound is split into


def segment(word: str, vocab: Container[str]) -> list[str] | None:
    """Split ``word`` into the fewest ``vocab`` words of 2 to ``MAX_PIECE`` letters, or None ("diningtable" ->
    dining, table; "tvmonitor" -> tv, monitor): dynamic programming over the pieces ending at each position, so at
    most ``MAX_PIECE`` look-ups per letter (linear in the word)."""
    fewest: list[int | None] = [0] + [None] * len(word)  # pieces covering word[:end]
    start_of = [0] * (len(word) + 1)  # where the last of those pieces starts
    for end in range(2, len(word) + 1):
        for start in range(max(0, end - MAX_PIECE), end - 1):
            before = fewest[start]
            if before is not None and (fewest[end] is None or before + 1 < fewest[end]) and word[start:end] in vocab:
                fewest[end], start_of[end] = before + 1, start
    if fewest[-1] is None:
        return None
    pieces, end = [], len(word)
    while end:
        pieces.append(word[start_of[end]:end])
        end = start_of[end]
    return pieces[::-1]
