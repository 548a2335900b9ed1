"""The analysis figures with real dataset specs: short names in titles and labels, no text overlapping or cut off."""
from itertools import combinations

import numpy as np
import pytest

from labelspace.analysis import plots
from labelspace.analysis.pipeline import run_analysis
from labelspace.analysis.presets import load_preset
from labelspace.analysis.report import write_figures
from labelspace.analysis.representations import ClassRepresentations, vision_representations
from labelspace.data import Features

DEEP = "/tmp/pytest-of-someone/pytest-1234/test_analyze_pascal_vs_coco_in0"
VOC, COCO = f"voc:{DEEP}/voc/VOCdevkit/VOC2012", f"coco:{DEEP}/coco/annotations/instances_val2017.json"


@pytest.mark.parametrize("spec,short", [
    (VOC, "voc:VOC2012"), (COCO, "coco:instances_val2017.json"), ("fashion-mnist:test@10", "fashion-mnist:test@10"),
    ("voc:/data/VOC2007@5", "voc:VOC2007@5"), (f"run:{DEEP}/clip (text)", "run:clip (text)"),
    ("open_clip:ViT-B-32/openai", "open_clip:ViT-B-32/openai"), ("hf:openai/clip-vit-base-patch32",
                                                                 "hf:openai/clip-vit-base-patch32"),
    ("efficientnet-lite0", "efficientnet-lite0"), (f"file:{DEEP}/model.safetensors (image)", "file:model.safetensors (image)"),
])
def test_short_spec_cuts_paths_only(spec, short):
    assert plots.short_spec(spec) == short


def seed_study():
    """The seed's study in shape: two CNNs on VOC and COCO crops of the 20 VOC classes, and a word model."""
    names = load_preset("voc").classes
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 16)) + 1.0  # features of one sign, as ReLU gives
    targets = np.repeat(np.arange(20), 3)
    reps = []
    for model in ("efficientnet-lite0", "efficientnet-lite1"):
        for domain in (VOC, COCO):
            rows = centres[targets] + 0.5 * rng.standard_normal((60, 16))
            reps.append(vision_representations(Features(rows.astype(np.float32), targets, np.arange(60), names, 0),
                                               model, domain))
    reps.append(ClassRepresentations(names, rng.standard_normal((20, 8)).astype(np.float32), "glove-6b-50d", "language"))
    return run_analysis(reps, permutations=9, bootstrap=0)


def texts(fig):
    """(what, text artist) of every title, axis label and drawn tick label; MDS class names as ("name", ...)."""
    found = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        found += [("title", ax.title), ("label", ax.xaxis.label), ("label", ax.yaxis.label)]
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            found += [("tick", t.label1) for t in axis.get_major_ticks() if low - 1e-9 <= t.get_loc() <= high + 1e-9]
        found += [("name", t) for t in ax.texts]
    return [(what, t) for what, t in found if t.get_visible() and t.get_text()]


def test_figures_of_the_seed_study_name_short_specs_and_no_text_overlaps(tmp_path, monkeypatch):
    figures, save = {}, plots._save

    def keep(fig, path):
        figures[path.name] = fig
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    write_figures(seed_study(), tmp_path)
    assert sorted(figures) == ["heatmaps.png", "mds.png", "scatter.png"]
    heat = figures["heatmaps.png"]
    assert heat.axes[0].get_title() == "efficientnet-lite0\non voc:VOC2012\nmean off-diagonal 0.43"
    assert figures["scatter.png"].axes[0].get_xlabel() == "efficientnet-lite0\non voc:VOC2012"
    assert figures["mds.png"].axes[1].get_title() == "efficientnet-lite0\non coco:instances_val2017.json"
    for name, fig in figures.items():
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        page = fig.bbox
        found = texts(fig)
        boxes = [(what, t.get_text(), t.get_window_extent(renderer)) for what, t in found]
        assert len(boxes) > 20
        for what, text, box in boxes:
            assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, (name, text)
        fixed = [b for b in boxes if b[0] != "name"]  # class names on an MDS map may sit on each other's points
        clashes = [(a[1], b[1]) for a, b in combinations(fixed, 2) if a[2].overlaps(b[2])]
        assert not clashes, (name, clashes[:3])
        for ax in fig.axes:  # and stay inside their own map
            for t in ax.texts:
                box = t.get_window_extent(renderer)
                assert ax.bbox.x0 <= box.x0 and box.x1 <= ax.bbox.x1, (name, t.get_text())
