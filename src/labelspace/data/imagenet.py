"""ImageNet-style data: folders named by WordNet ids, or the ILSVRC validation layout.

Spec ``imagenet:<folder>``: one sub-folder per synset (``n01440764/``), read in torchvision
``ImageFolder`` order. Spec ``imagenet:<folder>,labels=<file>``: a flat folder of images and a
ground-truth file, either lines ``<file name> <wnid>`` or Kaggle's ``LOC_val_solution.csv``; or
``imagenet:<folder>,devkit=<ILSVRC2012_devkit_t12>``: the official ground truth (one ILSVRC2012 id per
image in file-name order, mapped to wnids by the devkit's ``meta.mat`` as torchvision's ``ImageNet`` maps them).

Each class's ``wnid`` is its true synset (hP@k uses it). Its name (option ``names``): ``auto`` (the default)
CLIP's ImageNet-1k names where every class is an ImageNet-1k one ("tench", "crane bird", "construction
crane"), else WordNet's; ``clip`` CLIP's (others are refused); ``wordnet`` the synsets' first lemmas, as a
``vocab.LabelSet`` with the wnids: two synsets sharing a lemma are named apart (``crane (n03126707)``), but
what encoders and prompts get is the synset (``zeroshot.synsets``: its lemmas) and the bare lemma, never a wnid.
"""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from labelspace.data.datasets import IMAGE_SUFFIXES, FileImages, SpecOptions
from labelspace.data.objects import missing_images
from labelspace.errors import LabelspaceError
from labelspace.io import read_text
from labelspace.vocab.labelsets import packaged_wnids, synset_set

WNID = re.compile(r"n\d{8}")


def clip_names(wnids: list[str]) -> list[str]:
    """CLIP's ImageNet-1k class names (``presets/datasets/imagenet1k.json``, in the 1K's class order) of wnids; a
    wnid outside ImageNet-1k is a one-line error."""
    from labelspace.prompts import dataset_preset

    names = dict(zip(packaged_wnids("imagenet-1k"), dataset_preset("imagenet1k")["classes"]))
    outside = [w for w in wnids if w not in names]
    if outside:
        raise LabelspaceError(f"{outside[0]!r} is not an ImageNet-1k class ({len(outside)} wnid(s) outside it); "
                              "CLIP named only those 1000 (use names=wordnet)")
    return [names[w] for w in wnids]


class SynsetImages(FileImages):
    """Files labelled with WordNet synsets: ``wnids`` per class, names by ``names`` (module docstring)."""

    def __init__(self, name: str, paths, wnid_of_path: list[str], names: str = "auto"):
        self.wnids = sorted(set(wnid_of_path))
        index = {w: i for i, w in enumerate(self.wnids)}
        if names == "auto":
            names = "clip" if set(self.wnids) <= set(packaged_wnids("imagenet-1k")) else "wordnet"
        class_names = clip_names(self.wnids) if names == "clip" else synset_set(name, self.wnids)
        super().__init__(name + (",names=clip" if names == "clip" else ""), paths, [index[w] for w in wnid_of_path],
                         class_names)


def synset_folders(root: Path, names: str = "auto") -> SynsetImages:
    folders = sorted(d.name for d in root.iterdir() if d.is_dir())
    bad = [d for d in folders if not WNID.fullmatch(d)]
    if not folders or bad:
        raise LabelspaceError(f"{str(root)!r} is not an ImageNet-style folder (expected sub-folders named by WordNet ids "
                              f"such as n01440764; found {bad[0] + '/' if bad else 'none'}); a flat folder needs "
                              "labels=<ground-truth file> or devkit=<ILSVRC2012_devkit_t12>")
    paths, wnids = [], []
    for wnid in folders:  # torchvision ImageFolder's order: classes sorted, then os.walk sorted, files sorted
        for dirpath, _, files in sorted(os.walk(root / wnid, followlinks=True)):
            for f in sorted(files):
                if Path(f).suffix.lower() in IMAGE_SUFFIXES:
                    paths.append(Path(dirpath) / f)
                    wnids.append(wnid)
    return SynsetImages(f"imagenet:{root}", paths, wnids, names)


def _ground_truth(labels: Path) -> list[tuple[str, str]]:
    """(file name, wnid) rows of ``<file> <wnid>`` lines or of LOC_val_solution.csv."""
    if not labels.is_file():
        raise LabelspaceError(f"ImageNet ground-truth file {str(labels)!r} does not exist")
    text = read_text(labels, "ImageNet ground-truth file")
    if labels.suffix == ".csv":  # Kaggle: ImageId,PredictionString ("n01751748 x0 y0 x1 y1 ...")
        rows = [(r["ImageId"] + ".JPEG", r["PredictionString"].split()[0])
                for r in csv.DictReader(io.StringIO(text, newline="")) if r.get("ImageId") and r.get("PredictionString")]
    else:
        rows = [tuple(line.split()[:2]) for line in text.splitlines() if line.strip()]
    bad = next((r for r in rows if len(r) != 2 or not WNID.fullmatch(r[1])), None)
    if bad is not None or not rows:
        raise LabelspaceError(f"ImageNet ground-truth file {str(labels)!r} needs lines '<file> <wnid>' or "
                              f"LOC_val_solution.csv rows (bad row: {bad!r})")
    return rows


def _devkit_truth(root: Path, devkit: Path) -> list[tuple[str, str]]:
    """The devkit's labels as torchvision's ``parse_devkit_archive`` reads them (leaf synsets of meta.mat)."""
    import scipy.io

    meta, truth = devkit / "data" / "meta.mat", devkit / "data" / "ILSVRC2012_validation_ground_truth.txt"
    if not meta.is_file() or not truth.is_file():
        raise LabelspaceError(f"{str(devkit)!r} is not an ILSVRC2012 devkit (expected data/meta.mat and "
                              "data/ILSVRC2012_validation_ground_truth.txt)")
    synsets = scipy.io.loadmat(meta, squeeze_me=True)["synsets"]
    idx_to_wnid = {int(s[0]): str(s[1]) for s in synsets if int(s[4]) == 0}  # (ILSVRC2012_ID, WNID, ..., num_children)
    ids = [int(line) for line in truth.read_text().split()]
    files = sorted(p.name for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) != len(ids) or not set(ids) <= set(idx_to_wnid):
        raise LabelspaceError(f"the devkit's ground truth ({len(ids)} labels) does not fit {str(root)!r} ({len(files)} "
                              "images; expected the ILSVRC2012 validation images, one label each in file-name order)")
    return [(f, idx_to_wnid[i]) for f, i in zip(files, ids)]


def imagenet(path: str | os.PathLike, labels: str | os.PathLike | None = None,
             devkit: str | os.PathLike | None = None, names: str = "auto") -> SynsetImages:
    root = Path(path)
    if not root.is_dir():
        raise LabelspaceError(f"ImageNet folder {str(root)!r} does not exist (expected synset sub-folders "
                              "such as n01440764/, or a flat folder with labels=<file>)")
    if labels is None and devkit is None:
        return synset_folders(root, names)
    rows = _ground_truth(Path(labels)) if labels is not None else _devkit_truth(root, Path(devkit))
    paths = [root / f for f, _ in rows]
    missing_images(paths, str(labels or devkit))
    return SynsetImages(f"imagenet:{root},{'labels=' + str(labels) if labels else 'devkit=' + str(devkit)}",
                        paths, [w for _, w in rows], names)


def imagenet_spec(spec: str, arg: str) -> SynsetImages:
    options = SpecOptions(spec, arg)
    kwargs = dict(labels=options.get("labels", None), devkit=options.get("devkit", None),
                  names=options.get("names", "auto", str, ("auto", "clip", "wordnet")))
    options.done()
    return imagenet(options.path, **kwargs)
