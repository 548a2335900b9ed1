"""Seen/unseen class splits for zero-shot evaluation (Xian et al., "the Good, the Bad and the Ugly").

A split is a small JSON file: ``seen`` and ``unseen`` class names and ``validation``, a subset of the
seen classes held out as stand-in unseen classes while hyper-parameters are chosen (the models are then
refit on all seen classes). Packaged splits are ``labelspace/presets/<name>-zsl.json``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from labelspace.errors import LabelspaceError


@dataclass(frozen=True)
class ClassSplit:
    name: str
    seen: tuple[str, ...]
    unseen: tuple[str, ...]
    validation: tuple[str, ...]

    @property
    def labels(self) -> list[str]:
        """Seen then unseen: the generalized zero-shot search space."""
        return [*self.seen, *self.unseen]

    @property
    def train(self) -> tuple[str, ...]:
        """Seen classes left for training while hyper-parameters are chosen on ``validation``."""
        return tuple(c for c in self.seen if c not in self.validation)

    def check(self, class_names) -> "ClassSplit":
        """Refuse names the dataset lacks; returns self so it chains."""
        unknown = [c for c in self.labels if c not in class_names]
        if unknown:
            raise LabelspaceError(f"split {self.name!r} names unknown classes {', '.join(map(repr, unknown))} "
                                  f"(dataset classes: {', '.join(class_names)})")
        return self

    def to_json(self) -> dict:
        return {"name": self.name, "seen": list(self.seen), "unseen": list(self.unseen),
                "validation": list(self.validation)}


def class_rows(targets, class_names, labels) -> tuple[np.ndarray, np.ndarray]:
    """(mask of samples whose class is in ``labels``, their targets re-indexed into ``labels``)."""
    class_names = list(class_names)
    unknown = [c for c in labels if c not in class_names]
    if unknown:
        raise LabelspaceError(f"unknown classes {', '.join(map(repr, unknown))} (dataset classes: {', '.join(class_names)})")
    remap = np.full(len(class_names), -1)
    remap[[class_names.index(c) for c in labels]] = np.arange(len(labels))
    new = remap[np.asarray(targets)]
    return new >= 0, new[new >= 0]


def make_split(name: str, seen, unseen, validation=()) -> ClassSplit:
    """A validated split: non-empty, no class both seen and unseen, validation inside seen, no duplicates."""
    seen, unseen, validation = tuple(seen), tuple(unseen), tuple(validation)
    if not seen or not unseen:
        raise LabelspaceError(f"split {name!r} needs at least one seen and one unseen class")
    both = [c for c in unseen if c in seen]
    if both:
        raise LabelspaceError(f"split {name!r}: classes {', '.join(map(repr, both))} are both seen and unseen")
    stray = [c for c in validation if c not in seen]
    if stray:
        raise LabelspaceError(f"split {name!r}: validation classes {', '.join(map(repr, stray))} are not seen classes")
    if len(validation) >= len(seen) - 1:
        raise LabelspaceError(f"split {name!r}: validation must leave at least two seen classes to train on")
    dupes = sorted({c for c in (*seen, *unseen) if (*seen, *unseen).count(c) > 1})
    if dupes:
        raise LabelspaceError(f"split {name!r}: classes listed twice: {', '.join(map(repr, dupes))}")
    return ClassSplit(name, seen, unseen, validation)


def packaged_splits() -> list[str]:
    folder = resources.files("labelspace").joinpath("presets")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json") and "zsl" in p.name)


def load_split(spec: str) -> ClassSplit:
    """A split from a packaged name (``fashion-mnist-zsl``) or a JSON file path."""
    path = Path(spec)
    if path.suffix == ".json" and path.is_file():
        text = path.read_text()
    elif spec in packaged_splits():
        text = resources.files("labelspace").joinpath("presets", f"{spec}.json").read_text()
    else:
        raise LabelspaceError(f"unknown split {spec!r} (packaged: {', '.join(packaged_splits())}; or a JSON file "
                              'with "seen", "unseen" and optional "validation" class lists)')
    try:
        data = json.loads(text)
        return make_split(data.get("name", path.stem), data["seen"], data["unseen"], data.get("validation", ()))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise LabelspaceError(f"split {spec!r} is not a JSON object with \"seen\" and \"unseen\" lists ({e})") from e
