"""Evaluation metrics over a score matrix (rows: samples, columns: candidate labels)."""
from labelspace.metrics.classification import (
    flat_hits,
    mean_per_class_accuracy,
    top_k_accuracy,
)
from labelspace.metrics.retrieval import mean_average_precision, retrieval_recall

__all__ = ["flat_hits", "mean_average_precision", "mean_per_class_accuracy", "retrieval_recall", "top_k_accuracy"]
