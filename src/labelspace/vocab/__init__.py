"""Label vocabularies: label sets named by spec (ImageNet-1K/21K, WordNet subtrees, files) and WordNet answers."""
from labelspace.vocab.hedging import Hedger, check_hedge, describe, hedger
from labelspace.vocab.labelsets import (LabelSet, as_labels, is_label_set_spec, label_set, label_texts,
                                       labels_like, packaged_label_sets, packaged_wnids, synset_names)

__all__ = ["Hedger", "LabelSet", "as_labels", "check_hedge", "describe", "hedger", "is_label_set_spec", "label_set",
           "label_texts", "labels_like", "packaged_label_sets", "packaged_wnids", "synset_names"]
