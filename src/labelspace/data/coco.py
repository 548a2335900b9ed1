"""COCO in its own layout: ``annotations/instances_<split>.json`` and the image folder ``<split>/``.

Spec ``coco:<instances JSON>[,images=<folder>][,view=crops|images][,min_size=0][,margin=0]``:
object crops (one label each, the default; grouped by image, in annotation order within one) or whole
images with their label sets; category names
come from the file (in category-id order), crowd boxes (``iscrowd=1``) are skipped. Without
``images=`` the folder is ``<split>/`` beside or above the ``annotations/`` folder. The JSON is read
whole (COCO's format allows nothing else); everything kept from it is arrays of numbers.
"""
from __future__ import annotations

import json
import os
from array import array
from pathlib import Path

import numpy as np

from labelspace.data.datasets import SpecOptions
from labelspace.data.eval_sets import MultiLabelSet
from labelspace.data.objects import ObjectCrops, check_box, missing_images
from labelspace.errors import LabelspaceError

VIEWS = ("crops", "images")


def _image_folder(annotations: Path) -> Path:
    split = annotations.stem.removeprefix("instances_")
    for candidate in (annotations.parent / split, annotations.parent.parent / split):
        if candidate.is_dir():
            return candidate
    raise LabelspaceError(f"no image folder {split}/ next to or above {str(annotations)!r} "
                          f"(give it with coco:{annotations},images=<folder>)")


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
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LabelspaceError(f"{str(path)!r} is not JSON (expected {expected})") from e
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
        found = f"keys {', '.join(sorted(data))[:80]}" if isinstance(data, dict) else f"a {type(data).__name__}"
        raise LabelspaceError(f"{str(path)!r} is not a COCO instances file (expected {expected}; found {found})")
    folder = Path(images) if images else _image_folder(path)
    categories = sorted(data["categories"], key=lambda c: c["id"])
    class_names = [c["name"] for c in categories]
    category = {c["id"]: i for i, c in enumerate(categories)}
    position = {img["id"]: n for n, img in enumerate(data["images"])}
    sizes = np.array([(img["width"], img["height"]) for img in data["images"]], dtype=np.float64).reshape(-1, 2)
    image_paths = [os.path.join(folder, img["file_name"]) for img in data["images"]]
    multi_hot = np.zeros((len(image_paths), len(class_names)), dtype=bool)
    object_image, boxes, targets, crowd = array("q"), array("d"), array("q"), 0
    for ann in data["annotations"]:
        where = f"{path} annotation {ann.get('id')}"
        if ann["image_id"] not in position:
            raise LabelspaceError(f"{where} names image id {ann['image_id']}, which the file does not list")
        if ann["category_id"] not in category:
            raise LabelspaceError(f"{where} names category id {ann['category_id']}, which the file does not list")
        if ann.get("iscrowd", 0):
            crowd += 1
            continue
        n, c = position[ann["image_id"]], category[ann["category_id"]]
        x, y, w, h = ann["bbox"]
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
