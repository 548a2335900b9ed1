"""The seed's comparisons in one run: vision vs vision, language vs language, vision vs language,
each against WordNet, and one vision model across domains.

``run_analysis`` takes ready class representations (any mix, built with ``vision_representations``,
``head_representations``, ``text_representations`` and ``wordnet_representations``) and decides which
pairs to compare from their descriptors:

- vision-vision: two image models on the same domain;
- language-language: every pair of text models;
- vision-language: every (image model, domain) against every text model;
- vision-wordnet, language-wordnet: every image and every text representation against WordNet's;
- across-domains: one image model on its first domain against each of its other domains.

``analyze`` is the whole pipeline from dataset and model specs: it applies a class preset, makes
shifted domains, extracts (cached) features and writes the report when given ``out_dir``.
``analyze_classes`` needs no images: over a WordNet label set it takes the networks' classifier rows,
the text models' synset vectors and, with ``wordnet=True``, WordNet's Wu-Palmer similarity.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from labelspace.analysis.domains import shifted
from labelspace.analysis.presets import apply_preset, load_preset
from labelspace.analysis.representations import (
    CLIP_TEMPLATES, ClassRepresentations, align_classes, head_representations, side_name, text_representations,
    vision_representations, wordnet_groups, wordnet_representations,
)
from labelspace.analysis.similarity import Comparison, SimilarityMatrix, bootstrap_triangles, compare, cosine_similarity
from labelspace.data import extract_features, load_dataset
from labelspace.data.datasets import ImageDataset
from labelspace.encoders import load_image_encoder, load_text_encoder
from labelspace.errors import LabelspaceError
from labelspace.models import ImageTextModel, is_clip_spec, load_clip
from labelspace.registry import CLIP_MODELS, IMAGE_ENCODERS, TEXT_ENCODERS
from labelspace.vocab import LabelSet, label_set


@dataclass
class Analysis:
    """Everything a notebook needs: class names, representations, matrices and comparisons."""

    class_names: list[str]
    representations: list[ClassRepresentations]
    matrices: list[SimilarityMatrix]
    comparisons: list[Comparison]
    settings: dict = field(default_factory=dict)
    report: Path | None = None
    class_groups: list[str] | None = None  # a group name per class, colouring the MDS maps

    def matrix(self, label: str) -> SimilarityMatrix:
        return next(m for m in self.matrices if m.label == label)


def comparison_pairs(reps: Sequence[ClassRepresentations]) -> list[tuple[str, int, int]]:
    """(kind, i, j) for every pair of representations the seed compares."""
    vision, language, wordnet = ([i for i, r in enumerate(reps) if r.modality == m] for m in ("vision", "language",
                                                                                            "wordnet"))
    pairs = [("vision-vision", i, j) for i, j in combinations(vision, 2) if reps[i].domain == reps[j].domain]
    pairs += [("language-language", i, j) for i, j in combinations(language, 2)]
    pairs += [("vision-language", i, j) for i in vision for j in language]
    pairs += [(f"{reps[i].modality}-wordnet", i, j) for i in vision + language for j in wordnet]
    for model in dict.fromkeys(reps[i].model for i in vision):
        same = [i for i in vision if reps[i].model == model]
        pairs += [("across-domains", same[0], j) for j in same[1:]]
    return pairs


def run_analysis(reps: Sequence[ClassRepresentations], permutations: int = 999, bootstrap: int = 200, seed: int = 0,
                 level: float = 0.95) -> Analysis:
    """Similarity matrices of ``reps`` and all the seed's comparisons between them."""
    if len(reps) < 2:
        raise LabelspaceError(f"need at least two class representations to compare, got {len(reps)}")
    labels = [r.label for r in reps]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise LabelspaceError(f"representations named twice: {', '.join(twice)} (give their domains different names)")
    for rep in reps[1:]:
        align_classes(reps[0].class_names, rep.class_names, reps[0].label, rep.label)
    matrices = [cosine_similarity(r) for r in reps]
    boots = [bootstrap_triangles(r, bootstrap, seed) if bootstrap else None for r in reps]
    comparisons = [compare(matrices[i], matrices[j], kind, permutations, seed, boots[i], boots[j], level)
                   for kind, i, j in comparison_pairs(reps)]
    settings = {"permutations": permutations, "bootstrap": bootstrap, "seed": seed, "level": level}
    return Analysis(list(reps[0].class_names), list(reps), matrices, comparisons, settings)


def load_model(spec, side: str, checkpoint: str | None = None, device="cpu", precision: str = "fp32"):
    """The ``side`` ("image" or "text") model behind ``spec``: an image or text encoder entry, or any CLIP model
    (``is_clip_spec``), which serves either side; an object is taken as it is."""
    if not isinstance(spec, str):
        return spec
    encoders = IMAGE_ENCODERS if side == "image" else TEXT_ENCODERS
    if encoders.names(spec):
        return load_image_encoder(spec, checkpoint, device=device, precision=precision) if side == "image" \
            else load_text_encoder(spec, device)
    if not is_clip_spec(spec):
        raise LabelspaceError(f"unknown {encoders.kind} {spec!r} (accepted: {encoders.accepted()}; or a CLIP model: "
                              f"{CLIP_MODELS.accepted()})")
    if checkpoint is not None:
        raise LabelspaceError(f"--checkpoint applies to timm:<name> image models; CLIP model {spec!r} names its weights")
    return load_clip(spec, device, precision)


def clip_sources(reps: Sequence[ClassRepresentations], encoders: Sequence, templates) -> dict[str, str]:
    """What each CLIP side's class vectors are, for the report."""
    prompts = templates or CLIP_TEMPLATES
    prompts = f"set {prompts!r}" if isinstance(prompts, str) and "{}" not in prompts else repr(prompts)
    described = {"image": "mean image embedding of each class",
                 "text": f"prompt-ensembled label embeddings (its zero-shot classifier weights), templates {prompts}"}
    clip = {side_name(e, side): described[side] for e in encoders if isinstance(e, ImageTextModel)
            for side in described}
    return {r.label: clip[r.model] for r in reps if r.model in clip}


def _check_checkpoint(checkpoint: str | None, image_models: Sequence) -> None:
    if checkpoint is not None and len(image_models) != 1:
        raise LabelspaceError(f"--checkpoint goes with exactly one --image-model (a timm:<name>), got {len(image_models)}")


def _reported(result: Analysis, out_dir: str | Path | None) -> Analysis:
    """``result`` with its report written into ``out_dir`` when one is given."""
    if out_dir is not None:
        from labelspace.analysis.report import write_report

        result.report = write_report(result, out_dir)
    return result


def _load(dataset: str | ImageDataset, root: str | None) -> tuple[str, ImageDataset]:
    return (dataset, load_dataset(dataset, root)) if isinstance(dataset, str) else (dataset.name, dataset)


def analyze(datasets: Sequence[str | ImageDataset], image_models: Sequence, text_models: Sequence = (),
            preset: str | None = None, shifts: Sequence[str] = (), normalize: bool = False,
            templates: Sequence[str] | None = None, permutations: int = 999, bootstrap: int = 200, seed: int = 0,
            out_dir: str | Path | None = None, root: str | None = None, progress: bool = True,
            checkpoint: str | None = None, device="cpu", precision: str = "fp32", workers: int | None = None,
            preprocess: str = "auto") -> Analysis:
    """Run every image model on every dataset (and on ``shifts`` of the first), every text model on the
    class names, and compare them all; write ``out_dir/report.md`` with figures when ``out_dir`` is given.

    Datasets and models are spec strings or objects (an image encoder; anything with
    ``.encode(labels)`` as a text model). Datasets must share class names (after ``preset``). ``checkpoint``
    holds local weights for the one image model (a ``timm:<name>`` spec). Models given as specs load on
    ``device`` in ``precision``; ``workers`` decode images, resized and
    normalised where ``preprocess`` says (auto, cpu, device).
    """
    if not datasets or not (image_models or text_models):
        raise LabelspaceError("analyze needs at least one dataset (or --classes) and at least one image or text model")
    _check_checkpoint(checkpoint, image_models)
    domains = dict(_load(d, root) for d in datasets)
    if preset:
        chosen = load_preset(preset)
        domains = {name: apply_preset(d, chosen) for name, d in domains.items()}
    first_name, first = next(iter(domains.items()))
    for kind in shifts:
        domains[kind] = shifted(first, kind, seed)
    for name, dataset in domains.items():
        align_classes(first.class_names, dataset.class_names, f"dataset {first_name}", f"dataset {name}")
        empty = [c for c, n in zip(dataset.class_names, np.bincount(dataset.targets, minlength=len(dataset.class_names)))
                 if n == 0]
        if empty:
            raise LabelspaceError(f"dataset {name!r} has no images of class(es) {', '.join(empty)}")
    reps, used = [], {name: f"{d.name} ({len(d)} images)" for name, d in domains.items()}
    image_encoders = [load_model(spec, "image", checkpoint, device, precision) for spec in image_models]
    text_encoders = [load_model(spec, "text", device=device, precision=precision) for spec in text_models]
    for encoder in image_encoders:
        for name, dataset in domains.items():
            features = extract_features(encoder, dataset, progress=progress, workers=workers, preprocess=preprocess)
            if features.skipped:  # the same files fail for every image model
                used[name] = (f"{dataset.name} ({len(features.targets)} images used, {features.skipped} unreadable "
                              f"skipped: {'; '.join(features.skipped_images)})")
            reps.append(vision_representations(features, side_name(encoder, "image"), name, normalize, dataset.name))
    for spec, encoder in zip(text_models, text_encoders):
        reps.append(text_representations(encoder, first.class_names, spec if isinstance(spec, str) else None,
                                         templates))
    result = run_analysis(reps, permutations, bootstrap, seed)
    result.settings.update(preset=preset, shifts=list(shifts), normalize=normalize, templates=templates,
                           datasets=used, sources=clip_sources(reps, image_encoders + text_encoders, templates))
    return _reported(result, out_dir)


SOURCES = {  # what a representation of each modality is when no images are used
    "vision": "rows of the network's ImageNet classifier weights (head.weight, bias left out): its class weights, "
              "not mean image features",
    "language": "synset vectors: the mean of the synset's unit lemma vectors (zeroshot.synset_bank)",
    "wordnet": "Wu-Palmer similarity of the synsets, depths counted as NLTK's wup_similarity counts them",
}


def analyze_classes(classes: str | LabelSet, image_models: Sequence = (), text_models: Sequence = (),
                    wordnet: bool = False, templates: Sequence[str] | None = None, permutations: int = 999,
                    seed: int = 0, out_dir: str | Path | None = None, checkpoint: str | None = None, device="cpu",
                    precision: str = "fp32") -> Analysis:
    """Compare class representations that need no images over a WordNet label set (``imagenet-1k``): each
    image model's classifier rows (``head_representations``), each text model's synset vectors and, with
    ``wordnet``, WordNet's Wu-Palmer similarity; write ``out_dir/report.md`` when given ``out_dir``.

    Models are spec strings or objects (an image encoder with an ImageNet head; a text encoder). There are no
    images to resample, so comparisons have Mantel p-values and no bootstrap intervals.
    """
    labels = label_set(classes) if isinstance(classes, str) else classes
    if len(image_models) + len(text_models) + wordnet < 2:
        raise LabelspaceError("analyze --classes needs at least two of: image models, text models, --wordnet")
    _check_checkpoint(checkpoint, image_models)
    text_encoders = [load_model(spec, "text", device=device, precision=precision) for spec in text_models]
    reps = [head_representations(load_model(spec, "image", checkpoint, device, precision), labels)
            for spec in image_models]
    reps += [text_representations(encoder, labels, spec if isinstance(spec, str) else None, templates)
             for spec, encoder in zip(text_models, text_encoders)]
    if wordnet:
        reps.append(wordnet_representations(labels))
    result = run_analysis(reps, permutations, bootstrap=0, seed=seed)
    result.settings.update(classes=labels.spec, templates=templates, sources={
        **{r.label: SOURCES[r.modality] for r in reps}, **clip_sources(reps, text_encoders, templates)})
    result.class_groups = wordnet_groups(labels)
    return _reported(result, out_dir)

