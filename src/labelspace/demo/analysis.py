"""Demo section: do the seed's findings on class representations hold on Fashion-MNIST?

Three EfficientNet-Lite models on a small clean test subset, EfficientNet-Lite0 also on shifted
copies of it, GloVe and MiniLM on the class names; every comparison of the seed in one run.
Lite0's clean features are rows of the ConSE section's cached subset (``per_class(n)`` of a
seeded order is contained in ``per_class(m)`` for m >= n), so only lite1, lite2 and the shifted
domains are encoded here.
"""
from __future__ import annotations

import numpy as np

from labelspace.analysis.domains import shifted
from labelspace.analysis.pipeline import run_analysis
from labelspace.analysis.report import comparison_table, summary_table, write_report
from labelspace.analysis.representations import text_representations, vision_representations
from labelspace.encoders import load_image_encoder
from labelspace.data import Features, extract_features, fashion_mnist
from labelspace.encoders import load_text_encoder

PER_CLASS = 10
SHIFTS = ("inverted", "noisy")
IMAGE_MODELS = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
TEXT_MODELS = ("glove-6b-50d", "minilm")


def _rows_of(features: Features, superset, subset) -> Features:
    """The rows of ``features`` (of ``superset``) that belong to ``subset``, a subset of the same parent."""
    rows = np.searchsorted(superset.indices[features.indices], subset.indices)
    assert np.array_equal(superset.indices[features.indices[rows]], subset.indices)
    return Features(np.asarray(features.features[rows]), features.targets[rows], np.arange(len(rows)),
                    features.class_names, 0, features.cached)


def _verdict(holds: bool) -> str:
    return "**holds**" if holds else "**does not hold**"


def findings(analysis) -> list[str]:
    """The seed's four claims, each judged by a stated rule on the measured numbers."""
    by_kind = {}
    for c in analysis.comparisons:
        by_kind.setdefault(c.kind, []).append(c)
    means = {m.label: m.summary().mean for m in analysis.matrices}
    clean_vision = [m for m in analysis.matrices if m.modality == "vision" and m.domain == "clean"]
    language = [m for m in analysis.matrices if m.modality == "language"]
    vv, ll = by_kind["vision-vision"], by_kind["language-language"]
    shifts = by_kind["across-domains"]
    domain = {m.label: m.domain for m in analysis.matrices}
    min_vv, vl = min(c.pearson for c in vv), by_kind["vision-language"]
    vl_clean = [c.pearson for c in vl if domain[c.a] == "clean"]
    v_means, l_means = [means[m.label] for m in clean_vision], [means[m.label] for m in language]
    moved = {domain[c.b]: c.pearson_ci[1] < min_vv for c in shifts}
    fmt = ", ".join
    lite0 = [c for c in vl if analysis.matrix(c.a).model == IMAGE_MODELS[0]]
    return [
        "### Do the seed's findings hold here?\n",
        f"1. *Vision models on one domain show the same pattern and a high mean similarity* "
        f"{_verdict(min_vv >= 0.8 and min(v_means) > max(l_means))} (rule: every vision-vision Pearson r >= 0.8 and "
        f"every vision mean above every language mean): vision-vision r = {fmt(f'{c.pearson:.3f}' for c in vv)}; "
        f"mean off-diagonal similarity {fmt(f'{v:.3f}' for v in v_means)} (vision) vs "
        f"{fmt(f'{v:.3f}' for v in l_means)} (language).",
        f"2. *Language models share a similar pattern with a lower mean similarity* "
        f"{_verdict(all(c.mantel_p < 0.05 for c in ll) and max(l_means) < min(v_means))} (rule: Mantel p < 0.05 "
        f"between the text models and their means below the vision means): language-language r = "
        f"{fmt(f'{c.pearson:.3f} (p = {c.mantel_p:.4f})' for c in ll)}.",
        f"3. *A gap between vision and language* {_verdict(max(vl_clean) < min_vv)} (rule: every clean vision-language r "
        f"below every vision-vision r): vision-language r from "
        f"{min(vl_clean):.3f} to {max(vl_clean):.3f} against vision-vision "
        f"r >= {min_vv:.3f}.",
        "4. *Domain shift changes the vision representations* "
        + fmt(f"{_verdict(holds)} for {kind}" for kind, holds in moved.items())
        + " (rule: the upper end of the interval of Lite0's clean-vs-shifted r lies below every vision-vision r on "
        "the clean domain, i.e. the shift moves the class relations more than changing the network does): "
        + fmt(f"{domain[c.b]} r = {c.pearson:.3f} [{c.pearson_ci[0]:.3f}, {c.pearson_ci[1]:.3f}]"
              for c in shifts)
        + ". Lite0's agreement with the text models per domain: "
        + fmt(f"{domain[c.a]}-{c.b} r = {c.pearson:.3f}" for c in lite0) + ".",
    ]


def section(context) -> str:
    test = fashion_mnist("test", context.root)
    cached, small = test.per_class(max(context.per_class, PER_CLASS)), test.per_class(PER_CLASS)
    reps = []
    for model in IMAGE_MODELS:
        encoder = load_image_encoder(model)
        if model == IMAGE_MODELS[0]:
            clean = _rows_of(extract_features(encoder, cached, progress=False), cached, small)
            reps.append(vision_representations(clean, model, "clean", dataset=small.name))
            for kind in SHIFTS:
                domain = shifted(small, kind)
                reps.append(vision_representations(extract_features(encoder, domain, progress=False), model, kind,
                                                   dataset=domain.name))
        else:
            reps.append(vision_representations(extract_features(encoder, small, progress=False), model, "clean",
                                               dataset=small.name))
    reps += [text_representations(load_text_encoder(m), test.class_names, m) for m in TEXT_MODELS]
    analysis = run_analysis(reps, permutations=999, bootstrap=200, seed=0)
    analysis.settings["datasets"] = {"clean": f"{small.name} ({len(small)} images)",
                                     **{k: f"{small.name}+{k} ({len(small)} images)" for k in SHIFTS}}
    write_report(analysis, context.out_dir / "analysis", "Class-representation analysis on Fashion-MNIST")
    return "\n".join([
        "## Class-representation analysis (seed: are class relations alike in vision and language?)\n",
        f"Fashion-MNIST test, {PER_CLASS} images per class ({len(small)} images, `per_class({PER_CLASS}, seed=0)`; "
        f"Lite0's features are the matching rows of the ConSE section's cached subset). Domains: clean and "
        f"{', '.join(SHIFTS)} (255 - x; Gaussian pixel noise, sigma 40) copies of the same images, encoded by "
        f"Lite0 only. Class vectors: mean of the 1280-d pooled features per class; text: the class names. "
        "Intervals: 200 bootstrap resamples of images within classes (paired across models and domains); "
        "Mantel p from 999 permutations. Full report: [analysis/report.md](analysis/report.md).\n",
        *summary_table(analysis), "", *comparison_table(analysis), "", *findings(analysis), "",
        "![similarity matrices](analysis/heatmaps.png)\n", "![MDS maps](analysis/mds.png)\n",
    ])
