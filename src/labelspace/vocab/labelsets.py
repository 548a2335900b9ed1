"""Label sets: the candidate vocabularies a zero-shot model chooses from, named by one spec.

A ``LabelSet`` is a sequence of unique display names (so it goes wherever a list of labels goes) and, for
WordNet sets, one noun synset per label (``wnids``), whose lemmas, gloss and hypernym path answers show.
Specs (``labelspace list``; the registry ``LABEL_SETS``):

- ``imagenet-1k`` (ILSVRC-2012, timm's class order), ``imagenet-2hops`` (1,549), ``imagenet-3hops`` (7,860,
  holds 2-hops), ``imagenet-21k`` (20,842: fall 2011 with images minus the 1K): the published ImageNet-21K
  zero-shot sets (``presets/labelsets/README.md`` gives their provenance); ``wordnet-nouns`` (all 82,115);
- ``wordnet:<wnid>``: a synset and every synset under it (``wordnet:n02084071``: every dog);
- a text file: one label per line, either all wnids (a first token ``n########``) or all plain names;
  ``#`` starts a comment;
- any of these + ``+1k``: the 1,000 ILSVRC-2012 training labels added after the set's own (the papers' "+1K"
  setting, where the training labels compete with the unseen ones).

Display names are a synset's first lemma (``_`` as a space), with the wnid appended where two synsets of
the set share it (``crane (n03126707)``); ``texts`` keeps the bare lemma for prompts.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

from labelspace.cache import digest
from labelspace.errors import LabelspaceError
from labelspace.io import read_text
from labelspace.metrics.hierarchy import wordnet
from labelspace.registry import LABEL_SETS

WNID = re.compile(r"n\d{8}")
PLUS_1K = "+1k"


class LabelSet(Sequence):
    """Unique display names, and one WordNet noun synset per name where the set is a WordNet one."""

    def __init__(self, spec: str, names: Sequence[str], wnids: Sequence[str] | None = None, excluded: int = 0):
        self.spec, self.names = spec, list(names)
        self.wnids = None if wnids is None else list(wnids)
        self.excluded = excluded  # synsets of the spec left out (no vector for them), see ``keep``
        self._lemmas: list[list[str]] | None = None
        if self.wnids is not None and len(self.wnids) != len(self.names):
            raise ValueError("one wnid per name")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i):
        return self.names[i]

    def __repr__(self) -> str:
        return f"LabelSet({self.spec!r}, {len(self)} labels)"

    @cached_property
    def fingerprint(self) -> str:
        """A key over the labels (wnids, else names): what caches of label vectors are keyed by."""
        return digest(*(self.wnids if self.wnids is not None else ["names", *self.names]))

    @property
    def texts(self) -> list[str]:
        """What a prompt says for each label: a synset's first lemma (no wnid), else the name."""
        return [lemmas[0] for lemmas in self.lemmas()]

    def lemmas(self) -> list[list[str]]:
        """Each synset's WordNet lemmas, ``_`` as a space (a plain label is its own one lemma); looked up once per
        set (every scoring pass over a 21K set asks for them)."""
        if self._lemmas is None and self.wnids is None:
            self._lemmas = [[n] for n in self.names]
        elif self._lemmas is None:
            net = wordnet()
            self._lemmas = [[lemma.replace("_", " ") for lemma in net.lemmas[w]] for w in self.wnids]
        return self._lemmas

    def keep(self, mask: Sequence[bool]) -> LabelSet:
        """The labels where ``mask`` holds; the rest are counted in ``excluded``."""
        mask = list(mask)
        names = [n for n, m in zip(self.names, mask) if m]
        wnids = None if self.wnids is None else [w for w, m in zip(self.wnids, mask) if m]
        kept = LabelSet(self.spec, names, wnids, self.excluded + len(mask) - len(names))
        if self._lemmas is not None:
            kept._lemmas = [lemmas for lemmas, m in zip(self._lemmas, mask) if m]
        return kept


def label_texts(labels: Sequence[str]) -> list[str]:
    """What a prompt says for each label: a ``LabelSet``'s ``texts`` (lemmas, never a wnid), else the labels."""
    return labels.texts if isinstance(labels, LabelSet) else list(labels)


def labels_like(labels: Sequence[str], names: Sequence[str]) -> Sequence[str]:
    """``names``, some of ``labels``, as labels of their kind: of a WordNet ``LabelSet``, a ``LabelSet`` with their
    synsets (what encoders embed; a split's seen or unseen classes of an ImageNet set), else a plain list."""
    if not isinstance(labels, LabelSet) or labels.wnids is None:
        return list(names)
    wnid = dict(zip(labels.names, labels.wnids))
    return LabelSet(labels.spec, names, [wnid[n] for n in names])


def synset_names(wnids: Sequence[str]) -> list[str]:
    """Each wnid's first WordNet 3.0 lemma (``_`` as a space), the wnid appended where two share it; an unknown
    wnid is a one-line error."""
    net = wordnet()
    unknown = [w for w in wnids if w not in net.lemmas]
    if unknown:
        raise LabelspaceError(f"{unknown[0]!r} is not a WordNet 3.0 noun synset ({len(unknown)} unknown wnid(s); "
                              "a wnid is 'n' and the 8-digit offset of a noun, e.g. n02084071)")
    names = [net.name(w).replace("_", " ") for w in wnids]
    twice = {n for n, k in Counter(names).items() if k > 1}
    return [f"{n} ({w})" if n in twice else n for n, w in zip(names, wnids)]


def synset_set(spec: str, wnids: Sequence[str]) -> LabelSet:
    return LabelSet(spec, synset_names(wnids), wnids)


def packaged_wnids(name: str) -> list[str]:
    return resources.files("labelspace").joinpath("presets", "labelsets", f"{name}.txt").read_text().split()


PACKAGED: list[str] = []  # the sets shipped as wnid files (presets/labelsets/), in registration order


def _packaged(name: str, description: str):
    PACKAGED.append(name)
    LABEL_SETS.register(name, description=description)(lambda argument: synset_set(name, packaged_wnids(name)))


_packaged("imagenet-1k", "the 1,000 ILSVRC-2012 classes (timm's order): the training labels of ImageNet models")
_packaged("imagenet-2hops", "ImageNet-21K zero-shot '2-hops': 1,549 synsets near the 1K (ConSE's list)")
_packaged("imagenet-3hops", "ImageNet-21K zero-shot '3-hops': 7,860 synsets, 2-hops included (ConSE's list)")
_packaged("imagenet-21k", "ImageNet-21K zero-shot 'all': 20,842 fall-2011 synsets with images, minus the 1K")


@LABEL_SETS.register("wordnet-nouns", description="all 82,115 noun synsets of WordNet 3.0")
def _wordnet_nouns(argument: str) -> LabelSet:
    return synset_set("wordnet-nouns", list(wordnet().lemmas))


@LABEL_SETS.register("wordnet", argument="<wnid>", description="a WordNet noun synset and every synset under it "
                     "(wordnet:n02084071 is every dog)")
def _wordnet_subtree(argument: str) -> LabelSet:
    net = wordnet()
    if not WNID.fullmatch(argument) or argument not in net.lemmas:
        raise LabelspaceError(f"wordnet:{argument} names no WordNet 3.0 noun synset (expected a wnid such as n02084071)")
    return synset_set(f"wordnet:{argument}", net.descendants(argument))


@LABEL_SETS.register("file", argument="<path>", fallback=True,
                     description="a text file, one label per line: all wnids (n02084071) or all plain names")
def label_file(argument: str) -> LabelSet:
    path = Path(argument.removeprefix("file:"))
    if not is_label_set_spec(str(path)):
        raise LabelspaceError(f"unknown label set {argument!r} (accepted: {LABEL_SETS.accepted()}; a WordNet set "
                              "+1k adds the ImageNet-1K labels; plain labels are a list: on the command line two or "
                              "more, comma-separated)")
    lines = read_text(path, "label file").splitlines()
    labels = [line.split("#", 1)[0].strip() for line in lines]
    labels = [label for label in labels if label]
    if not labels:
        raise LabelspaceError(f"label file {str(path)!r} has no label (one label or wnid per line, # for comments)")
    firsts = [label.split()[0] for label in labels]
    synsets = [bool(WNID.fullmatch(f)) for f in firsts]
    if any(synsets) and not all(synsets):
        line = labels[synsets.index(not synsets[0])]
        raise LabelspaceError(f"label file {str(path)!r} mixes wnids and plain names (e.g. {line!r}); "
                              "use one kind per file")
    keys = firsts if all(synsets) else [label.lower() for label in labels]
    dupes = [k for k, n in Counter(keys).items() if n > 1]
    if dupes:
        raise LabelspaceError(f"label file {str(path)!r} lists {dupes[0]!r} {Counter(keys)[dupes[0]]} times "
                              f"({len(dupes)} duplicate label(s)); each label may appear once")
    return synset_set(str(path), firsts) if all(synsets) else LabelSet(str(path), labels)


def label_set(spec: str) -> LabelSet:
    """The ``LabelSet`` a spec names (module docstring); unknown ones are one-line errors listing the known."""
    spec = str(spec).strip()
    base = spec.removesuffix(PLUS_1K)
    labels = LABEL_SETS.create(base)
    if base == spec:
        return labels
    if labels.wnids is None:
        raise LabelspaceError(f"{spec!r}: +1k adds ImageNet synsets, so it needs a set of wnids; {base!r} has plain names")
    have = set(labels.wnids)
    extra = [w for w in packaged_wnids("imagenet-1k") if w not in have]
    if not extra:
        raise LabelspaceError(f"{spec!r}: {base!r} already holds all 1,000 ImageNet-1K labels (drop +1k)")
    return synset_set(spec, labels.wnids + extra)


def is_label_set_spec(text: str, files: bool = True) -> bool:
    """Whether ``text`` names a label set rather than being one label: a registered name, ``wordnet:...``,
    optionally ``+1k``, or (with ``files``) an existing file; ``files=False`` never looks at the disk (what a
    web client may name)."""
    base = str(text).strip().removesuffix(PLUS_1K)
    if LABEL_SETS.names(base):
        return True
    try:
        return files and Path(base.removeprefix("file:")).is_file()
    except OSError:  # a name too long to be a path (a long comma list) is no file
        return False


@lru_cache(maxsize=1)
def packaged_label_sets() -> tuple[dict, ...]:
    """``{"spec", "size"}`` of each packaged set and its ``+1k`` form, counted once from the wnid files (no WordNet
    parse); ``imagenet-1k`` has no ``+1k``."""
    first = packaged_wnids("imagenet-1k")
    sets = []
    for name in PACKAGED:
        wnids = packaged_wnids(name)
        sets.append({"spec": name, "size": len(wnids)})
        if name != "imagenet-1k":
            sets.append({"spec": name + PLUS_1K, "size": len(set(wnids) | set(first))})
    return tuple(sets)


def as_labels(labels: str | Sequence[str]) -> LabelSet | list[str]:
    """Labels as the Python API takes them: a label-set spec (a string) or a list of label names."""
    if isinstance(labels, LabelSet):
        return labels
    if isinstance(labels, str):
        return label_set(labels)
    return list(labels)
