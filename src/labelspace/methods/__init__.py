"""Zero-shot methods: each turns image features into scores over any candidate label set.

Importing this package registers every method in ``labelspace.registry.METHODS``.
"""
from labelspace.methods import clip, trained  # noqa: F401  (they register their methods)
from labelspace.methods.base import DEFAULT_IMAGE_MODEL, Classifier, create_classifier, rank_labels, shown_scores
from labelspace.methods.conse import ConSE

__all__ = ["DEFAULT_IMAGE_MODEL", "Classifier", "ConSE", "create_classifier", "rank_labels", "shown_scores"]
