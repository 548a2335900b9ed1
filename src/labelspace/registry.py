"""One registry per kind of thing a spec string names, and the one spec grammar they share.

A spec is ``name`` or ``name:argument``: ``efficientnet-lite0``, ``timm:resnet18``, ``fashion-mnist:train``,
``conse:efficientnet-lite0+minilm``. Datasets may end in ``@N`` (N images per class, seeded), e.g.
``fashion-mnist:train@100``; ``synthetic-captions`` in ``@N`` (N scenes); N >= 1 (``split_count``). A registry may also have a *fallback*
entry, used when the spec names no entry (a CLIP state-dict file, a trained checkpoint folder).

Adding an entry: decorate its factory in the module that implements it, and make sure the kind's home package
(``home`` below) imports that module, so the entry exists whenever the registry is read::

    from labelspace.registry import DATASETS

    @DATASETS.register("voc", description="PASCAL VOC classification from a VOCdevkit folder", argument="<root>")
    def voc(argument: str, root: str | None = None):
        ...

The factory receives the argument ('' when none was given) and the kind's keyword options; an entry registered
with ``options=()`` (or a tuple of names) receives only those, so a plain reader ``def image_folder(path)`` can
be registered as it is.
``labelspace list`` prints every entry with its description from the listing manifest (``presets/registry.json``,
``manifest()``), so that it imports no home package and no torch; after adding or changing an entry, regenerate
it with ``python -m labelspace.registry --write-manifest``. ``tests/test_registry.py`` checks every entry and
that the manifest is what the registries list.
"""
from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labelspace.errors import LabelspaceError


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable
    description: str
    argument: str | None = None  # placeholder shown to users, e.g. "<dir>"; None: the entry takes none
    optional: bool = False  # the argument may be left out
    offline: bool = True  # works without a network
    options: tuple[str, ...] | None = None  # the kind's keyword options the factory takes; None: all

    @property
    def spec(self) -> str:
        if self.argument is None:
            return self.name
        return f"{self.name}[:{self.argument}]" if self.optional else f"{self.name}:{self.argument}"


class Registry:
    """Named factories of one kind, filled by ``register`` when ``home`` (a package) is imported."""

    def __init__(self, kind: str, home: str):
        self.kind, self.home = kind, home
        self.entries: dict[str, Entry] = {}
        self.fallback: Entry | None = None

    def register(self, name: str, *, description: str, argument: str | None = None, optional: bool = False,
                 offline: bool = True, fallback: bool = False, options: tuple[str, ...] | None = None):
        """Decorator adding ``factory`` under ``name``; ``fallback`` makes it take any spec no name matches."""
        def add(factory):
            entry = Entry(name, factory, description, argument, optional, offline, options)
            if fallback:
                self.fallback = entry
            else:
                if name in self.entries:
                    raise ValueError(f"{self.kind} {name!r} is registered twice")
                self.entries[name] = entry
            return factory
        return add

    def list(self) -> list[Entry]:
        """Every entry, fallback last."""
        importlib.import_module(self.home)
        return list(self.entries.values()) + ([self.fallback] if self.fallback else [])

    def accepted(self) -> str:
        return ", ".join(e.spec for e in self.list())

    def names(self, spec: str) -> bool:
        """Whether ``spec`` is ``name`` or ``name:...`` of one of the entries (the fallback does not count)."""
        importlib.import_module(self.home)
        return str(spec).partition(":")[0] in self.entries

    def parse(self, spec: str) -> tuple[Entry, str]:
        """The entry a spec names and its argument; a one-line error naming the accepted specs otherwise."""
        importlib.import_module(self.home)
        name, colon, argument = str(spec).partition(":")
        entry = self.entries.get(name)
        if entry is None and self.fallback is not None:
            return self.fallback, str(spec)
        if entry is None:
            raise LabelspaceError(f"unknown {self.kind} {spec!r} (accepted: {self.accepted()})")
        if entry.argument is None and colon:
            raise LabelspaceError(f"{self.kind} {name!r} takes no argument, got {spec!r}")
        if entry.argument is not None and not argument and not entry.optional:
            raise LabelspaceError(f"{self.kind} {spec!r} needs an argument: {entry.spec}")
        return entry, argument

    def create(self, spec: str, **options):
        entry, argument = self.parse(spec)
        if entry.options is not None:
            options = {k: v for k, v in options.items() if k in entry.options}
        return entry.factory(argument, **options)


def split_count(spec: str, what: str) -> tuple[str, int | None]:
    """A spec's ``@N`` suffix (``fashion-mnist:test@100``, ``synthetic-captions@3000``): the spec before it and N,
    or None without one; N must be a whole number >= 1 (``@0``, ``@``, ``@-5``, ``@1e3`` are refused, naming ``what``)."""
    base, at, count = str(spec).partition("@")
    if at and not (count.isascii() and count.isdigit() and int(count) >= 1):
        raise LabelspaceError(f"{what} in {spec!r} must be a whole number >= 1, got {count!r}")
    return base, int(count) if at else None


IMAGE_ENCODERS = Registry("image encoder", "labelspace.encoders")
TEXT_ENCODERS = Registry("text encoder", "labelspace.encoders")
CLIP_MODELS = Registry("CLIP model", "labelspace.models")
DATASETS = Registry("dataset", "labelspace.data")
CAPTION_SOURCES = Registry("caption source", "labelspace.data")
METHODS = Registry("method", "labelspace.methods")
EVAL_TASKS = Registry("eval task", "labelspace.evaluation")
LABEL_SETS = Registry("label set", "labelspace.vocab")
REGISTRIES = (IMAGE_ENCODERS, TEXT_ENCODERS, CLIP_MODELS, DATASETS, CAPTION_SOURCES, METHODS, EVAL_TASKS, LABEL_SETS)

MANIFEST = Path(__file__).parent / "presets" / "registry.json"
WRITE_MANIFEST = "python -m labelspace.registry --write-manifest"


def listing() -> list[dict]:
    """Kind, spec, offline and description of every entry, in ``REGISTRIES`` order: what ``labelspace list``
    prints. It imports every home package (torch included); ``manifest()`` is the same rows without them."""
    return [{"kind": r.kind, "spec": e.spec, "offline": e.offline, "description": e.description}
            for r in REGISTRIES for e in r.list()]


def manifest() -> list[dict]:
    """``listing()`` as shipped in ``presets/registry.json`` (regenerated by ``WRITE_MANIFEST``)."""
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def write_manifest() -> int:
    """``listing()`` into ``presets/registry.json``, one entry a line (a new entry is a one-line diff); how many."""
    rows = listing()
    MANIFEST.write_text("[\n" + ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n]\n",
                        encoding="utf-8")
    return len(rows)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Regenerate the listing manifest that `labelspace list` prints.")
    parser.add_argument("--write-manifest", action="store_true", required=True,
                        help=f"write {MANIFEST} from the registries")
    parser.parse_args()
    from labelspace import registry  # the module the home packages register into, not this __main__ copy of it

    print(f"{registry.write_manifest()} entries written to {MANIFEST}")
