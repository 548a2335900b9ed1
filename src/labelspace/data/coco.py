"""COCO in its own layout: ``annotations/instances_<split>.json`` and the image folder ``<split>/``.

Spec ``coco:<instances JSON>[,images=<folder>][,view=crops|images][,min_size=0][,margin=0]``:
object crops (one label each, the default; grouped by image, in annotation order within one) or whole
images with their label sets; category names
come from the file (in category-id order), crowd boxes (``iscrowd=1``) are skipped. Without
``images=`` the folder is ``<split>/`` beside or above the ``annotations/`` folder. The JSON is read
whole (COCO's format allows nothing else); everything kept from it is arrays of numbers. Every field read is
checked (``_field``): a missing one, a wrong type (an id that is not an integer, a bbox that is not four finite
numbers), a duplicate image or category id or a duplicate category name is one line naming where it is.
"""
from __future__ import annotations

import json
import os
from array import array
from collections import Counter
from pathlib import Path

import numpy as np

from labelspace.data.datasets import SpecOptions
from labelspace.data.eval_sets import MultiLabelSet
from labelspace.data.objects import ObjectCrops, check_box, missing_images, number
from labelspace.errors import LabelspaceError
from labelspace.io import read_text

VIEWS = ("crops", "images")
EXPECTED = {int: "an integer", str: "a non-empty string", list: "a list", float: "a finite number"}


def _image_folder(annotations: Path) -> Path:
    split = annotations.stem.removeprefix("instances_")
    for candidate in (annotations.parent / split, annotations.parent.parent / split):
        if candidate.is_dir():
            return candidate
    raise LabelspaceError(f"no image folder {split}/ next to or above {str(annotations)!r} "
                          f"(give it with coco:{annotations},images=<folder>)")


def _field(record, key: str, kind: type, where: str):
    """``record[key]`` if it is a ``kind`` (``int``, a non-empty ``str``, ``list``, or ``float``: a finite number,
    ``objects.number``), never a bool; else one line naming ``where``, the key and what it holds instead."""
    if not isinstance(record, dict):
        raise LabelspaceError(f"{where} is {record!r:.40}, not a JSON object")
    if key not in record:
        raise LabelspaceError(f"{where} has no {key!r} (expected {EXPECTED[kind]})")
    value = record[key]
    if kind is float:
        return number(value, f"{where} {key}")
    if isinstance(value, bool) or not isinstance(value, kind) or value == "":
        raise LabelspaceError(f"{where}: {key} is {value!r:.40} (expected {EXPECTED[kind]})")
    return value


def _once(values: list, what: str) -> None:
    """Refuse values that appear more than once, naming the first few."""
    twice = [str(v) for v, count in Counter(values).items() if count > 1]
    if twice:
        raise LabelspaceError(f"{what} {', '.join(twice[:5])}{' ...' if len(twice) > 5 else ''} appears more than once "
                              "(each must be unique)")


def coco(path: str | os.PathLike, images: str | os.PathLike | None = None, view: str = "crops", min_size: float = 0,
         margin: float = 0.0):
    """COCO instances as object crops (``ObjectCrops``) or labelled whole images (``MultiLabelSet``)."""
    if view not in VIEWS:
        raise LabelspaceError(f"COCO view {view!r} is unknown (accepted: {', '.join(VIEWS)})")
    path = Path(path)
    expected = "a COCO instances_*.json file with images, annotations and categories"
    if not path.is_file():
        raise LabelspaceError(f"COCO annotation file {str(path)!r} does not exist (expected {expected})")
    try:
        data = json.loads(read_text(path, "COCO annotation file"))
    except json.JSONDecodeError as e:
        raise LabelspaceError(f"{str(path)!r} is not JSON ({e}; expected {expected})") from e
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
        found = f"keys {', '.join(sorted(data))[:80]}" if isinstance(data, dict) else f"a {type(data).__name__}"
        raise LabelspaceError(f"{str(path)!r} is not a COCO instances file (expected {expected}; found {found})")
    folder = Path(images) if images else _image_folder(path)
    categories = sorted((_field(c, "id", int, f"{path} categories[{i}]"), _field(c, "name", str, f"{path} categories[{i}]"))
                        for i, c in enumerate(_field(data, "categories", list, str(path))))
    _once([cid for cid, _ in categories], f"{path}: category id")
    _once([name.strip().lower() for _, name in categories], f"{path}: category name")
    class_names = [name for _, name in categories]
    category = {cid: i for i, (cid, _) in enumerate(categories)}
    ids, sizes, image_paths = [], [], []
    for n, img in enumerate(_field(data, "images", list, str(path))):
        where = f"{path} images[{n}]"
        ids.append(_field(img, "id", int, where))
        sizes.append((_field(img, "width", float, where), _field(img, "height", float, where)))
        image_paths.append(os.path.join(folder, _field(img, "file_name", str, where)))
    _once(ids, f"{path}: image id")
    position = {image_id: n for n, image_id in enumerate(ids)}
    multi_hot = np.zeros((len(image_paths), len(class_names)), dtype=bool)
    object_image, boxes, targets, crowd = array("q"), array("d"), array("q"), 0
    for k, ann in enumerate(_field(data, "annotations", list, str(path))):
        where = f"{path} annotations[{k}]"
        image_id, category_id = _field(ann, "image_id", int, where), _field(ann, "category_id", int, where)
        if image_id not in position:
            raise LabelspaceError(f"{where} names image id {image_id}, which the file does not list")
        if category_id not in category:
            raise LabelspaceError(f"{where} names category id {category_id}, which the file does not list")
        if ann.get("iscrowd", 0):
            crowd += 1
            continue
        n, c = position[image_id], category[category_id]
        bbox = _field(ann, "bbox", list, where)
        if len(bbox) != 4:
            raise LabelspaceError(f"{where}: bbox {bbox!r:.60} has {len(bbox)} numbers (expected [x, y, width, height])")
        x, y, w, h = (number(v, f"{where} bbox entry") for v in bbox)
        box = check_box((x, y, x + w, y + h), *sizes[n], where)
        multi_hot[n, c] = True
        if min(box[2] - box[0], box[3] - box[1]) >= min_size:
            object_image.append(n)
            boxes.extend(box)
            targets.append(c)
    del data
    missing_images(image_paths, str(path))
    object_image, targets = np.frombuffer(object_image, np.int64), np.frombuffer(targets, np.int64)
    order = np.argsort(object_image, kind="stable")  # group each image's objects
    boxes = np.frombuffer(boxes, np.float64).reshape(-1, 4)[order]
    object_image, targets = object_image[order], targets[order]
    if view == "images":
        dataset = MultiLabelSet(f"coco:{path},images={folder},view=images", image_paths, multi_hot, class_names)
    else:
        dataset = ObjectCrops(f"coco:{path},images={folder},view=crops,min_size={min_size:g},margin={margin:g}",
                              image_paths, object_image, boxes, targets, class_names, margin)
    dataset.crowd_skipped = crowd
    return dataset


def coco_spec(spec: str, arg: str):
    """``coco:<json>[,option=value...]`` -> ``coco(...)`` (see the module docstring)."""
    options = SpecOptions(spec, arg)
    kwargs = dict(images=options.get("images", None), view=options.get("view", "crops", str, VIEWS),
                  min_size=options.get("min_size", 0.0, float), margin=options.get("margin", 0.0, float))
    options.done()
    return coco(options.path, **kwargs)
