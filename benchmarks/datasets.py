"""Object crops per second and peak memory: labelspace's VOC and COCO readers vs a plain PIL loop.

For each object count (default 2,500, 5,000 and 10,000; four objects per 96x72 JPEG) a VOC and a
COCO fixture are written in their real formats (tests/dataset_fixtures.py). Each measurement runs in
its own process, so its peak resident memory (ru_maxrss) is its own: reported as the growth over the
process after imports. labelspace: ``load_dataset("voc:..."|"coco:...")`` then ``load(i)`` for every
crop. Plain loop: parse each annotation (ElementTree / json), open each image with PIL, cut each box.
Neither keeps the crops; memory should stay flat as the object count grows. Each pair is run
``--rounds`` times interleaved (best rate, highest peak), as the shared machine is noisy.

    PYTHONPATH=src python benchmarks/datasets.py [--objects 2500,5000,10000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def write_sets(folder: Path, objects: int) -> tuple[Path, Path]:
    import numpy as np
    from dataset_fixtures import COCO_NAMES, VOC_NAMES, write_coco, write_voc

    rng = np.random.default_rng(objects)
    voc_images, coco_images = {}, []
    for n in range(objects // 4):
        boxes = []
        for _ in range(4):
            w, h = (int(v) for v in rng.integers(12, 40, size=2))
            x, y = int(rng.integers(0, 96 - w)), int(rng.integers(0, 72 - h))
            boxes.append((int(rng.integers(0, 20)), x, y, w, h))
        voc_images[f"{n:06d}"] = ((96, 72), [(VOC_NAMES[c], (x, y, x + w, y + h), False, False) for c, x, y, w, h in boxes])
        coco_images.append(((96, 72), [(c + 1, [x, y, w, h], False) for c, x, y, w, h in boxes]))
    voc = write_voc(folder / "voc", voc_images, {"val": list(voc_images)})
    coco = write_coco(folder / "coco", coco_images, [(c + 1, COCO_NAMES[c]) for c in range(20)])
    return voc, coco


def plain_voc(voc: Path) -> int:
    import xml.etree.ElementTree as ET

    from PIL import Image

    count = 0
    for image_id in (voc / "ImageSets" / "Main" / "val.txt").read_text().split():
        tree = ET.parse(voc / "Annotations" / f"{image_id}.xml").getroot()
        with Image.open(voc / "JPEGImages" / tree.findtext("filename")) as image:
            image = image.convert("RGB")
            for obj in tree.iter("object"):
                b = obj.find("bndbox")
                box = [int(b.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax")]
                image.crop((box[0] - 1, box[1] - 1, box[2], box[3])).load()
                count += 1
    return count


def plain_coco(path: Path) -> int:
    from PIL import Image

    data = json.loads(path.read_text())
    by_image: dict[int, list] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann["bbox"])
    count = 0
    for img in data["images"]:
        with Image.open(path.parent.parent / "val2017" / img["file_name"]) as image:
            image = image.convert("RGB")
            for x, y, w, h in by_image.get(img["id"], []):
                image.crop((int(x), int(y), int(x + w), int(y + h))).load()
                count += 1
    return count


def labelspace_crops(spec: str) -> int:
    from labelspace.data import load_dataset

    dataset = load_dataset(spec)
    for i in range(len(dataset)):
        dataset.load(i).load()
    return len(dataset)


def measure(kind: str, path: str) -> None:
    """Child process: one timed pass; prints JSON {crops, seconds, peak_mib}."""
    import PIL.Image  # noqa: F401  (imports before the baseline)
    import numpy  # noqa: F401

    import labelspace.data  # noqa: F401

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    runs = {"voc": lambda: labelspace_crops(f"voc:{path}"), "coco": lambda: labelspace_crops(f"coco:{path}"),
            "plain-voc": lambda: plain_voc(Path(path)), "plain-coco": lambda: plain_coco(Path(path))}
    crops = runs[kind]()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"crops": crops, "seconds": seconds, "peak_mib": (peak - base) / 1024}))


def child(kind: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1",
                                          "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", default="2500,5000,10000")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs; best rate, highest peak")
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        measure(*args.child)
        return
    from labelspace.io import markdown_table

    header = ["objects", "set", "labelspace crops/s", "plain PIL crops/s", "speed ratio", "labelspace peak MiB",
              "plain peak MiB"]
    for line in markdown_table(header, measured_rows(args.objects, args.rounds)):
        print(line, flush=True)


def measured_rows(objects_list: str, rounds: int):
    """One table row per (object count, set), measured when asked for."""
    with tempfile.TemporaryDirectory() as tmp:
        for objects in (int(x) for x in objects_list.split(",")):
            voc, coco = write_sets(Path(tmp) / str(objects), objects)
            for name, path in (("voc", voc), ("coco", coco)):
                runs = [(child(name, path), child(f"plain-{name}", path)) for _ in range(rounds)]  # interleaved
                assert all(o["crops"] == p["crops"] == objects for o, p in runs), runs
                rate = max(o["crops"] / o["seconds"] for o, _ in runs)
                plain_rate = max(p["crops"] / p["seconds"] for _, p in runs)
                peak, plain_peak = max(o["peak_mib"] for o, _ in runs), max(p["peak_mib"] for _, p in runs)
                yield [objects, name, f"{rate:.0f}", f"{plain_rate:.0f}", f"{rate / plain_rate:.2f}", f"{peak:.1f}",
                       f"{plain_peak:.1f}"]

if __name__ == "__main__":
    main()
