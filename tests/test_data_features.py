import numpy as np
import pytest
import torch
from PIL import Image

from labelspace.data import csv_images, extract_features, image_folder, load_dataset, synthetic
from labelspace.encoders import load_image_encoder
from labelspace.errors import LabelspaceError


@pytest.fixture(scope="module")
def tiny_encoder():
    return load_image_encoder("timm:test_efficientnet", pretrained=False)


@pytest.fixture()
def folder(tmp_path):
    data = synthetic(n_classes=2, per_class=3)
    for i in range(len(data)):
        d = tmp_path / data.class_names[data.targets[i]]
        d.mkdir(exist_ok=True)
        data.load(i).save(d / f"{i}.png")
    (tmp_path / "class1" / "broken.jpg").write_bytes(b"not an image at all")
    return tmp_path


def test_image_folder_counts_and_skips_corrupt_images(folder, tiny_encoder, tmp_path_factory):
    dataset = image_folder(folder)
    assert dataset.class_names == ["class0", "class1"] and len(dataset) == 7
    feats = extract_features(tiny_encoder, dataset, batch_size=4, cache_dir=tmp_path_factory.mktemp("c"), progress=False)
    assert feats.skipped == 1 and feats.features.shape == (6, tiny_encoder.feature_dim)
    assert list(feats.targets) == [0, 0, 0, 1, 1, 1]


def test_features_equal_bare_forward_and_cache_round_trip(tiny_encoder, tmp_path):
    dataset = synthetic(n_classes=3, per_class=4)
    first = extract_features(tiny_encoder, dataset, batch_size=5, cache_dir=tmp_path, progress=False)
    batch = torch.stack([tiny_encoder.preprocess(dataset.load(i)) for i in range(len(dataset))])
    with torch.inference_mode():
        bare = tiny_encoder.net.forward_head(tiny_encoder.net.forward_features(batch), pre_logits=True)
    np.testing.assert_allclose(first.features, bare.numpy(), atol=1e-5)
    assert not first.cached
    second = extract_features(tiny_encoder, dataset, cache_dir=tmp_path, progress=False)
    assert second.cached and isinstance(second.features, np.memmap)
    np.testing.assert_array_equal(second.features, first.features)
    changed = synthetic(n_classes=3, per_class=4, seed=1)  # other pixels -> other fingerprint -> recompute
    assert not extract_features(tiny_encoder, changed, cache_dir=tmp_path, progress=False).cached


def test_class_means(tiny_encoder, tmp_path):
    dataset = synthetic(n_classes=3, per_class=4)
    feats = extract_features(tiny_encoder, dataset, cache_dir=tmp_path, progress=False)
    means = feats.class_means()
    np.testing.assert_allclose(means[1], np.asarray(feats.features)[feats.targets == 1].mean(0), rtol=1e-5, atol=1e-6)


def test_csv_dataset(folder):
    rows = ["path,label"] + [f"{p.relative_to(folder)},{p.parent.name}" for p in sorted(folder.rglob("*.png"))]
    (folder / "list.csv").write_text("\n".join(rows))
    dataset = csv_images(folder / "list.csv")
    assert dataset.class_names == ["class0", "class1"] and len(dataset) == 6
    assert isinstance(dataset.load(0), Image.Image)


def test_per_class_subset_is_balanced_and_seeded():
    data = synthetic(n_classes=3, per_class=10)
    a, b = data.per_class(4, seed=3), data.per_class(4, seed=3)
    assert np.bincount(a.targets).tolist() == [4, 4, 4]
    assert a.fingerprint == b.fingerprint != data.per_class(4, seed=4).fingerprint


@pytest.mark.parametrize("spec", ["imagenet", "folder:/no/such/dir", "fashion-mnist:val", "synthetic@x"])
def test_bad_dataset_specs(spec):
    with pytest.raises(LabelspaceError):
        load_dataset(spec)


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(LabelspaceError, match="no images"):
        image_folder(tmp_path)


def test_fashion_mnist_idx():
    test = load_dataset("fashion-mnist:test@5")
    assert len(test) == 50 and test.class_names[0] == "T-shirt/top"
    assert test.load(0).size == (28, 28)
