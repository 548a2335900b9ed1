"""Zero-shot methods: each turns image features into scores over any candidate label set.

Importing this package registers every method in ``labelspace.registry.METHODS``.
"""
from labelspace.errors import moved_names
from labelspace.methods import clip, trained  # noqa: F401  (they register their methods)
from labelspace.methods.base import (COSINE_TEMPERATURE, DEFAULT_IMAGE_MODEL, Classifier, MethodOptions,
                                     create_classifier, rank_labels)
from labelspace.methods.conse import ConSE

__all__ = ["COSINE_TEMPERATURE", "DEFAULT_IMAGE_MODEL", "Classifier", "ConSE", "MethodOptions", "create_classifier",
           "rank_labels"]


__getattr__ = moved_names(__name__, {"shown_scores": "is now Classifier.probabilities (rows sum to 1)"})
