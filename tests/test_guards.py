"""A broken run must look broken: non-finite settings, losses and weights stop with one line and keep the last good
checkpoint; resuming with other options is refused naming them; output paths are checked before the work."""
import json

import numpy as np

import pytest
import torch

from labelspace.errors import LabelspaceError
from labelspace.training import TrainConfig, fit, load_checkpoint, save_checkpoint
from labelspace.training.checkpoint import WEIGHTS
from writer_helpers import stopped_writer

SPLIT = {"name": "synthetic-zsl", "seen": ["class0", "class1", "class2"], "unseen": ["class3"], "validation": ["class0"]}


def one_line_error(code, err, *fragments):
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert all(f in err for f in fragments), err


def test_non_finite_loss_stops_fit_and_keeps_the_last_good_checkpoint(tmp_path):
    torch.manual_seed(0)
    x, y = torch.randn(64, 5), torch.randn(64, 1)
    model, calls = torch.nn.Linear(5, 1), []

    def loss_fn(m, batch, generator):  # diverges in the third epoch
        calls.append(1)
        loss = ((m(batch[0]) - batch[1]) ** 2).mean()
        return loss * float("nan") if len(calls) > 2 * 4 else loss

    config = TrainConfig(epochs=5, batch_size=16)
    with pytest.raises(LabelspaceError, match=r"^loss is nan at epoch 2: training stopped; the last good checkpoint"):
        fit(model, loss_fn, (x, y), config, checkpoint=tmp_path)
    groups, progress, _ = load_checkpoint(tmp_path)
    assert len(progress["history"]) == 2 and all(torch.isfinite(v).all() for v in groups["model"].values())


def test_checkpoint_with_nan_weights_is_refused_at_load(tmp_path):
    model = torch.nn.Linear(3, 2)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    save_checkpoint(tmp_path, model, config={"method": "devise"})
    with pytest.raises(LabelspaceError, match="non-finite values in weight"):
        load_checkpoint(tmp_path)


def test_malformed_config_json_is_one_line(tmp_path, cli_main):
    save_checkpoint(tmp_path, torch.nn.Linear(3, 2))
    (tmp_path / "config.json").write_text('{"method": "devise", ')
    code, _, err = cli_main("eval", "--model", str(tmp_path), "--dataset", "synthetic", "--no-hp")
    one_line_error(code, err, "config.json", "is not valid JSON")


def test_non_finite_options_are_refused_before_any_work(tmp_path, cli_main):
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / WEIGHTS).write_bytes(b"last good")
    for option, value in (("--lr", "inf"), ("--margin", "nan"), ("--lr", "1e-3,nan")):
        code, _, err = cli_main("train", "devise", "--out", str(tmp_path / "ck"), "--dataset", "synthetic", option, value)
        one_line_error(code, err, f"{option} must be comma-separated positive finite numbers")
    assert (tmp_path / "ck" / WEIGHTS).read_bytes() == b"last good"


@pytest.mark.slow  # EfficientNet-Lite0 features of the synthetic set
def test_devise_resume_with_changed_options_is_refused_naming_them(tmp_path, cli_main):
    split = tmp_path / "split.json"
    split.write_text(json.dumps(SPLIT))
    common = ["--dataset", "synthetic", "--split", str(split), "--text-model", "random:16", "--out", str(tmp_path / "ck")]
    code, _, err = cli_main("train", "devise", *common, "--epochs", "2", "--lr", "0.01", "--margin", "0.1")
    assert code in (0, None), err
    saved = (tmp_path / "ck" / WEIGHTS).read_bytes()
    code, _, err = cli_main("train", "devise", *common, "--epochs", "2", "--lr", "0.02", "--margin", "0.2", "--resume")
    one_line_error(code, err, "differs in: lr, margin)")
    code, _, err = cli_main("train", "devise", *common[2:], "--dataset", "synthetic@4", "--epochs", "3", "--lr", "0.01",
                            "--margin", "0.1", "--resume")
    one_line_error(code, err, "differs in: dataset, max_epochs)")
    assert (tmp_path / "ck" / WEIGHTS).read_bytes() == saved
    code, _, err = cli_main("train", "devise", *common, "--epochs", "2", "--lr", "0.01", "--margin", "0.1", "--resume")
    assert code in (0, None), err


@pytest.mark.parametrize("image", ["efficientnet-lite0", "timm:test_efficientnet"])
def test_locked_image_tower_keeps_every_parameter_and_buffer_bit_identical(image, tmp_path):
    from labelspace.data.captions import synthetic_captions
    from labelspace.models.trainable import ModelSpec, TrainableCLIP
    from labelspace.training.clip_trainer import ClipTrainConfig, train_clip

    model = TrainableCLIP(ModelSpec(model="towers", image=image, text="transformer:32x1", lock_image=True,
                                    image_size=64))
    before = {k: v.clone() for k, v in model.net.visual.state_dict().items()}
    assert any("running_mean" in k for k in before)
    train_clip(model, synthetic_captions(32, seed=1), ClipTrainConfig(steps=2, batch_size=8, warmup=0, lr=1e-2),
               progress=False, log=lambda _: None)
    after = model.net.visual.state_dict()
    head = [k for k in before if k.startswith("head.")]
    assert any(not torch.equal(before[k], after[k]) for k in head)  # the projection trains
    changed = [k for k in before if k not in head and not torch.equal(before[k], after[k])]
    assert changed == []


def test_unreachable_hub_gives_the_one_line_error_within_seconds(monkeypatch, caplog):
    import time

    from huggingface_hub import constants

    from labelspace.models import load_clip

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    load_clip.cache_clear()
    start = time.perf_counter()
    with pytest.raises(LabelspaceError, match="hub is unreachable and the weights are not in the local cache"):
        load_clip("open_clip:RN50/yfcc15m")
    assert time.perf_counter() - start < 5
    assert "Failed to download" not in caplog.text


def test_pickle_in_a_hugging_face_folder_is_one_line(tmp_path, cli_main, capsys):
    import clip_helpers as h

    folder = h.hf_clip_folder(tmp_path / "clip", "clip")
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    torch.save({"net": torch.nn.Linear(2, 2)}, folder / "pytorch_model.bin")  # a pickle holding code
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    capsys.readouterr()  # the folder's own progress bars
    code, _, err = cli_main("classify", str(tmp_path / "a.png"), "--labels", "cat,dog", "--method", "clip",
                            "--image-model", f"hf:{folder}")
    one_line_error(code, err, str(folder), "holds its weights as a pickle (pytorch_model.bin)")
    assert "\x1b" not in err


def test_open_clip_state_dict_without_openai_entries_is_read_with_a_warning(tmp_path, caplog):
    import clip_helpers as h

    from labelspace.models import load_clip

    h.register_tiny_configs(tmp_path / "configs")
    ref = h.reference_open_clip("ls-tiny-vit")[0]
    torch.save(ref.state_dict(), tmp_path / "plain.pt")
    load_clip(str(tmp_path / "plain.pt"))
    assert "open_clip:<arch>/" in caplog.text and "QuickGELU" in caplog.text
    caplog.clear()
    torch.save({**ref.state_dict(), "input_resolution": torch.tensor(32), "context_length": torch.tensor(77),
                "vocab_size": torch.tensor(49408)}, tmp_path / "openai.pt")
    load_clip(str(tmp_path / "openai.pt"))
    assert "QuickGELU" not in caplog.text


def test_corrupt_feature_cache_entry_is_recomputed_with_a_warning(tmp_path, caplog):
    from labelspace.data import extract_features, synthetic

    class Means:
        name, feature_dim, cache_key = "means", 3, "means-v1"

        def preprocess(self, image):
            return torch.from_numpy(np.asarray(image, dtype=np.float32).mean((0, 1)))

        def encode(self, batch):
            return batch

    data = synthetic(per_class=2)
    first = np.asarray(extract_features(Means(), data, cache_dir=tmp_path, progress=False).features).copy()
    [entry] = (tmp_path / "features").iterdir()
    (entry / "features.npy").write_bytes((entry / "features.npy").read_bytes()[:100])  # cut short
    again = extract_features(Means(), data, cache_dir=tmp_path, progress=False)
    assert "unreadable" in caplog.text and not again.cached
    np.testing.assert_array_equal(np.asarray(again.features), first)
    (entry / "meta.json").write_text("{not json")
    assert np.array_equal(np.asarray(extract_features(Means(), data, cache_dir=tmp_path, progress=False).features), first)
    assert extract_features(Means(), data, cache_dir=tmp_path, progress=False).cached  # healed


def test_word_vectors_with_nan_are_refused(tmp_path):
    from labelspace.encoders.text import word_vector_file

    (tmp_path / "v.txt").write_text("cat 1 2\ndog nan 1\n")
    with pytest.raises(LabelspaceError, match="line 2 .*not finite"):
        word_vector_file(str(tmp_path / "v.txt"))


def test_rich_markup_in_a_label_is_shown_literally(tmp_path, cli_main):
    from PIL import Image

    Image.new("RGB", (8, 8), "red").save(tmp_path / "a.png")
    code, out, err = cli_main("classify", str(tmp_path / "a.png"), "--labels", "[bold]dog[/bold],cat")
    assert code in (0, None), err
    assert "[bold]dog[/bold]" in out


def test_output_paths_are_checked_before_the_work(tmp_path, cli_main):
    (tmp_path / "taken").write_text("a file")
    for args in (["eval", "--model", "conse", "--dataset", "synthetic"], ["train", "devise", "--dataset", "synthetic"],
                 ["train", "clip", "--steps", "1"], ["analyze", "-d", "synthetic", "-t", "minilm"]):
        code, _, err = cli_main(*args, "--out", str(tmp_path / "taken" / "sub"))
        one_line_error(code, err, "must be a folder", "is a file")
    code, _, err = cli_main("eval-merge", str(tmp_path), "--out", str(tmp_path / ("x" * 300 + ".csv")))
    one_line_error(code, err, "the limit is 255")


def test_a_long_result_name_is_shortened_and_saved(tmp_path):
    from labelspace.evaluation import load_results, write_result

    result = {"task": "zsl", "method": "devise", "model": "m" * 80, "dataset": "d" * 80, "split": "s" * 80,
              "text_model": "t" * 80, "metrics": {"hit@1": 0.5}}
    path = write_result(tmp_path, result)
    assert len(path.name.encode()) <= 255 and load_results([tmp_path]) == [result]
    other = write_result(tmp_path, {**result, "text_model": "t" * 79 + "u"})
    assert other != path  # the hash keeps distinct runs apart


def test_half_written_checkpoint_files_are_removed_on_the_next_run(tmp_path, caplog):
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    model = torch.nn.Linear(4, 1)

    def loss_fn(m, batch, generator):
        return ((m(batch[0]) - batch[1]) ** 2).mean()

    fit(model, loss_fn, (x, y), TrainConfig(epochs=1, batch_size=16), checkpoint=tmp_path)
    _, [stale] = stopped_writer("file", tmp_path / WEIGHTS, kill=True)  # what a kill during the atomic write leaves
    fit(model, loss_fn, (x, y), TrainConfig(epochs=2, batch_size=16), checkpoint=tmp_path, resume=True)
    assert not stale.exists() and str(stale) in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.safetensors", "config.json"]
