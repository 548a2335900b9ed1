"""Malformed model files through the CLI: a labelspace CLIP file's metadata, a DeViSE or softmax checkpoint's
config.json, a model folder holding pickles, and NaN margins are each one error line (exit 2, no traceback)
naming what is wrong. Cases marked "held" already did so before these checks and stay as regression tests."""
import json
import pickle
import shutil
from pathlib import Path

import pytest
import skimage
import torch
from safetensors.torch import save_file

import clip_helpers as h
from labelspace.encoders.text import minilm_dir
from labelspace.methods.devise import DeViSE
from labelspace.training.checkpoint import save_checkpoint

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


def checkpoint_folder(folder: Path, method: str, config: dict) -> Path:
    """A DeViSE (1280 -> 16) or softmax (1280 -> 2 labels) checkpoint whose config.json is changed by ``config``
    (None: the key removed; a string under ``"raw"``: the whole file)."""
    head = DeViSE(1280, 16) if method == "devise" else torch.nn.Linear(1280, 2)
    base = {"method": method, "labels": ["cat", "dog"], "feature_dim": 1280, "image_model": "efficientnet-lite0",
            "temperature": 0.5, "temperature_fitted": True,
            **({"label_dim": 16, "text_model": "random:16"} if method == "devise" else {})}
    changed = {**base, **config}
    save_checkpoint(folder, head, config={k: v for k, v in changed.items() if v is not None and k != "raw"})
    if "raw" in config:
        (folder / "config.json").write_text(config["raw"])
    return folder


@pytest.mark.parametrize("method, config, words", [
    ("devise", {"feature_dim": 512}, ["does not fit", "feature_dim = 512"]),  # held
    ("softmax", {"feature_dim": 512}, ["does not fit", "feature_dim = 512"]),  # held
    ("devise", {"feature_dim": "1280"}, ["feature_dim = '1280'", "a positive integer"]),  # held (as a TypeError's line)
    ("devise", {"label_dim": None}, ["no label_dim", "a positive integer"]),  # held (as a TypeError's line)
    ("devise", {"temperature": "hot"}, ["temperature = 'hot'", "a positive finite number"]),
    ("softmax", {"temperature": "hot"}, ["temperature = 'hot'", "a positive finite number"]),
    ("devise", {"temperature": float("nan")}, ["temperature = nan"]),  # held (without naming the file)
    ("devise", {"temperature": True}, ["temperature = True"]),
    ("devise", {"temperature_fitted": "no"}, ["temperature_fitted = 'no'", "true or false"]),
    ("devise", {"labels": None}, ["no labels", "a non-empty list of label strings"]),
    ("softmax", {"labels": "ab"}, ["labels = 'ab'"]),
    ("devise", {"labels": [1, 2]}, ["labels = [1, 2]"]),
    ("devise", {"text_model": None}, ["no text_model"]),
    ("devise", {"validation_labels": "x"}, ["validation_labels = 'x'"]),
    ("devise", {"raw": "{nope"}, ["is not valid JSON"]),  # held
    ("softmax", {"raw": "[1]"}, ["holds a JSON list"]),  # held
], ids=repr)
def test_checkpoint_folder_with_bad_config_is_one_line(tmp_path, cli_main, method, config, words):
    folder = checkpoint_folder(tmp_path / "run", method, config)
    err = refused(cli_main, "classify", CAT, "--labels", "cat,dog", "--method", f"{method}:{folder}")
    assert str(folder) in err and all(word in err for word in words), err


@pytest.mark.parametrize("config", [{"labels": None}, {"temperature": "hot"}], ids=repr)
def test_eval_of_checkpoint_folder_with_bad_config_is_one_line(tmp_path, cli_main, config):
    folder = checkpoint_folder(tmp_path / "run", "devise", config)
    err = refused(cli_main, "eval", "--model", folder, "--dataset", "synthetic", "--no-hp", "--out", tmp_path / "runs")
    assert f"checkpoint {str(folder)!r} config.json has" in err


class Marker:
    """Unpickling it creates the file at ``path``."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return Path.touch, (Path(self.path),)


@pytest.mark.parametrize("weights, words", [
    ("code pickle", ["holds its weights as a pickle (pytorch_model.bin)", "model.safetensors"]),
    ("tensor pickle", ["holds its weights as a pickle (pytorch_model.bin)", "model.safetensors"]),
    ("none", ["could not load sentence encoder", "model.safetensors"]),
])
def test_sentence_folder_with_pickled_or_no_weights_is_refused_and_never_unpickled(tmp_path, cli_main, weights, words):
    folder, marker = tmp_path / "minilm", tmp_path / "unpickled"
    shutil.copytree(minilm_dir(), folder, ignore=shutil.ignore_patterns("model.safetensors"))
    if weights == "code pickle":
        (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": Marker(marker)}))
    if weights == "tensor pickle":
        torch.save({"embeddings.word_embeddings.weight": torch.zeros(2, 2)}, folder / "pytorch_model.bin")
    err = refused(cli_main, "classify", CAT, "--labels", "cat,dog", "--text-model", f"sentence:{folder}")
    assert str(folder) in err and all(word in err for word in words), err
    assert not marker.exists()


def test_hf_clip_folder_with_pickled_weights_is_refused(tmp_path, cli_main, capsys):
    folder = h.hf_clip_folder(tmp_path / "clip")
    (folder / "model.safetensors").unlink()
    torch.save({"logit_scale": torch.zeros(())}, folder / "pytorch_model.bin")
    capsys.readouterr()  # save_pretrained's progress bar
    err = refused(cli_main, "classify", CAT, "--labels", "cat,dog", "--method", "clip", "--image-model", f"hf:{folder}")
    assert "holds its weights as a pickle (pytorch_model.bin)" in err


@pytest.mark.parametrize("args", [
    ["train", "devise", "--margin", "nan"],  # held
    ["train", "devise", "--margin", "0.1,nan"],  # held
    ["eval", "--task", "zeroshot_classification", "--dataset", "voc:{root},margin=nan"],  # held
], ids=" ".join)
def test_nan_margin_is_one_line(tmp_path, cli_main, args):
    args = [a.format(root=tmp_path) for a in args]
    err = refused(cli_main, *args, *(["--out", tmp_path / "run"] if args[0] == "train" else []))
    assert "margin" in err and "nan" in err


@pytest.mark.parametrize("model, words", [
    ("x", ["'model' must be an object of model settings"]),
    ({"model": "open_clip:ls-clip-tiny", "embed_dim": "64"}, ["model.embed_dim = '64'", "accepted: a int"]),
    ({"model": "open_clip:ls-clip-tiny", "lock_image": 1}, ["model.lock_image = 1", "accepted: a bool"]),
    ({"model": "towers", "image": 3, "text": "minilm"}, ["model.image = 3", "accepted: a str"]),
])
def test_a_run_config_with_a_malformed_model_entry_is_one_line(tmp_path, cli_main, model, words):
    save_checkpoint(tmp_path, torch.nn.Linear(3, 2))
    (tmp_path / "config.json").write_text(json.dumps({"model": model}))
    err = refused(cli_main, "classify", CAT, "--labels", "cat,dog", "--method", "clip", "--image-model", f"run:{tmp_path}")
    assert all(w in err for w in words), err
