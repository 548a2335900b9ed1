"""``labelspace train`` and ``labelspace eval``: one JSON per run, one-line errors for bad input."""
import json
import subprocess
import sys

import pytest


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-c", "from labelspace.cli import main; main()", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=240)


@pytest.mark.slow  # each CLI call starts a Python process that imports torch
def test_split_naming_unknown_classes_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"seen": ["coat", "bag", "gloves"], "unseen": ["dress"]}))
    run = cli("eval", "--model", "conse", "--dataset", "fashion-mnist:test@1", "--split", str(bad))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "unknown classes 'gloves'" in run.stderr and len(run.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_seen_and_unseen_overlap_and_missing_checkpoint_are_errors(tmp_path):
    bad = tmp_path / "overlap.json"
    bad.write_text(json.dumps({"seen": ["coat", "bag", "dress"], "unseen": ["dress"]}))
    run = cli("train", "devise", "--out", str(tmp_path / "ck"), "--split", str(bad))
    assert run.returncode == 2 and "'dress' are both seen and unseen" in run.stderr
    run = cli("eval", "--model", str(tmp_path), "--dataset", "fashion-mnist:test@1")
    assert run.returncode == 2 and "no config.json" in run.stderr


@pytest.fixture
def trained_devise(tmp_path):
    """A DeViSE run trained by the CLI on synthetic classes (class3 unseen): its split file and its train run."""
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"name": "synthetic-zsl", "seen": ["class0", "class1", "class2"],
                                 "unseen": ["class3"], "validation": ["class0"]}))
    run = cli("train", "devise", "--dataset", "synthetic", "--split", str(split), "--text-model", "random:16",
              "--out", str(tmp_path / "ck"), "--epochs", "3", "--lr", "0.01", "--margin", "0.1")
    assert run.returncode == 0, run.stderr
    return split, run


@pytest.mark.slow
def test_train_then_eval_writes_one_json_result(tmp_path, trained_devise):
    split, run = trained_devise
    assert (tmp_path / "ck" / "checkpoint.safetensors").is_file() and "chosen" in run.stdout
    run = cli("eval", "--model", str(tmp_path / "ck"), "--dataset", "synthetic", "--split", str(split), "--no-hp",
              "--out", str(tmp_path / "runs"))
    assert run.returncode == 0, run.stderr
    [result] = (tmp_path / "runs").glob("zsl__devise__*__synthetic__*text_model=random-16__split=synthetic-zsl.json")
    data = json.loads(result.read_text())
    assert data["task"] == "zsl" and data["method"] == "devise" and data["model"] == str(tmp_path / "ck")
    assert data["split_classes"]["unseen"] == ["class3"]
    assert data["metrics"]["seen"]["hit@1"] > 1 / 3  # 3 seen labels, distinct synthetic classes
    assert set(data["metrics"]["gzsl"]) == {"u", "s", "H"}
    run = cli("eval", "--model", str(tmp_path / "ck"), "--dataset", "synthetic", "--split", str(split), "--no-hp",
              "--text-model", "random:16:1", "--out", str(tmp_path / "runs"))
    assert run.returncode == 0, run.stderr
    assert len(list((tmp_path / "runs").glob("*.json"))) == 2  # another label space: its own file
    run = cli("eval-merge", str(tmp_path / "runs"), "--out", str(tmp_path / "all.csv"))
    assert run.returncode == 0, run.stderr
    assert "text_model" in (tmp_path / "all.csv").read_text().splitlines()[0]
    run = cli("eval", "--model", str(tmp_path / "ck"), "--dataset", "synthetic", "--split", str(split), "--no-hp",
              "--text-model", "random:8")  # --no-hp: synthetic class names have no synset (refused before any load)
    assert run.returncode == 2 and "gives 8-d label vectors" in run.stderr


@pytest.mark.slow
def test_eval_calibrate_and_csls_carry_gamma_ausuc_hubness_and_the_curve(tmp_path, trained_devise):
    split, _ = trained_devise
    assert (tmp_path / "ck" / "validation.safetensors").is_file()
    common = ["eval", "--model", str(tmp_path / "ck"), "--dataset", "synthetic", "--split", str(split), "--no-hp",
              "--out", str(tmp_path / "runs"), "--calibrate"]
    run = cli(*common, "--csls")
    assert run.returncode == 0, run.stderr
    [path] = (tmp_path / "runs").glob("*csls=True.json")
    assert path.with_suffix(".png").is_file()
    metrics = json.loads(path.read_text())["metrics"]
    cal, curve = metrics["calibrated"], metrics["curve"]
    assert set(cal) == {"gamma", "u", "s", "H", "AUSUC", "validation_H"} and 0 <= cal["AUSUC"] <= 1
    assert curve["u"] == sorted(curve["u"]) and curve["s"] == sorted(curve["s"], reverse=True)
    assert set(metrics["hubness"]) == {"skew@1", "skew@1 csls", "csls_k"}
    run = cli("eval-merge", str(tmp_path / "runs"), "--out", str(tmp_path / "all.md"))
    assert run.returncode == 0, run.stderr
    header = (tmp_path / "all.md").read_text().splitlines()[0]
    assert "calibrated.AUSUC" in header and "calibrated.gamma" in header and "curve" not in header
    assert (tmp_path / "all.seen-unseen.png").is_file()
    (tmp_path / "ck" / "validation.safetensors").unlink()  # a checkpoint from before: nothing to calibrate on
    run = cli(*common)
    assert run.returncode == 2 and "no validation-stage model" in run.stderr
