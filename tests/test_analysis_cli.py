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
