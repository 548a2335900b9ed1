"""Every `train` option acts or is refused before any work; runs and result files are never silently replaced; a
failing final evaluation leaves the trained model written and says so in one line."""
import json

import pytest
import typer

import clip_helpers as h
from labelspace.models.trainable import EvalView, ModelSpec, TrainableCLIP
from labelspace.training.checkpoint import CONFIG, WEIGHTS

TINY = "open_clip:ls-clip-tiny"


def one_line_error(code, err, *fragments):
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert all(f in err for f in fragments), err


@pytest.fixture
def no_work(monkeypatch, tmp_path):
    """Loading data, features or a model fails the test: what is checked must be refused before any of them."""
    import labelspace.data
    import labelspace.data.captions
    import labelspace.evaluation.runner
    import labelspace.models.trainable

    def work(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(labelspace.data.captions, "caption_data", work)
    monkeypatch.setattr(labelspace.data, "load_dataset", work)
    monkeypatch.setattr(labelspace.evaluation.runner, "load_dataset", work)
    monkeypatch.setattr(labelspace.evaluation.runner, "create_classifier", work)
    monkeypatch.setattr(labelspace.models.trainable, "TrainableCLIP", work)


@pytest.mark.parametrize("args,message", [
    (["--embed-dim", "32"], f"--embed-dim does not apply to --model {TINY} (only to towers)"),
    (["--image-size", "64"], f"--image-size does not apply to --model {TINY} (only to towers)"),
    (["--context-length", "4"], f"--context-length does not apply to --model {TINY} (only to towers)"),
    (["--proj", "mlp"], f"--proj does not apply to --model {TINY} (only to towers)"),
    (["--text", "minilm"], f"--text does not apply to --model {TINY} (only to towers)"),
    (["--model", "towers", "--image", "efficientnet-lite0", "--text", "minilm", "--image-size", "64"],
     "--image-size does not apply to --image efficientnet-lite0 (only to timm:<name>)"),
    (["--model", "towers", "--image", "efficientnet-lite0", "--text", "minilm", "--pretrained-image"],
     "--pretrained-image does not apply to --image efficientnet-lite0 (only to timm:<name>)"),
    (["--unlocked-image-groups", "2"], "--unlocked-image-groups does not apply to an unlocked image tower "
     "(only to --lock-image)"),
    (["--unlocked-text-layers", "1"], "--unlocked-text-layers does not apply to an unlocked text tower"),
    (["--label-aware"], "--label-aware does not apply to --data synthetic-captions@4000 (only to folder:<dir>)"),
    (["--templates", "photo"], "--templates does not apply to --data synthetic-captions@4000 (only to folder:<dir>, "
     "--eval-zeroshot)"),
    (["--data", "captions:pairs.csv", "--eval-every", "5"], "--eval-every does not apply to --data captions:pairs.csv"),
])
def test_train_clip_refuses_options_the_model_or_data_would_ignore(args, message, cli_main, no_work):
    code, _, err = cli_main("train", "clip", *args, "--out", "run")
    one_line_error(code, err, message)


@pytest.mark.parametrize("option,value", [("--embed-dim", "0"), ("--image-size", "0"), ("--seed", "-1"),
                                          ("--weight-decay", "-1"), ("--eval-every", "-1"),
                                          ("--unlocked-image-groups", "-3"), ("--steps", "0")])
def test_train_clip_refuses_out_of_range_numbers_naming_the_option(option, value, cli_main, no_work):
    code, _, err = cli_main("train", "clip", "--model", "towers", "--image", "timm:x", "--text", "minilm",
                            "--lock-image", option, value, "--out", "run")
    assert code == 2 and f"'{option}'" in err and "Traceback" not in err, err


def test_errors_that_need_no_model_come_before_any_model_loads(cli_main, no_work):
    code, _, err = cli_main("train", "clip", "--batch-size", "30", "--accum", "4", "--out", "run")
    one_line_error(code, err, "global batch 30 must split evenly")
    code, _, err = cli_main("eval", "--task", "linear_probe", "--model", TINY, "--dataset", "synthetic")
    one_line_error(code, err, "linear_probe needs --train-dataset")


def test_a_named_architecture_evaluates_at_its_own_embedding_size():
    """The spec's tower embedding size is not read for an open_clip architecture: the view evaluating it has
    the architecture's (64 for ls-clip-tiny), so zero-shot weights and image features agree."""
    model = TrainableCLIP(ModelSpec(embed_dim=32))
    view = EvalView(model, "probe")
    assert view.embed_dim == model.embed_dim == view.encode_text(["a red bag"]).shape[1] == 64


@pytest.mark.parametrize("held", [WEIGHTS, CONFIG, f".{WEIGHTS}.4242@elsewhere.k2j4xq0a"])  # or its writer's temporary
@pytest.mark.parametrize("command", [["train", "clip"], ["train", "devise", "--dataset", "synthetic"]])
def test_an_out_folder_holding_a_run_is_refused_without_resume_or_overwrite(command, held, tmp_path, cli_main,
                                                                           no_work):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / held).write_bytes(b"the old run")
    code, _, err = cli_main(*command, "--out", "run")
    one_line_error(code, err, "--out 'run' holds a run", "continue it with --resume or replace it with --overwrite")
    code, _, err = cli_main(*command, "--out", "run", "--overwrite", "--resume", *(["latest"] if "clip" in command else []))
    one_line_error(code, err, "give one of them")
    assert (tmp_path / "run" / held).read_bytes() == b"the old run"


def _train_one_step(cli_main, monkeypatch, out, evaluate, *extra):
    """``train clip`` for one step of 8 synthetic pairs, its held-out evaluation replaced by ``evaluate``."""
    import labelspace.cli.train_clip

    monkeypatch.setattr(labelspace.cli.train_clip, "held_out_evaluator", lambda *args: evaluate)
    return cli_main("train", "clip", "--data", "synthetic-captions@16", "--steps", "1", "--batch-size", "8",
                    "--warmup", "0", "--workers", "0", "--out", str(out), *extra)


def test_a_failing_final_evaluation_is_one_note_after_the_model_is_written(tmp_path, cli_main, monkeypatch):
    """The checkpoint, the exported model and metrics.json (naming the failure) are written; exit code 1."""
    def broken(model):
        raise ValueError("could not broadcast input array from shape (64,64) into shape (64,32)")

    code, out, err = _train_one_step(cli_main, monkeypatch, tmp_path / "run", broken)
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "note: the final evaluation failed (ValueError: could not broadcast" in err
    assert f"the trained weights are saved in {tmp_path / 'run'}" in " ".join(err.split())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["evaluation_error"].startswith("ValueError: could not broadcast") and len(metrics["history"]) == 1
    from labelspace.models.clip import load_clip

    assert "exported" in out and load_clip(str(tmp_path / "run" / "model.safetensors")).embed_dim == 64


def test_overwrite_replaces_every_file_of_the_old_run(tmp_path, cli_main, monkeypatch):
    (tmp_path / "run").mkdir()
    for name in (WEIGHTS, CONFIG, "metrics.json", "model.safetensors"):
        (tmp_path / "run" / name).write_text("old run")
    code, _, err = _train_one_step(cli_main, monkeypatch, tmp_path / "run", None, "--overwrite")
    assert code in (0, None), err
    assert all((tmp_path / "run" / name).read_text(errors="replace") != "old run"
               for name in (WEIGHTS, CONFIG, "metrics.json", "model.safetensors"))
    assert json.loads((tmp_path / "run" / CONFIG).read_text())["train"]["steps"] == 1


def test_calibrated_and_plain_zsl_results_have_files_of_their_own(tmp_path, cli_main, monkeypatch):
    from labelspace.models import load_clip, save_clip

    monkeypatch.setenv("LABELSPACE_CACHE", str(tmp_path / "cache"))
    h.register_tiny_configs(tmp_path / "configs")
    save_clip(load_clip("open_clip:ls-tiny-vit"), tmp_path / "tiny.safetensors")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"name": "s", "seen": ["class0", "class1", "class2"], "unseen": ["class3"],
                                 "validation": ["class0"]}))
    common = ["eval", "--model", str(tmp_path / "tiny.safetensors"), "--dataset", "synthetic", "--split", str(split),
              "--no-hp", "--templates", "photo", "--out", str(tmp_path / "runs")]
    for extra in ([], ["--calibrate"]):
        code, _, err = cli_main(*common, *extra)
        assert code == 0, err
    plain, calibrated = sorted((tmp_path / "runs").glob("*.json"), key=lambda p: p.name.endswith("calibrated=True.json"))
    assert plain.name.endswith("__split=s.json") and calibrated.name.endswith("__split=s__calibrated=True.json")
    assert "calibrated" not in json.loads(plain.read_text())["metrics"]
    assert "calibrated" in json.loads(calibrated.read_text())["metrics"]


def test_every_train_clip_option_has_help_and_train_help_names_clip(cli_main):
    from labelspace.cli import app

    clip = typer.main.get_command(app).commands["train"].commands["clip"]
    assert [p.name for p in clip.params if not getattr(p, "help", None)] == []
    code, out, _ = cli_main("train", "--help")
    assert code == 0 and "Train a head on cached image features" not in " ".join(out.split())
    assert "or clip (a CLIP model on image-caption pairs)" in " ".join(out.split())
