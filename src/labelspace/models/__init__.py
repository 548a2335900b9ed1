"""Image-text models (CLIP and relatives) behind spec strings."""
from labelspace.models import trainable  # noqa: F401  (registers run:<folder>)
from labelspace.models.clip import HFModel, ImageTextModel, OpenCLIPModel, is_clip_spec, load_clip, save_clip

__all__ = ["HFModel", "ImageTextModel", "OpenCLIPModel", "is_clip_spec", "load_clip", "save_clip"]
