import numpy as np
import pytest

from labelspace.encoders import load_text_encoder
from labelspace.encoders.text import check_labels, label_tokens
from labelspace.errors import LabelspaceError

VOCAB = {"t-shirt", "top", "ankle", "boot", "dining", "table", "din", "tv", "monitor", "potted", "plant", "cat"}


@pytest.mark.parametrize("label,tokens", [
    ("T-shirt/top", ["t-shirt", "top"]),
    ("ankle boot", ["ankle", "boot"]),
    ("diningtable", ["dining", "table"]),
    ("tvmonitor", ["tv", "monitor"]),
    ("pottedplant", ["potted", "plant"]),
    ("Cat", ["cat"]),
    ("zzzq", []),
])
def test_label_rule(label, tokens):
    assert label_tokens(label, VOCAB) == tokens


@pytest.mark.parametrize("labels", [[], ["cat", ""], ["cat", "Cat"]])
def test_bad_label_lists(labels):
    with pytest.raises(LabelspaceError):
        check_labels(labels)


def test_word_vector_file_and_mean_rule(tmp_path):
    path = tmp_path / "vecs.txt"
    path.write_text("2 3\nankle 3 0 0\nboot 0 4 0\n")
    enc = load_text_encoder(f"wordvec:{path}")
    np.testing.assert_allclose(enc.encode(["ankle boot"])[0], [0.5, 0.5, 0.0], atol=1e-6)
    with pytest.raises(LabelspaceError, match="qwerty"):
        enc.encode(["qwerty"])


@pytest.mark.slow
def test_glove_semantics():
    glove = load_text_encoder("glove-6b-50d")
    v = glove.encode(["cat", "dog", "guitar", "diningtable", "dining table"])
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2  # cat is closer to dog than to guitar
    np.testing.assert_allclose(v[3], v[4], atol=1e-6)


@pytest.mark.slow
def test_minilm_loads_offline():
    minilm = load_text_encoder("minilm")
    v = minilm.encode(["a cat", "a kitten", "a violin"])
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert v.shape == (3, 384) and v[0] @ v[1] > v[0] @ v[2]


def test_unknown_spec_lists_known():
    with pytest.raises(LabelspaceError, match="glove-6b-50d"):
        load_text_encoder("word2vec-google")


def test_hugging_face_loads_print_nothing_of_their_own(capfd):
    """transformers' "Loading weights" bars and load reports stay out of the terminal: the sentence encoder and
    a CLIP text tower built from the same MiniLM folder write nothing to stdout or stderr."""
    from labelspace.models.trainable import ModelSpec, TrainableCLIP

    capfd.readouterr()
    load_text_encoder("minilm")
    TrainableCLIP(ModelSpec(model="towers", image="efficientnet-lite0", text="minilm", lock_image=True))
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
