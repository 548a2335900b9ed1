"""The ``DATASETS`` entries of the readers of native formats: PASCAL VOC, COCO, ImageNet, webdataset shards,
Hugging Face ``save_to_disk`` folders and torchvision's on-disk sets. Options follow the path as
``,key=value`` (``voc:/data/VOC2012,split=val,margin=0.1``; README, Data)."""
from __future__ import annotations

from labelspace.data import coco, imagenet, vision_sets, voc, wds
from labelspace.registry import DATASETS

_READERS = {
    "voc": (voc.voc_spec, "<VOC20xx>[,options]", "PASCAL VOC from VOCdevkit: object crops (view=crops) or whole "
            "images with label sets (view=images); split, min_size, difficult, truncated, margin"),
    "coco": (coco.coco_spec, "<instances.json>[,options]", "COCO instances: object crops or whole images with "
             "label sets, names from the file, crowd boxes skipped"),
    "imagenet": (imagenet.imagenet_spec, "<dir>[,options]", "ImageNet-style synset folders (n01440764) or the "
                 "ILSVRC validation layout, names and synsets from WordNet 3.0"),
    "wds": (wds.wds_spec, "<shards>[,options]", "webdataset shards with cls or txt labels, streamed"),
    "hf": (vision_sets.hf_spec, "<saved dir>[,options]", "a Hugging Face datasets folder written by save_to_disk"),
}


def _register(name: str, read, argument: str, description: str) -> None:
    @DATASETS.register(name, argument=argument, description=description)
    def load(path_and_options: str, root: str | None = None):
        return read(f"{name}:{path_and_options}", path_and_options)


for _name, (_read, _argument, _description) in _READERS.items():
    _register(_name, _read, _argument, _description)

for _name, _set in vision_sets.TORCHVISION_SETS.items():
    _register(_name, lambda spec, arg, n=_name: vision_sets.torchvision_spec(spec, n, arg), "<root>[,options]",
              f"torchvision's {_set.cls} read from disk (never downloaded); split, classes")
