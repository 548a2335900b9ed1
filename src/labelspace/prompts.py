"""Prompt templates: named sets, a custom file, or CuPL-style per-class prompts.

``templates`` may be a set name (``openai``: the 80 CLIP ImageNet templates, ``simple``: open_clip's
7, ``photo``, ``plain``, or a dataset's own set such as ``fashion-mnist`` or, as CLIP reported them,
``cifar10``, ``voc2007``, ... from ``presets/datasets/``), a ``.txt`` file with one
template per line, a ``.json`` file with a list of templates or a CuPL dict ``{class: [prompts]}``,
a list of template strings, one template string holding ``{}``, or such a dict. Templates hold ``{}`` where the class name goes.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

from labelspace.errors import LabelspaceError


def _open_clip_templates(name: str) -> list[str]:
    import open_clip

    # open_clip stores them as functions of the class name; calling them with "{}" gives the format string
    return [t("{}") for t in getattr(open_clip, name)]


DATASET_TEMPLATES = {
    "fashion-mnist": ["a photo of a {}.", "a photo of the {}, a type of clothing.", "a black and white photo of a {}.",
                      "a low resolution photo of a {}.", "a product photo of a {}."],
    "photos": ["a photo of a {}.", "a good photo of the {}.", "a close-up photo of a {}."],
}
FIXED_SETS = {"photo": ["a photo of a {}."], "plain": ["{}"], **DATASET_TEMPLATES}
NAMED_SETS = ("openai", "simple", *FIXED_SETS)


def dataset_preset(name: str) -> dict | None:
    """``presets/datasets/<name>.json`` (CLIP's class names and templates for a set), or None."""
    if not name.replace("_", "").isalnum():  # a path or anything else that cannot name a packaged set
        return None
    path = resources.files("labelspace") / "presets" / "datasets" / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def template_set(name: str) -> list[str]:
    if name == "openai":
        return _open_clip_templates("OPENAI_IMAGENET_TEMPLATES")
    if name == "simple":
        return _open_clip_templates("SIMPLE_IMAGENET_TEMPLATES")
    if name in FIXED_SETS:
        return list(FIXED_SETS[name])
    preset = dataset_preset(name)
    if preset is not None:
        return list(preset["templates"])
    raise LabelspaceError(f"unknown template set {name!r} (accepted: {', '.join(NAMED_SETS)}, a dataset's set such as "
                          "cifar10 or voc2007, a .txt or .json file)")


def _read_file(path: Path) -> list[str] | dict:
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise LabelspaceError(f"template file {str(path)!r} is not valid JSON ({e.msg} at line {e.lineno})") from e
        if isinstance(data, (list, dict)):
            return data
        raise LabelspaceError(f"template file {str(path)!r} holds a {type(data).__name__} "
                              "(expected a list of templates or a {class: [prompts]} dict)")
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def fill(template: str, name: str) -> str:
    """The one way a template becomes a prompt: ``{}`` replaced by the name, literally (never ``str.format``,
    which would read attributes and choke on other braces)."""
    return template.replace("{}", name)


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))


def class_prompts(class_names: Sequence[str], templates="openai") -> list[list[str]]:
    """The prompts of each class: templates filled with its name (duplicates dropped), or its CuPL prompts."""
    if len(class_names) == 0:
        raise LabelspaceError("the class list is empty (give at least one class name)")
    if isinstance(templates, str) and templates not in NAMED_SETS and (templates.endswith((".txt", ".json")) or Path(templates).is_file()):
        path = Path(templates)
        if not path.is_file():
            raise LabelspaceError(f"template file {templates!r} does not exist (expected .txt lines or .json)")
        templates = _read_file(path)
    elif isinstance(templates, str):
        templates = [templates] if "{}" in templates else template_set(templates)
    if isinstance(templates, Mapping):  # CuPL: prompts written per class
        missing = [c for c in class_names if not templates.get(c)]
        if missing:
            raise LabelspaceError(f"per-class prompts lack class(es) {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                                  f"({len(templates)} classes given)")
        return [_unique(str(p) for p in templates[c]) for c in class_names]
    templates = _unique(str(t) for t in templates)
    if not templates:
        raise LabelspaceError("the template list is empty (give at least one template such as 'a photo of a {}.')")
    bad = [t for t in templates if "{}" not in t]
    if bad:
        raise LabelspaceError(f"template {bad[0]!r} has no '{{}}' where the class name goes")
    return [[fill(t, c) for t in templates] for c in class_names]
