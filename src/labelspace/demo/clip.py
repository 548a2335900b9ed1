"""Demo section: CLIP zero-shot on the bundled photos, and the classifier builder's speed and cache.

No pretrained CLIP weights exist offline, so the section runs open_clip ViT-B-32 with random
(seeded) weights: its photo scores are chance by construction, but the classifier-building
speed-up over open_clip and the cached re-run are real. Set ``LABELSPACE_DEMO_CLIP`` to a CLIP
spec you have (``hf:<dir>``, a checkpoint file, ``open_clip:ViT-B-32/openai`` online) to use it.
"""
from __future__ import annotations

import os

from labelspace.api import classify
from labelspace.data import bundled_photos, fashion_mnist
from labelspace.demo.conse import PHOTO_LABELS, photo_rows
from labelspace.models import load_clip
from labelspace.zeroshot import template_set
from labelspace.demo.speed import builder_speed

RANDOM_MODEL = "open_clip:ViT-B-32"
SPEED_TEMPLATES = 20  # of the 80: keeps the section under a minute; benchmarks/zeroshot.py runs 100 x 80


def section(context) -> str:
    spec = os.environ.get("LABELSPACE_DEMO_CLIP", RANDOM_MODEL)
    model = load_clip(spec)
    random_weights = "random-init" in model.cache_key
    lines = [f"## CLIP zero-shot ({model.name}{', random weights' if random_weights else ''})\n"]
    if random_weights:
        lines.append("No pretrained CLIP weights install offline, so this section uses open_clip ViT-B-32 with random "
                     "(seeded) weights: the photo scores below are chance by construction; the speed and cache "
                     "numbers are real. Set `LABELSPACE_DEMO_CLIP=hf:<dir>` (or a checkpoint file, or "
                     "`open_clip:ViT-B-32/openai` online) to run it with weights you have.\n")

    photos = bundled_photos()
    ranked = classify(photos.paths, PHOTO_LABELS, method="clip", image_model=spec, templates="photos", top=3)
    lines += [f"### Bundled photos against {len(PHOTO_LABELS)} labels (`photos` templates)\n",
              f"`labelspace classify PHOTO --method clip --image-model {spec} --templates photos --labels ...`\n",
              "| photo | truth | top-3 (probability) |", "|---|---|---|"]
    lines += photo_rows(photos, ranked)

    classes = fashion_mnist("test", context.root).class_names
    templates = template_set("openai")[:SPEED_TEMPLATES]
    r = builder_speed(model, classes, templates, reference_classes=1)
    lines += [f"### Building a zero-shot classifier: {len(classes)} Fashion-MNIST classes x the first {len(templates)} "
              "OpenAI templates\n",
              f"Prompts are {r['mean_tokens']:.1f} tokens long on average; open_clip pads each to {r['padded_tokens']}. "
              "labelspace runs the causal text tower on the batch's real length (same weights).\n",
              "| builder | seconds | texts/s |", "|---|---|---|",
              f"| labelspace `build_classifier` | {r['ours_s']:.1f} | {r['texts'] / r['ours_s']:.0f} |",
              f"| open_clip `build_zero_shot_classifier` (run on {r['reference_classes']} class, extrapolated per text) "
              f"| {r['reference_full_s']:.1f} | {r['texts'] / r['reference_full_s']:.0f} |",
              f"| labelspace, cached re-run (from disk) | {r['disk_s']:.4f} | |",
              f"| labelspace, cached re-run (in memory) | {r['memory_s']:.6f} | |",
              f"\nSpeed-up {r['speedup']:.1f}x; largest difference from open_clip's weights {r['max_diff']:.1e}.\n"]
    return "\n".join(lines)
