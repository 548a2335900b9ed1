"""Evaluation metrics over a score matrix (rows: samples, columns: candidate labels)."""
from labelspace.metrics.classification import (
    flat_hits,
    mean_per_class_accuracy,
    top_k_accuracy,
)

__all__ = ["flat_hits", "mean_per_class_accuracy", "top_k_accuracy"]
