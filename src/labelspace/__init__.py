"""labelspace: zero-shot image recognition through a shared embedding space of images and label text.

The public names are imported lazily, so ``labelspace --help`` and error messages do not wait for torch.
"""
from labelspace.errors import LabelspaceError

__version__ = "0.1.0"
_LAZY = {
    "classify": "labelspace.api",
    "pipeline": "labelspace.api",
    "list_encoders": "labelspace.encoders",
    "load_image_encoder": "labelspace.encoders",
    "load_text_encoder": "labelspace.encoders",
}
__all__ = ["LabelspaceError", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'labelspace' has no attribute {name!r}")
