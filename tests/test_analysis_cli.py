"""``labelspace analyze``: bad input in-process, and one end-to-end run on the packaged weights."""
import json
import sys

import pytest

from labelspace.cli import main


def run_main(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["labelspace", "analyze", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code


@pytest.mark.parametrize("args,message", [
    (["-d", "synthetic", "--preset", "voc", "-t", "minilm"], "has no class for aeroplane"),
    (["-d", "synthetic", "--preset", "imagenet-21k", "-t", "minilm"], "unknown class preset"),
    (["-d", "synthetic", "--shift", "rotated", "-t", "minilm"], "unknown domain shift 'rotated'"),
    (["-d", "synthetic", "-d", "photos", "-t", "minilm"], "class names differ between 'dataset synthetic' and 'dataset photos'"),
    (["-d", "synthetic"], "at least one image or text model"),
    (["-d", "synthetic", "-t", "glove-6b-50d", "--wordnet"], "--wordnet goes with --classes"),
    (["--classes", "imagenet-1k", "--shift", "noisy", "-t", "glove-6b-50d", "--wordnet"],
     "--classes uses no images; leave out --shift"),
    (["--classes", "imagenet-1k", "-t", "glove-6b-50d"], "needs at least two of: image models, text models, --wordnet"),
])
def test_bad_input_is_one_line_exit_2(monkeypatch, capsys, args, message):
    assert run_main(monkeypatch, *args) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err


@pytest.mark.slow
def test_analyze_writes_report_figures_and_results(monkeypatch, tmp_path):
    code = run_main(monkeypatch, "-d", "fashion-mnist:test@3", "-i", "efficientnet-lite0", "-t", "glove-6b-50d",
                    "-t", "minilm", "--shift", "inverted", "--bootstrap", "20", "--permutations", "99",
                    "--out", str(tmp_path))
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    kinds = [c["kind"] for c in results["comparisons"]]
    assert kinds.count("language-language") == 1 and kinds.count("vision-language") == 4
    assert kinds.count("across-domains") == 1
    report = (tmp_path / "report.md").read_text()
    for figure in ("heatmaps.png", "scatter.png", "mds.png"):
        assert f"({figure})" in report and (tmp_path / figure).stat().st_size > 1000
    vision = [m for m in results["matrices"] if m["modality"] == "vision"]
    assert all(m["summary"]["mean"] > 0.3 for m in vision)  # ReLU6 features: all class means point one way


@pytest.mark.slow
def test_analyze_classes_writes_report_matrices_and_figures(monkeypatch, tmp_path):
    import numpy as np

    code = run_main(monkeypatch, "--classes", "imagenet-1k", "-i", "efficientnet-lite0", "-t", "glove-6b-50d",
                    "--wordnet", "--permutations", "9", "--out", str(tmp_path))
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert [c["kind"] for c in results["comparisons"]] == ["vision-language", "vision-wordnet", "language-wordnet"]
    assert results["comparisons"][0]["pearson"] == pytest.approx(0.185, abs=5e-4)
    assert all(c["pearson_ci"] is None and c["mantel_p"] == pytest.approx(0.1) for c in results["comparisons"])
    with np.load(tmp_path / "matrices.npz") as matrices:
        assert matrices["WordNet Wu-Palmer"].shape == (1000, 1000)
    assert results["matrices"][0]["matrix"] == "matrices.npz"
    report = (tmp_path / "report.md").read_text()
    assert "rows of the network's ImageNet classifier weights" in report and "bootstrap: none" in report
    assert "goldfish, great white shark" in report and "(all of them in results.json)" in report
    for figure in ("heatmaps.png", "scatter.png", "mds.png"):
        assert f"({figure})" in report and (tmp_path / figure).stat().st_size > 1000
