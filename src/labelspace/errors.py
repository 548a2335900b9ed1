"""One exception type for bad input, so the CLI can print one line and exit 2; and the one answer to a
name that moved."""
from __future__ import annotations

from collections.abc import Callable


class LabelspaceError(ValueError):
    """Bad input from the user: the message names the bad value and what would be accepted."""


def moved_names(module: str, moves: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` answering each old name in ``moves`` with one line, ``<module>.<name> <where it
    went>``, so code written against an earlier labelspace fails saying what to use instead."""
    def __getattr__(name: str):
        if name in moves:
            raise AttributeError(f"{module}.{name} {moves[name]}")
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return __getattr__
