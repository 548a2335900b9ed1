"""The one contract every zero-shot method meets, so one evaluation path serves them all.

A classifier owns the image encoder whose (cached) features it scores, and scores those
features against any candidate label set: ``scores(features, labels) -> (images, labels)``.

A classifier trained on a split's seen classes may also carry ``validation_model``: the same method fitted
without the split's validation classes, on which GZSL calibration and CSLS choose their settings
(``evaluation.evaluate_split``); without it the classifier itself scores the validation classes.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Classifier(Protocol):
    image_encoder: object

    def scores(self, features: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """Higher is more likely; one row per image, one column per label."""
        ...
