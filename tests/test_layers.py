"""The package layers the README's layout table promises, checked on every import (function-level ones too)."""
import ast
from pathlib import Path

import pytest

import labelspace

ROOT = Path(labelspace.__file__).parent
# bottom to top; an import may go down or stay inside its own unit, never up or sideways
LAYERS = [
    {"errors"},
    {"io", "numeric", "cache", "distributed", "devices", "registry", "prompts", "notes", "finite", "hub", "words"},
    {"metrics"},
    {"vocab"},
    {"data", "encoders"},
    {"training"},
    {"models"},
    {"zeroshot"},
    {"methods"},
    {"evaluation", "analysis"},
    {"api"},
    {"serve", "demo"},
    {"cli"},
]
LEVEL = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def imports(path: Path):
    """(line, unit) for every ``labelspace.<unit>`` a module imports."""
    package = ["labelspace", *path.relative_to(ROOT).parts[:-1]]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names = [f"{module}.{a.name}" for a in node.names] if module == "labelspace" else [module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "labelspace" and len(parts) > 1:
                yield node.lineno, parts[1]


def unit(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


MODULES = sorted(p for p in ROOT.rglob("*.py") if unit(p) not in ("__init__", "__main__"))


def test_every_unit_has_a_layer():
    assert {unit(p) for p in MODULES} <= set(LEVEL)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_go_down(path):
    source = unit(path)
    wrong = [(line, target) for line, target in imports(path)
             if target != source and target in LEVEL and LEVEL[target] >= LEVEL[source]]
    assert not wrong, f"{path.relative_to(ROOT)} imports upward or sideways: {wrong}"


@pytest.mark.parametrize("old", sorted(labelspace.MOVED))
def test_a_moved_module_names_its_new_home(old):
    import importlib

    with pytest.raises(ModuleNotFoundError, match=f"^{old} moved to {labelspace.MOVED[old]}$"):
        importlib.import_module(old)
    importlib.import_module(labelspace.MOVED[old])


@pytest.mark.parametrize("old,new", [("labelspace.hub.quiet_downloads", "labelspace.notes.quiet"),
                                     ("labelspace.data.captions.PairList", "labelspace.data.pairs.CaptionSet"),
                                     ("labelspace.data.objects.LabelSets", "labelspace.data.eval_sets.MultiLabelSet")])
def test_a_moved_name_names_its_new_home(old, new):
    import importlib

    module, _, name = old.rpartition(".")
    with pytest.raises(AttributeError, match=f"^{old} moved: use {new}") as error:
        getattr(importlib.import_module(module), name)
    assert "\n" not in str(error.value)
    home, _, attr = new.rpartition(".")
    assert hasattr(importlib.import_module(home), attr)


@pytest.mark.parametrize("old,says", [("labelspace.methods.shown_scores", "Classifier.probabilities"),
                                      ("labelspace.serve.models.LOADERS", "labelspace.registry.METHODS"),
                                      ("labelspace.analysis.similarity.average_ranks", "scipy.stats.rankdata"),
                                      ("labelspace.api.METHODS", "labelspace.registry.METHODS.list()")])
def test_a_renamed_name_says_what_to_use_and_others_stay_unknown(old, says):
    import importlib
    import re

    home, _, name = old.rpartition(".")
    module = importlib.import_module(home)
    with pytest.raises(AttributeError, match=f"^{re.escape(old)} .*{re.escape(says)}") as error:
        getattr(module, name)
    assert "\n" not in str(error.value)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        getattr(module, "no_such_name")
