"""Zero-shot classifiers from prompts: templates, ensembling, on-disk cache."""
from labelspace.zeroshot.classifier import build_classifier, encode_prompts
from labelspace.zeroshot.templates import NAMED_SETS, class_prompts, template_set

__all__ = ["NAMED_SETS", "build_classifier", "class_prompts", "encode_prompts", "template_set"]
