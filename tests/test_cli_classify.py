"""End-to-end: the CLI on real packaged weights and the bundled cat photo."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import skimage

CAT = str(Path(skimage.__file__).parent / "data" / "chelsea.png")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "labelspace.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_classify_ranks_cat_first():
    result = run_cli("classify", CAT, "--labels", "cat,dog,car,airplane,guitar", "--json")
    assert result.returncode == 0, result.stderr
    ranked = json.loads(result.stdout)[0]["labels"]
    assert ranked[0]["label"] == "cat"
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)


@pytest.mark.parametrize("args,message", [
    (["classify", "missing.png", "--labels", "cat,dog"], "does not exist"),
    (["classify", CAT, "--labels", "cat,,dog"], "non-empty"),
    (["classify", CAT, "--labels", "cat,Cat"], "duplicate"),
    (["classify", CAT, "--labels", "cat,dog", "--image-model", "resnet9000"], "unknown image encoder"),
    (["classify", CAT, "--labels", "cat,dog", "--method", "magic"], "unknown method"),
    (["classify", __file__, "--labels", "cat,dog"], "not a readable image"),
])
def test_bad_input_is_one_line_exit_2(args, message, cli_main):
    code, _, stderr = cli_main(*args)
    assert code == 2
    assert message in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_bad_input_from_the_installed_entry_point():
    result = run_cli("classify", "missing.png", "--labels", "cat,dog")
    assert result.returncode == 2 and result.stderr.strip() == "error: image 'missing.png' does not exist"


def test_timm_model_with_local_checkpoint(tmp_path, cli_main):
    """`timm:<name> --checkpoint FILE` loads local weights: the same weights give the same features."""
    import timm
    from safetensors.torch import save_file

    from labelspace.encoders import load_image_encoder

    net = timm.create_model("test_efficientnet", pretrained=False)
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    encoder = load_image_encoder("timm:test_efficientnet", checkpoint=str(path))
    for a, b in zip(encoder.net.state_dict().values(), net.state_dict().values()):
        assert (a == b).all()
    code, out, _ = cli_main("classify", CAT, "--labels", "cat,dog", "--image-model", "timm:test_efficientnet",
                            "--checkpoint", str(path), "--json")
    assert code == 0 and {r["label"] for r in json.loads(out)[0]["labels"]} == {"cat", "dog"}

    save_file({"conv_stem.weight": net.state_dict()["conv_stem.weight"]}, str(tmp_path / "partial.safetensors"))
    code, _, err = cli_main("classify", CAT, "--labels", "cat,dog", "--image-model", "timm:test_efficientnet",
                            "--checkpoint", str(tmp_path / "partial.safetensors"))
    assert code == 2 and "does not fit" in err and "missing keys" in err


def test_checkpoint_refused_where_it_does_not_apply(cli_main):
    for extra in (["--image-model", "efficientnet-lite0"], ["--method", "clip"]):
        code, _, err = cli_main("classify", CAT, "--labels", "cat,dog", *extra, "--checkpoint", "weights.safetensors")
        assert code == 2 and "--checkpoint applies to timm:<name> image models" in err
        assert len(err.strip().splitlines()) == 1
    assert "for CLIP pass the file as --image-model" in err


def test_checkpoint_works_wherever_a_timm_spec_is_accepted(tmp_path, cli_main):
    """Offline, timm:test_efficientnet has no weights but the local file: each command runs with it, and
    eval of a head trained on those features reads the file back from the checkpoint folder."""
    import timm
    from safetensors.torch import save_file

    net = timm.create_model("test_efficientnet", pretrained=False)
    weights = str(tmp_path / "weights.safetensors")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, weights)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"name": "synthetic-zsl", "seen": ["class0", "class1", "class2"],
                                 "unseen": ["class3"], "validation": ["class0"]}))
    image = ["--image-model", "timm:test_efficientnet"]
    runs = {
        "eval": ["eval", "--task", "zeroshot_classification", "--method", "conse", "--model", "timm:test_efficientnet",
                 "--dataset", "synthetic", "--out", str(tmp_path / "eval")],
        "zsl": ["eval", "--model", "conse", *image, "--dataset", "synthetic", "--no-hp", "--out", str(tmp_path / "zsl")],
        "analyze": ["analyze", "-d", "synthetic", *image, "-t", "random:8", "--bootstrap", "0", "--permutations", "9",
                    "--out", str(tmp_path / "analysis")],
        "train": ["train", "devise", "--dataset", "synthetic", "--split", str(split), "--text-model", "random:8",
                  *image, "--epochs", "2", "--lr", "0.01", "--margin", "0.1", "--out", str(tmp_path / "devise")],
    }
    for name, args in runs.items():
        code, _, err = cli_main(*args)
        assert code == 2 and "timm:test_efficientnet" in err, name  # no weights offline without the file
        code, _, err = cli_main(*args, "--checkpoint", weights)
        assert code == 0, (name, err)
    code, _, err = cli_main("eval", "--model", str(tmp_path / "devise"), "--dataset", "synthetic", "--split", str(split),
                            "--no-hp", "--out", str(tmp_path / "eval-devise"))
    assert code == 0, err


@pytest.mark.parametrize("args,notes", [
    (["--text-model", "minilm"], []),
    (["--method", "clip", "--image-model", "open_clip:ls-clip-tiny"],
     ["note: open_clip:ls-clip-tiny has random weights (seed 0): no pretrained tag or file given"]),
])
def test_classify_prints_no_third_party_lines(args, notes):
    """transformers' loading bars and open_clip's WARNING:root lines stay out; labelspace's own notes remain."""
    result = run_cli("classify", CAT, "--labels", "cat,dog", "--json", *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == notes
    assert {r["label"] for r in json.loads(result.stdout)[0]["labels"]} == {"cat", "dog"}


@pytest.mark.parametrize("args,name", [
    ([], "score (uncalibrated)"),  # ConSE: a softmax of cosines at T = 0.05 ranks, but is no probability
    (["--method", "clip", "--image-model", "open_clip:ls-clip-tiny"], "probability"),  # CLIP's trained logit scale
])
def test_classify_calls_only_calibrated_numbers_probabilities(args, name, cli_main):
    code, out, _ = cli_main("classify", CAT, "--labels", "cat,dog", "--json", *args)
    [result] = json.loads(out)
    assert code == 0 and result["score_name"] == name and sum(r["score"] for r in result["labels"]) == pytest.approx(1)
    code, out, _ = cli_main("classify", CAT, "--labels", "cat,dog", *args)
    header = next(line for line in out.splitlines() if "rank" in line)
    assert code == 0 and re.findall(r"probability|score \(uncalibrated\)", header) == [name]


def test_classify_over_a_wordnet_subtree_shows_synsets_and_hedges(cli_main):
    """wordnet:n02121808 is domestic cat and its 18 hyponyms: every one is answered with its synset, the
    probabilities sum to 1 over the 19, and the hedged answer holds the mass of its subtree's answers."""
    from labelspace.vocab.labelsets import wordnet

    code, out, err = cli_main("classify", CAT, "--labels", "wordnet:n02121808", "--top", "19", "--hedge", "0.5",
                              "--json")
    assert code == 0 and err == ""
    [result] = json.loads(out)
    ranked, hedge = result["labels"], result["hedge"]
    assert len(ranked) == 19 and sum(r["score"] for r in ranked) == pytest.approx(1, abs=1e-6)
    net = wordnet()
    assert {r["wnid"] for r in ranked} == set(net.descendants("n02121808"))
    lemmas = [r["label"].removesuffix(f" ({r['wnid']})") for r in ranked]  # two tabbies: "tabby (n02123045)"
    assert [r["path"].split(" < ")[0] for r in ranked] == lemmas and len(set(lemmas)) == 18
    assert all("domestic cat" in r["path"] and r["gloss"] for r in ranked)
    assert ranked[0]["label"] == "tiger cat"
    assert ranked[0]["path"] == "tiger cat < domestic cat < cat < feline < carnivore"
    under = set(net.descendants(hedge["wnid"]))
    assert hedge["probability"] == pytest.approx(sum(r["score"] for r in ranked if r["wnid"] in under), abs=1e-6)
    assert hedge["probability"] >= 0.5 and set(hedge) == {"label", "probability", "wnid", "gloss", "path"}


def test_classify_notes_the_synsets_the_text_model_cannot_name(cli_main):
    code, out, err = cli_main("classify", CAT, "--labels", "wordnet:n03497657", "--json")  # hats; sou'wester: no word
    assert code == 0 and [r["hedge"] for r in json.loads(out)] == [None]
    assert err.splitlines() == ["note: 1 of the 33 synsets of wordnet:n03497657 left out: the text model has no word "
                                "for them"]


@pytest.mark.slow
def test_classify_over_imagenet_21k_table_and_json(cli_main):
    """The table (80 columns: not a terminal) shows each answer's wnid, every word of its path and gloss whole."""
    code, out, err = cli_main("classify", CAT, "--labels", "imagenet-21k", "--json")
    assert code == 0 and err.startswith("note: 1 of the 20,842 synsets of imagenet-21k left out")
    ranked = json.loads(out)[0]["labels"]
    assert len(ranked) == 5 and all(re.fullmatch(r"n\d{8}", r["wnid"]) and " < " in r["path"] and r["gloss"]
                                    for r in ranked)
    assert any("cat" in r["path"].split(" < ") for r in ranked)
    code, table, _ = cli_main("classify", CAT, "--labels", "imagenet-21k")
    assert code == 0 and "path / gloss" in table
    words = set(re.split(r"[\s│]+", table))
    for r in ranked:
        assert r["wnid"] in words and set(r["path"].split()) <= words and set(r["gloss"].split()) <= words


@pytest.mark.parametrize("labels,hedge,message", [
    ("imagenet-1k", "0", "--hedge must be a probability in (0, 1], got 0.0"),
    ("imagenet-1k", "-0.5", "--hedge must be a probability in (0, 1], got -0.5"),
    ("imagenet-1k", "1.5", "--hedge must be a probability in (0, 1], got 1.5"),
    ("imagenet-1k", "nan", "--hedge must be a probability in (0, 1], got nan"),
    ("cat,dog", "0.5", "hedging answers over WordNet: name a WordNet label set (e.g. imagenet-21k)"),
])
def test_bad_hedge_is_one_line_exit_2_before_any_model_loads(labels, hedge, message, cli_main, monkeypatch):
    import labelspace.api

    monkeypatch.setattr(labelspace.api, "classifier", lambda *a, **k: pytest.fail("a model was loaded"))
    code, out, err = cli_main("classify", CAT, "--labels", labels, "--hedge", hedge)
    assert code == 2 and out == "" and err.startswith(f"error: {message}") and len(err.strip().splitlines()) == 1
