"""Runs whose state survives anything: resuming a finished CLIP run keeps its evaluation, a full disk is one line
and keeps the previous files, concurrent writers of one cache entry both succeed, and what killed writers left is
removed on the next start while live writers' temporaries stay."""
import errno
import hashlib
import json
import logging
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from labelspace.data.captions import compositional_set, synthetic_captions
from labelspace.errors import LabelspaceError
from labelspace.evaluation.clip_training import clip_evaluator
from labelspace.io import write_json
from labelspace.models.trainable import ModelSpec, TrainableCLIP
from labelspace.training.clip_trainer import ClipTrainConfig, train_clip
from writer_helpers import features_of, race, stopped_writer


def _full_disk(monkeypatch, code=errno.ENOSPC):
    """Every write into a regular file, and its fsync (where network file systems report it), fails as on a full
    disk (or quota); pipes and terminals still work."""
    write = os.write

    def full(fd, data=None):
        if data is None or stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(code, os.strerror(code))
        return write(fd, data)

    monkeypatch.setattr(os, "write", full)
    monkeypatch.setattr(os, "fsync", full)


def _metrics(folder):
    return json.loads((folder / "metrics.json").read_text())["metrics"]


def test_resuming_a_finished_or_final_evaluation_killed_run_keeps_every_metric(tmp_path):
    scenes = synthetic_captions(64, seed=3)
    evaluate = clip_evaluator(synthetic_captions(8, "test", seed=4).retrieval_set(), compositional_set(8),
                              templates=["a {}"])
    config = ClipTrainConfig(steps=2, batch_size=16, warmup=0)

    def train(folder, resume=False, evaluate=evaluate):
        return train_clip(TrainableCLIP(ModelSpec()), scenes, config, folder, resume=resume, evaluate=evaluate,
                          progress=False, log=lambda _: None, workers=0)

    train(tmp_path / "done")
    finished = _metrics(tmp_path / "done")
    assert len(finished) == 9 and "zeroshot_acc1" in finished and "image_retrieval_recall@1" in finished
    assert train(tmp_path / "done", resume=True).step == 2
    assert _metrics(tmp_path / "done") == finished  # main: {"loss"} only

    def killed(model):
        raise KeyboardInterrupt  # stands for a kill during the final evaluation, after the final checkpoint

    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "cut", evaluate=killed)
    assert not (tmp_path / "cut" / "metrics.json").exists()
    train(tmp_path / "cut", resume=True)
    assert _metrics(tmp_path / "cut") == finished  # the same weights, evaluated again


@pytest.mark.parametrize("code, says", [(errno.ENOSPC, "no space left"), (errno.EDQUOT, "disk quota exceeded")])
def test_a_full_disk_is_one_line_naming_the_folder_and_keeps_the_previous_file(tmp_path, monkeypatch, code, says):
    path = write_json(tmp_path / "result.json", {"acc1": 0.5})
    _full_disk(monkeypatch, code)
    with pytest.raises(LabelspaceError) as error:
        write_json(path, {"acc1": 0.75, "padding": "x" * 5000})
    message = str(error.value)
    assert "\n" not in message and says in message and repr(str(tmp_path)) in message
    assert "about 4.9 KiB needed" in message  # the new file's size
    assert json.loads(path.read_text()) == {"acc1": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary left


def test_a_full_disk_stops_feature_extraction_at_once_with_one_line(tmp_path, monkeypatch):
    kept = np.asarray(features_of(tmp_path, "kept").features).copy()
    [entry] = (tmp_path / "features").iterdir()
    encoded = []

    def no_space(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(LabelspaceError, match=r"^no space left on the device writing into '.*features'") as error:
        features_of(tmp_path, "new", on_encode=lambda: encoded.append(1))
    assert encoded == [] and "\n" not in str(error.value)  # found before any image was encoded (main: SIGBUS later)
    monkeypatch.undo()
    _full_disk(monkeypatch)  # a file system where the space cannot be reserved: the writes find it
    with pytest.raises(LabelspaceError, match="no space left on the device"):
        features_of(tmp_path, "new")
    monkeypatch.undo()
    assert list((tmp_path / "features").iterdir()) == [entry]  # the earlier entry, nothing half-written
    np.testing.assert_array_equal(np.asarray(features_of(tmp_path, "kept").features), kept)


def test_train_clip_on_a_full_disk_exits_2_with_one_line_and_keeps_the_checkpoint(tmp_path, cli_main, monkeypatch):
    for name, colour in [("red", (230, 20, 20)), ("blue", (20, 20, 230))]:
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (32, 32), tuple(c + 5 * i for c in colour)).save(tmp_path / "data" / name / f"{i}.png")
    run = tmp_path / "run"
    args = ["train", "clip", "--data", f"folder:{tmp_path / 'data'}", "--steps", "2", "--batch-size", "4",
            "--warmup", "1", "--workers", "0", "--out", str(run)]
    code, _, err = cli_main(*args, "--stop-at", "1")
    assert code == 0, err
    saved = {p.name: p.read_bytes() for p in run.iterdir()}
    _full_disk(monkeypatch)
    code, _, err = cli_main(*args, "--resume", "latest")
    assert code == 2 and "Traceback" not in err
    line = " ".join(err.split())
    assert line.startswith(f"error: no space left on the device writing into '{run}': about ") and "free" in line
    assert {p.name: p.read_bytes() for p in run.iterdir()} == saved  # step 1's checkpoint, nothing half-written


def test_two_processes_writing_one_cache_entry_both_succeed_with_equal_features(tmp_path):
    rounds = 200
    first, second = race(tmp_path, rounds)
    assert [r for r in first + second if ":" in r] == []  # main: FileNotFoundError or "Directory not empty"
    expected = hashlib.sha256(np.asarray(features_of(tmp_path / "alone").features).tobytes()).hexdigest()
    assert first == second == [expected] * rounds
    assert len(os.listdir(tmp_path / "features")) == len(os.listdir(tmp_path / "classifiers")) == rounds  # no temporaries


def test_killed_writers_temporaries_are_removed_on_the_next_start_and_live_ones_kept(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("labelspace"), "propagate", True)  # the CLI tests' handler stops it
    cache, run = tmp_path / "cache", tmp_path / "run"
    live, writing = stopped_writer("features", cache, kill=False)
    _, killed = stopped_writer("features", cache, kill=True)  # main: a `.<key>-*` folder, never removed
    try:
        features_of(cache)  # the next extraction (a write into the cache)
        assert not any(p.exists() for p in killed) and all(p.exists() for p in writing)
        assert f"removing {next(iter(killed))}, left half-written by an interrupted run" in caplog.text
    finally:
        live.kill()
    live.join()
    features_of(cache, "another")  # the next write into the cache
    assert not any(p.exists() for p in writing)  # its writer is gone now
    _, export = stopped_writer("file", run / "model.safetensors", kill=True)  # a kill during the export
    assert train_clip(TrainableCLIP(ModelSpec()), synthetic_captions(32, seed=3), ClipTrainConfig(steps=1, batch_size=16),
                      run, progress=False, log=lambda _: None, workers=0).step == 1
    assert not any(p.exists() for p in export)
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.safetensors", "config.json", "metrics.json"]


WIDE_FEATURES = """
import sys, numpy as np, torch
from labelspace.data import extract_features, synthetic
class Wide:
    name, feature_dim, cache_key = "wide", 4096, "wide-v1"
    def preprocess(self, image): return torch.from_numpy(np.asarray(image, dtype=np.float32).mean((0, 1)))
    def encode(self, batch): return batch.repeat(1, 1366)[:, :4096]
extract_features(Wide(), synthetic(per_class=30), cache_dir=sys.argv[1], progress=False, workers=0)  # 1.9 MiB
"""


def test_a_real_full_file_system_is_one_line_not_a_bus_error(tmp_path):
    """A 1 MiB tmpfs (in a user namespace, where the kernel allows one) as the feature cache; main died by SIGBUS."""
    small = tmp_path / "small"
    small.mkdir()
    mount = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
             f'mount -t tmpfs -o size=1m tmpfs "{small}" && exec "$0" "$@"']
    if subprocess.run([*mount, "true"], capture_output=True).returncode != 0:
        pytest.skip("no user namespaces to mount a small tmpfs in")
    done = subprocess.run([*mount, sys.executable, "-c", WIDE_FEATURES, str(small)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1 and "Bus error" not in done.stderr  # main: -7 (SIGBUS), nothing on stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"labelspace.errors.LabelspaceError: no space left on the device writing into '{small / 'features'}': "
        "about 1.9 MiB needed, 1.0 MiB free")
