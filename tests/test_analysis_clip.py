"""CLIP models in ``analyze``: any CLIP spec is an image model (mean image embeddings) and a text model (its
prompt-ensembled label embeddings), each side named."""
import json
import sys

import numpy as np
import pytest
import torch

from labelspace.analysis.similarity import cosine_matrix
from labelspace.cli import main
from labelspace.data import load_dataset
from labelspace.models import load_clip
from labelspace.prompts import template_set

DATA = "fashion-mnist:test@2"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A two-step ``train clip`` run of open_clip:ls-clip-tiny on synthetic captions."""
    from labelspace.data.captions import caption_data
    from labelspace.models.trainable import ModelSpec, TrainableCLIP
    from labelspace.training.clip_trainer import ClipTrainConfig, train_clip

    folder = tmp_path_factory.mktemp("analysis-clip") / "run"
    train_clip(TrainableCLIP(ModelSpec(model="open_clip:ls-clip-tiny")), caption_data("synthetic-captions@16"),
               ClipTrainConfig(steps=2, batch_size=8, warmup=1), folder, progress=False, log=lambda _: None)
    return folder


def analyze(monkeypatch, tmp_path, *args):
    monkeypatch.setattr(sys, "argv", ["labelspace", "analyze", "-d", DATA, *args, "--permutations", "9",
                                      "--bootstrap", "0", "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    return results, {m["label"]: np.array(m["matrix"]) for m in results["matrices"]}, \
        (tmp_path / "out" / "report.md").read_text()


def unit(x: torch.Tensor) -> np.ndarray:
    x = x.float().numpy()
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def mean_image_similarity(model, dataset) -> np.ndarray:
    with torch.inference_mode():
        rows = model.encode_image(torch.stack([model.preprocess(dataset.load(i)) for i in range(len(dataset))])).numpy()
    return cosine_matrix(np.stack([rows[dataset.targets == c].mean(0) for c in range(len(dataset.class_names))]))


def ensembled_text_similarity(model, names, templates) -> np.ndarray:
    with torch.inference_mode():
        vectors = np.stack([unit(model.encode_text([t.replace("{}", n) for t in templates])).mean(0) for n in names])
    return cosine_matrix(vectors)


def test_one_test_decides_what_a_clip_spec_is(run, tmp_path):
    from labelspace.models import is_clip_spec

    (tmp_path / "model.safetensors").write_bytes(b"")
    for spec in ("open_clip:ls-clip-tiny", "hf:some/repo", f"run:{run}", str(tmp_path / "model.safetensors")):
        assert is_clip_spec(spec), spec
    for spec in ("efficientnet-lite0", "timm:resnet18", "glove-6b-50d", "minilm", str(tmp_path / "missing.pt")):
        assert not is_clip_spec(spec), spec


def test_a_clip_run_is_the_image_and_the_text_model(run, monkeypatch, tmp_path):
    spec = f"run:{run}"
    results, matrices, report = analyze(monkeypatch, tmp_path, "-i", spec, "-t", spec)
    image, text = f"{spec} (image) on {DATA}", f"{spec} (text)"
    assert list(matrices) == [image, text]
    assert [(c["kind"], c["a"], c["b"]) for c in results["comparisons"]] == [("vision-language", image, text)]
    model, dataset = load_clip(spec), load_dataset(DATA)
    np.testing.assert_allclose(matrices[image], mean_image_similarity(model, dataset), atol=1e-5)
    expected = ensembled_text_similarity(model, dataset.class_names, template_set("openai"))  # the default set
    np.testing.assert_allclose(matrices[text], expected, atol=1e-5)
    upper = np.triu_indices(10, 1)
    r = np.corrcoef(matrices[image][upper], matrices[text][upper])[0, 1]
    assert results["comparisons"][0]["pearson"] == pytest.approx(r, abs=1e-5)
    assert f"- {text}: prompt-ensembled label embeddings" in report and "templates set 'openai'" in report
    assert f"- {image}: mean image embedding of each class" in report


def test_open_clip_spec_is_a_text_model_with_the_given_templates(run, monkeypatch, tmp_path):
    templates = ["a photo of a {}.", "a {} in the top left."]
    args = ["-i", f"run:{run}", "-t", "open_clip:ls-clip-tiny", *(a for t in templates for a in ("--template", t))]
    _, matrices, report = analyze(monkeypatch, tmp_path, *args)
    expected = ensembled_text_similarity(load_clip("open_clip:ls-clip-tiny"), load_dataset(DATA).class_names, templates)
    np.testing.assert_allclose(matrices["open_clip:ls-clip-tiny (text)"], expected, atol=1e-5)
    assert f"templates {templates!r}" in report


def test_unknown_model_names_encoders_and_clip_specs(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(sys, "argv", ["labelspace", "analyze", "-d", DATA, "-i", "lite9", "-t", "glove-6b-50d"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = " ".join(capsys.readouterr().err.split())
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert "unknown image encoder 'lite9' (accepted: efficientnet-lite0" in err
    assert "or a CLIP model: open_clip:<arch>[/<tag>|/<file>], hf:<repo-or-dir>, run:<folder>, <file>" in err


def test_a_clip_run_is_a_classify_model(run):
    from labelspace.methods.trained import load_classifier

    classifier, info = load_classifier(f"run:{run}")
    assert info == {"method": "clip", "templates": "openai"} and classifier.model.name == f"run:{run}"
