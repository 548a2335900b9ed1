"""labelspace: zero-shot image recognition through a shared embedding space of images and label text."""
from labelspace.api import classify, pipeline
from labelspace.encoders import list_encoders, load_image_encoder, load_text_encoder
from labelspace.errors import LabelspaceError

__version__ = "0.1.0"
__all__ = ["LabelspaceError", "classify", "pipeline", "list_encoders", "load_image_encoder", "load_text_encoder"]
