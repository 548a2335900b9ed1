"""Corrupt or malformed files give one clear LabelspaceError, never a library traceback."""
import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file

from labelspace.analysis.representations import text_representations
from labelspace.encoders import load_image_encoder
from labelspace.encoders.checkpoints import load_state_dict
from labelspace.encoders.text import word_vector_file
from labelspace.errors import LabelspaceError


def test_corrupt_safetensors(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x00not a safetensors file" * 4)
    with pytest.raises(LabelspaceError, match="not a readable safetensors file"):
        load_state_dict(str(path))


def test_timm_checkpoint_with_wrong_shapes(tmp_path):
    state = {k: v.contiguous() for k, v in timm.create_model("test_efficientnet").state_dict().items()}
    state["conv_stem.weight"] = torch.zeros(1, 1, 1, 1)
    save_file(state, str(tmp_path / "w.safetensors"))
    with pytest.raises(LabelspaceError, match="does not fit timm:test_efficientnet: .*size mismatch"):
        load_image_encoder("timm:test_efficientnet", checkpoint=str(tmp_path / "w.safetensors"))


def test_word_vectors_with_a_non_numeric_value(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("cat 1 2\ndog 1 x\n")
    with pytest.raises(LabelspaceError, match="line 2 has a non-numeric value"):
        word_vector_file(str(path))


class Letters:
    """A text encoder whose vectors count letters, to check prompt filling."""

    def encode(self, labels):
        return np.array([[label.count(c) for c in "aeiost{}"] for label in labels], dtype=np.float32) + 1e-3


def test_templates_with_other_braces_are_filled_literally():
    reps = text_representations(Letters(), ["cat", "dog"], templates=["a {} in {style}"])
    expected = Letters().encode(["a cat in {style}", "a dog in {style}"])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(reps.vectors, expected, atol=1e-6)
