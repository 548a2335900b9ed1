"""Small datasets written in their real on-disk formats, for the reader tests and benchmarks/datasets.py.

Each object is painted as a solid box in its class's colour on a grey, noisy background, so a crop
can be checked by its colour as well as by its size.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

VOC_NAMES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
             "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]
COCO_NAMES = ["airplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "dining table",
              "dog", "horse", "motorcycle", "person", "potted plant", "sheep", "couch", "train", "tv"]


def colour(c: int) -> tuple[int, int, int]:
    """A distinct colour per class index."""
    rng = np.random.default_rng(1000 + c)
    return tuple(int(v) for v in rng.integers(30, 226, size=3))


def paint(size: tuple[int, int], boxes, seed: int) -> Image.Image:
    """A ``size`` (w, h) image with each (x0, y0, x1, y1, class) box (0-based, exclusive) filled with its colour."""
    w, h = size
    pixels = np.random.default_rng(seed).integers(110, 146, size=(h, w, 3)).astype(np.uint8)
    for x0, y0, x1, y1, c in boxes:
        pixels[y0:y1, x0:x1] = colour(c)
    return Image.fromarray(pixels)


def write_voc(root: Path, images: dict, splits: dict[str, list[str]], year: str = "2012") -> Path:
    """``VOCdevkit/VOC<year>`` under ``root``. ``images``: id -> ((w, h), [(name, (x0, y0, x1, y1) 0-based exclusive,
    difficult, truncated), ...]); boxes are written 1-based inclusive, as VOC stores them."""
    voc = Path(root) / "VOCdevkit" / f"VOC{year}"
    for sub in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    for n, (image_id, (size, objects)) in enumerate(images.items()):
        boxes = [(*box, VOC_NAMES.index(name) if name in VOC_NAMES else 0) for name, box, *_ in objects]
        paint(size, boxes, n).save(voc / "JPEGImages" / f"{image_id}.jpg", quality=95)
        parts = [f"<annotation><folder>VOC{year}</folder><filename>{image_id}.jpg</filename>",
                 f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"]
        for name, (x0, y0, x1, y1), difficult, truncated in objects:
            parts.append(f"<object><name>{name}</name><pose>Unspecified</pose><truncated>{int(truncated)}</truncated>"
                         f"<difficult>{int(difficult)}</difficult><bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin>"
                         f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>")
        parts.append("</annotation>")
        (voc / "Annotations" / f"{image_id}.xml").write_text("\n".join(parts))
    for split, ids in splits.items():
        (voc / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    return voc


def write_coco(root: Path, images: list, categories: list[tuple[int, str]], split: str = "val2017") -> Path:
    """``annotations/instances_<split>.json`` and ``<split>/`` under ``root``. ``images``: [((w, h), [(category id,
    [x, y, w, h], iscrowd), ...]), ...]; image ids are 1, 2, ... and annotation ids 1, 2, ..."""
    root = Path(root)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / split).mkdir(parents=True, exist_ok=True)
    order = [cid for cid, _ in categories]
    data = {"info": {"description": "fixture"}, "images": [], "annotations": [],
            "categories": [{"id": cid, "name": name, "supercategory": "thing"} for cid, name in categories]}
    for n, (size, objects) in enumerate(images):
        file_name = f"{n + 1:012d}.jpg"
        boxes = [(int(x), int(y), int(x + w), int(y + h), order.index(cid)) for cid, (x, y, w, h), _ in objects]
        paint(size, boxes, n).save(root / split / file_name, quality=95)
        data["images"].append({"id": n + 1, "file_name": file_name, "width": size[0], "height": size[1]})
        for cid, bbox, crowd in objects:
            data["annotations"].append({"id": len(data["annotations"]) + 1, "image_id": n + 1, "category_id": cid,
                                        "bbox": list(bbox), "area": bbox[2] * bbox[3], "iscrowd": int(crowd),
                                        "segmentation": []})
    path = root / "annotations" / f"instances_{split}.json"
    path.write_text(json.dumps(data))
    return path


def study_sets(root: Path, per_class: int = 3, size: int = 48, seed: int = 0) -> tuple[Path, Path]:
    """A VOC and a COCO fixture with ``per_class`` objects of each of the 20 VOC classes (COCO under its own
    names and category ids), one or two objects per image: the seed's PASCAL-vs-COCO study in miniature."""
    rng = np.random.default_rng(seed)
    voc_images, coco_images = {}, []
    for k in range(per_class):
        for c in range(20):
            s = int(rng.integers(14, 24))
            x, y = int(rng.integers(0, size - s)), int(rng.integers(0, size - s))
            voc_images[f"2008_{k:02d}{c:04d}"] = ((size, size), [(VOC_NAMES[c], (x, y, x + s, y + s), False, False)])
            coco_images.append(((size, size), [(c + 1 + (c >= 10) * 3, [x, y, s, s], False)]))
    voc = write_voc(Path(root) / "voc", voc_images, {"val": list(voc_images)})
    coco = write_coco(Path(root) / "coco", coco_images, [(c + 1 + (c >= 10) * 3, COCO_NAMES[c]) for c in range(20)])
    return voc, coco


def write_cifar10(root: Path, train: np.ndarray, train_labels, test: np.ndarray, test_labels,
                  names: list[str]) -> dict[str, str]:
    """``cifar-10-batches-py`` as the CIFAR authors pickled it: five data batches, a test batch and batches.meta.
    Images are (N, 32, 32, 3) uint8; returns each file's md5 (torchvision checks them)."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    chunks = np.array_split(np.arange(len(train)), 5)
    batches = {f"data_batch_{i + 1}": (train[idx], np.asarray(train_labels)[idx]) for i, idx in enumerate(chunks)}
    batches["test_batch"] = (test, np.asarray(test_labels))
    for name, (images, labels) in batches.items():
        entry = {"batch_label": name, "labels": [int(x) for x in labels],
                 "data": images.transpose(0, 3, 1, 2).reshape(len(images), 3072),
                 "filenames": [f"{name}_{i}.png" for i in range(len(images))]}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names, "num_cases_per_batch": len(chunks[0]), "num_vis": 3072}, f, protocol=2)
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def write_shards(folder: Path, samples: list[tuple[Image.Image, str, object]], per_shard: int) -> str:
    """Webdataset tar shards via webdataset's own TarWriter; ``samples`` are (image, label kind, label)."""
    import webdataset as wds

    folder.mkdir(parents=True, exist_ok=True)
    n_shards = (len(samples) + per_shard - 1) // per_shard
    for s in range(n_shards):
        with wds.TarWriter(str(folder / f"shard-{s:03d}.tar")) as sink:
            for i in range(s * per_shard, min((s + 1) * per_shard, len(samples))):
                image, kind, label = samples[i]
                sink.write({"__key__": f"sample{i:05d}", "png": image, kind: label})
    return str(folder / f"shard-{{000..{n_shards - 1:03d}}}.tar")
