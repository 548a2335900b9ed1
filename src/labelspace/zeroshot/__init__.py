"""Zero-shot classifiers from prompts: templates, ensembling, on-disk cache."""
from labelspace.prompts import NAMED_SETS, class_prompts, template_set
from labelspace.zeroshot.classifier import build_classifier, clear_memory, encode_prompts, ensemble, label_vectors
from labelspace.zeroshot.synsets import covered_labels, synset_bank

__all__ = ["NAMED_SETS", "build_classifier", "class_prompts", "clear_memory", "covered_labels", "encode_prompts",
           "ensemble", "label_vectors", "synset_bank", "template_set"]
