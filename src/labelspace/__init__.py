"""labelspace: zero-shot image recognition through a shared embedding space of images and label text.

The public names are imported lazily, so ``labelspace --help`` and error messages do not wait for torch.
"""
import sys

from labelspace.errors import LabelspaceError

__version__ = "0.1.0"
_LAZY = {
    "classify": "labelspace.api",
    "hedged": "labelspace.api",
    "label_set": "labelspace.vocab",
    "pipeline": "labelspace.api",
    "list_encoders": "labelspace.encoders",
    "load_image_encoder": "labelspace.encoders",
    "load_text_encoder": "labelspace.encoders",
}
__all__ = ["LabelspaceError", *_LAZY]


MOVED = {  # old module -> its new home; importing the old name says where it went, in one line
    "labelspace.zeroshot.templates": "labelspace.prompts",
    "labelspace.zeroshot.speed": "labelspace.demo.speed",
    "labelspace.evaluation.data": "labelspace.data.eval_sets",
    "labelspace.training.clip_eval": "labelspace.evaluation.clip_training",
}


class _MovedModules:
    """An import hook that answers a moved module's old name with its new one."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name in MOVED:
            raise ModuleNotFoundError(f"{name} moved to {MOVED[name]}", name=name)
        return None


sys.meta_path.insert(0, _MovedModules())


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'labelspace' has no attribute {name!r}")
