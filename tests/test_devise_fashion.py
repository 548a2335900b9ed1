"""Measured: on real EfficientNet-Lite0 features, GloVe label vectors transfer to unseen classes and
random label vectors do not (the DeViSE paper's zero-shot claim, on the packaged Fashion-MNIST split)."""
import numpy as np
import pytest

from labelspace.data.splits import class_rows, load_split
from labelspace.encoders import load_text_encoder
from labelspace.methods.devise import DeViSEClassifier, train_devise
from labelspace.metrics import mean_per_class_accuracy
from labelspace.training import TrainConfig


@pytest.mark.slow
def test_glove_beats_random_label_vectors_on_unseen_classes():
    from labelspace.encoders import load_image_encoder
    from labelspace.data import extract_features, fashion_mnist

    split = load_split("fashion-mnist-zsl")
    feats = extract_features(load_image_encoder("efficientnet-lite0"), fashion_mnist("train").per_class(40),
                             progress=False)  # seen-class images train, unseen-class images test
    x = np.asarray(feats.features)
    seen, y_seen = class_rows(feats.targets, feats.class_names, split.seen)
    unseen, y_unseen = class_rows(feats.targets, feats.class_names, split.unseen)

    def zsl(text_model, seed):
        text = load_text_encoder(text_model)
        head, _ = train_devise(x[seen], y_seen, text.encode(split.seen), TrainConfig(lr=1e-2, epochs=10, seed=seed,
                                                                                    batch_size=64))
        return mean_per_class_accuracy(DeViSEClassifier(head, text).scores(x[unseen], split.unseen), y_unseen)

    glove = [zsl("glove-6b-50d", seed) for seed in range(3)]
    random = [zsl(f"random:50:{seed}", seed) for seed in range(3)]
    assert np.mean(glove) > np.mean(random) + 0.15, (glove, random)
    assert np.mean(glove) > 0.5 > np.mean(random) - 0.1  # chance is 1/3
