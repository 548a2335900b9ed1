"""Class-representation analysis: are the relations between classes alike in vision and language models?"""
from labelspace.analysis.domains import SHIFTS, shifted
from labelspace.analysis.pipeline import Analysis, analyze, analyze_classes, load_model, run_analysis
from labelspace.analysis.presets import apply_preset, load_preset
from labelspace.analysis.representations import (
    ClassRepresentations, head_representations, text_representations, vision_representations, wordnet_representations,
)
from labelspace.analysis.similarity import (
    Comparison, SimilarityMatrix, bootstrap_triangles, compare, cosine_similarity, mantel,
)

__all__ = [
    "SHIFTS", "Analysis", "ClassRepresentations", "Comparison", "SimilarityMatrix", "analyze", "analyze_classes",
    "apply_preset", "bootstrap_triangles", "compare", "cosine_similarity", "head_representations", "load_model",
    "load_preset", "mantel", "run_analysis", "shifted", "text_representations", "vision_representations",
    "wordnet_representations",
]
