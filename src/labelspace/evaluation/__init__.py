"""Evaluation: zero-shot classification, multi-label mAP, retrieval recall@k, linear probes; result files."""
from labelspace.distributed import init_distributed
from labelspace.data.eval_sets import CaptionSet, MultiLabelSet, captions_csv, multilabel_csv
from labelspace.evaluation.distributed import gathered_features
from labelspace.evaluation.results import load_results, merge_results, write_result
from labelspace.evaluation.runner import evaluate
from labelspace.evaluation.zsl import evaluate_split, evaluate_zsl
from labelspace.evaluation.tasks import (
    TASKS,
    linear_probe,
    multilabel_classification,
    zeroshot_classification,
    zeroshot_retrieval,
)

__all__ = [
    "TASKS", "CaptionSet", "MultiLabelSet", "captions_csv", "evaluate", "evaluate_split", "evaluate_zsl", "gathered_features", "init_distributed",
    "linear_probe", "load_results", "merge_results", "multilabel_classification", "multilabel_csv", "write_result",
    "zeroshot_classification", "zeroshot_retrieval",
]
