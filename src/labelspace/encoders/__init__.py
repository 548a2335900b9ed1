"""Image and text towers behind spec strings."""
from labelspace.encoders.registry import EncoderInfo, list_encoders, load_image_encoder, load_text_encoder

__all__ = ["EncoderInfo", "list_encoders", "load_image_encoder", "load_text_encoder"]
