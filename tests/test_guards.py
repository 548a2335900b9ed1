"""A broken run must look broken: non-finite settings, losses and weights stop with one line and keep the last good
checkpoint; resuming with other options is refused naming them; output paths are checked before the work."""
import json

import pytest
import torch

from labelspace.errors import LabelspaceError
from labelspace.training import TrainConfig, fit, load_checkpoint, save_checkpoint
from labelspace.training.checkpoint import WEIGHTS

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
    code, _, err = cli_main("eval", "--model", str(tmp_path), "--dataset", "synthetic")
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
