"""Zero-shot methods: each turns image features into scores over any candidate label set."""
from labelspace.methods.conse import ConSE

__all__ = ["ConSE"]
