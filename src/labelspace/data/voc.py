"""PASCAL VOC in its own layout: ``VOCdevkit/VOC20xx`` with ``ImageSets/Main/<split>.txt``,
``Annotations/<id>.xml`` and ``JPEGImages/<id>.jpg``.

Spec ``voc:<VOC20xx folder>[,split=val][,view=crops|images][,min_size=0][,difficult=false]
[,truncated=true][,margin=0]``: object crops from the boxes (one label each, the default) or whole
images with their label sets. ``min_size`` drops boxes whose shorter side is below it (pixels),
``difficult``/``truncated`` keep or drop such objects, ``margin`` widens each crop by that fraction
of the box on every side. The XML files are read one at a time; only numbers are kept, and a size or box
coordinate that is not a finite number is one line naming its file, object and tag.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from array import array
from pathlib import Path

import numpy as np

from labelspace.data.datasets import SpecOptions
from labelspace.data.eval_sets import MultiLabelSet
from labelspace.data.objects import ObjectCrops, check_box, missing_images, number
from labelspace.errors import LabelspaceError
from labelspace.io import read_text

VOC_CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]
VIEWS = ("crops", "images")


def voc_root(path: str | os.PathLike) -> Path:
    """The ``VOC20xx`` folder: ``path`` itself, or the one VOC20xx folder inside a ``VOCdevkit``."""
    path = Path(path)
    expected = "a VOCdevkit/VOC20xx folder with Annotations/, ImageSets/Main/ and JPEGImages/"
    if not path.is_dir():
        raise LabelspaceError(f"PASCAL VOC folder {str(path)!r} does not exist (expected {expected})")
    if not (path / "Annotations").is_dir():
        inner = sorted(d for d in path.glob("VOC*") if (d / "Annotations").is_dir())
        if len(inner) != 1:
            found = ", ".join(sorted(p.name for p in path.iterdir())[:6]) or "an empty folder"
            raise LabelspaceError(f"{str(path)!r} is not a PASCAL VOC folder (expected {expected}; found {found})")
        path = inner[0]
    for sub in ("ImageSets/Main", "JPEGImages"):
        if not (path / sub).is_dir():
            raise LabelspaceError(f"PASCAL VOC folder {str(path)!r} has no {sub}/ (expected {expected})")
    return path


def _split_ids(root: Path, split: str) -> list[str]:
    split_file = root / "ImageSets" / "Main" / f"{split}.txt"
    if not split_file.is_file():
        known = sorted(p.stem for p in (root / "ImageSets" / "Main").glob("*.txt") if "_" not in p.stem)
        raise LabelspaceError(f"PASCAL VOC split {split!r} is unknown in {str(root)!r} "
                              f"(accepted: {', '.join(known) or 'none: ImageSets/Main holds no split files'})")
    return [line.split()[0] for line in read_text(split_file, "PASCAL VOC split file").splitlines() if line.strip()]


def _text(node, tag: str, where: str) -> str:
    found = node.find(tag)
    if found is None or found.text is None:
        raise LabelspaceError(f"{where}: no <{tag}> (expected a PASCAL VOC annotation)")
    return found.text.strip()


def voc(path: str | os.PathLike, split: str = "val", view: str = "crops", min_size: float = 0, difficult: bool = False,
        truncated: bool = True, margin: float = 0.0):
    """PASCAL VOC ``split`` as object crops (``ObjectCrops``) or labelled whole images (``MultiLabelSet``)."""
    if view not in VIEWS:
        raise LabelspaceError(f"PASCAL VOC view {view!r} is unknown (accepted: {', '.join(VIEWS)})")
    root = voc_root(path)
    ids = _split_ids(root, split)
    index = {c: i for i, c in enumerate(VOC_CLASSES)}
    image_paths, object_image, boxes, targets = [], array("q"), array("d"), array("q")
    jpegs, annotations = str(root / "JPEGImages"), str(root / "Annotations")
    multi_hot = np.zeros((len(ids), len(VOC_CLASSES)), dtype=bool)
    for n, image_id in enumerate(ids):
        xml = os.path.join(annotations, image_id + ".xml")
        try:
            tree = ET.parse(xml).getroot()
        except FileNotFoundError as e:
            raise LabelspaceError(f"PASCAL VOC image {image_id!r} of split {split!r} has no annotation {xml!r}") from e
        except ET.ParseError as e:
            raise LabelspaceError(f"{xml!r} is not valid XML ({e})") from e
        size = tree.find("size")
        if size is None:
            raise LabelspaceError(f"{xml!r}: no <size> (expected a PASCAL VOC annotation)")
        width, height = (number(_text(size, t, xml), f"{xml}: <{t}>") for t in ("width", "height"))
        image_paths.append(os.path.join(jpegs, _text(tree, "filename", xml)))
        for k, obj in enumerate(tree.iter("object")):
            name = _text(obj, "name", xml).lower()
            if name not in index:
                raise LabelspaceError(f"{xml!r}: object class {name!r} is not a PASCAL VOC class "
                                      f"(accepted: {', '.join(VOC_CLASSES)})")
            bb = obj.find("bndbox")
            if bb is None:
                raise LabelspaceError(f"{xml!r}: object {k} ({name}) has no <bndbox>")
            # VOC boxes are 1-based and inclusive: pixel columns xmin..xmax
            where = f"{xml} object {k} ({name})"
            x0, y0, x1, y1 = (number(_text(bb, t, xml), f"{where} <{t}>") for t in ("xmin", "ymin", "xmax", "ymax"))
            box = check_box((x0 - 1, y0 - 1, x1, y1), width, height, where)
            multi_hot[n, index[name]] = True
            is_difficult = obj.findtext("difficult", "0").strip() == "1"
            is_truncated = obj.findtext("truncated", "0").strip() == "1"
            if (is_difficult and not difficult) or (is_truncated and not truncated) or \
                    min(box[2] - box[0], box[3] - box[1]) < min_size:
                continue
            object_image.append(n)
            boxes.extend(box)
            targets.append(index[name])
    missing_images(image_paths, f"{root}/Annotations")
    if view == "images":
        return MultiLabelSet(f"voc:{root},split={split},view=images", image_paths, multi_hot, VOC_CLASSES)
    return ObjectCrops(f"voc:{root},split={split},view=crops,min_size={min_size:g},difficult={difficult},"
                       f"truncated={truncated},margin={margin:g}", image_paths, np.frombuffer(object_image, np.int64),
                       np.frombuffer(boxes, np.float64), np.frombuffer(targets, np.int64), VOC_CLASSES, margin)


def voc_spec(spec: str, arg: str):
    """``voc:<folder>[,option=value...]`` -> ``voc(...)`` (see the module docstring)."""
    options = SpecOptions(spec, arg)
    kwargs = dict(split=options.get("split", "val"), view=options.get("view", "crops", str, VIEWS),
                  min_size=options.get("min_size", 0.0, float), difficult=options.get("difficult", False, bool),
                  truncated=options.get("truncated", True, bool), margin=options.get("margin", 0.0, float))
    options.done()
    return voc(options.path, **kwargs)
