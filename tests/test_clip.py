"""CLIP models, prompt templates, the classifier builder and the pipeline, against open_clip and transformers."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import clip_helpers as h
from labelspace.errors import LabelspaceError
from labelspace.models import load_clip, save_clip
from labelspace.zeroshot import build_classifier, class_prompts, template_set

TEXTS = ["a photo of a cat", "an extremely long and detailed description of a small brown dog on a red mat", "x"]


@pytest.fixture(scope="module", autouse=True)
def tiny_configs(tmp_path_factory):
    h.register_tiny_configs(tmp_path_factory.mktemp("configs"))


@pytest.fixture(scope="module")
def image():
    return Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype("uint8"))


def assert_same_embeddings(model, ref, preprocess, tokenizer, image):
    with torch.no_grad():
        ref_text = ref.encode_text(tokenizer(TEXTS))
        ref_image = ref.encode_image(preprocess(image)[None])
    assert torch.allclose(model.encode_text(TEXTS), ref_text, atol=1e-5)
    assert torch.allclose(model.encode_image(model.preprocess(image)[None]), ref_image, atol=1e-5)


@pytest.mark.parametrize("arch", ["ls-tiny-vit", "ls-tiny-custom-text"])
def test_open_clip_state_dict_matches_open_clip(tmp_path, arch, image):
    ref, preprocess, tokenizer = h.reference_open_clip(arch)
    torch.save(ref.state_dict(), tmp_path / "weights.pt")
    model = load_clip(f"open_clip:{arch}/{tmp_path / 'weights.pt'}")
    assert model.causal is not None  # the text tower runs at the real length, not 77 tokens
    assert_same_embeddings(model, ref, preprocess, tokenizer, image)
    assert model.logit_scale == pytest.approx(float(ref.logit_scale.detach().exp()))


def test_openai_state_dict_and_labelspace_safetensors_match(tmp_path, image):
    ref, preprocess, tokenizer = h.reference_open_clip("ls-tiny-vit")  # QuickGELU, 64-wide heads: OpenAI's layout
    torch.save(ref.state_dict(), tmp_path / "openai.pt")
    openai = load_clip(str(tmp_path / "openai.pt"))
    assert openai.name.startswith("openai-state-dict:")
    assert_same_embeddings(openai, ref, preprocess, tokenizer, image)
    save_clip(openai, tmp_path / "own.safetensors")
    assert_same_embeddings(load_clip(str(tmp_path / "own.safetensors")), ref, preprocess, tokenizer, image)


def test_random_init_is_reproducible_and_trimmed_text_equals_padded():
    model = load_clip("open_clip:ls-tiny-vit")
    load_clip.cache_clear()
    again = load_clip("open_clip:ls-tiny-vit")
    assert model is not again and "random-init" in model.cache_key
    assert torch.equal(model.encode_text(TEXTS), again.encode_text(TEXTS))
    assert torch.allclose(model.encode_text(TEXTS), model.encode_text(TEXTS, trim=False), atol=1e-5)


@pytest.mark.parametrize("kind", ["clip", "siglip", "dual"])
def test_hugging_face_models_match_transformers(tmp_path, kind, image):
    import transformers as tf

    folder = h.hf_clip_folder(tmp_path / kind, kind)
    model = load_clip(f"hf:{folder}")
    ref = tf.AutoModel.from_pretrained(folder).eval()
    tokenizer, processor = tf.AutoTokenizer.from_pretrained(folder), tf.AutoImageProcessor.from_pretrained(folder)
    padding = {"padding": "max_length", "max_length": 16} if kind == "siglip" else {"padding": True}
    inputs = tokenizer(TEXTS, return_tensors="pt", truncation=True, **padding)
    with torch.no_grad():
        text = ref.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        pixels = processor(images=image, return_tensors="pt")["pixel_values"]
        img = ref.get_image_features(pixel_values=pixels)
    text, img = [x if isinstance(x, torch.Tensor) else x.pooler_output for x in (text, img)]
    assert torch.allclose(model.encode_text(TEXTS), text, atol=1e-5)
    assert torch.allclose(model.encode_image(model.preprocess(image)[None]), img, atol=1e-5)
    assert (model.logit_bias is not None) == (kind == "siglip")


def test_bad_models_and_checkpoints_are_one_line_errors(tmp_path):
    with pytest.raises(LabelspaceError, match="unknown open_clip model 'ViT-B-33'.*ViT-B-32"):
        load_clip("open_clip:ViT-B-33")
    with pytest.raises(LabelspaceError, match="unknown pretrained tag 'nope'.*laion2b_s34b_b79k"):
        load_clip("open_clip:ViT-B-32/nope")
    with pytest.raises(LabelspaceError, match="unknown CLIP model"):
        load_clip("clip-of-my-dreams")
    ref, _, _ = h.reference_open_clip("ls-tiny-vit")
    state = ref.state_dict()
    state["extra.weight"] = state.pop("ln_final.weight")
    torch.save(state, tmp_path / "renamed.pt")
    with pytest.raises(LabelspaceError, match=r"missing keys \['ln_final.weight'\], unexpected keys \['extra.weight'\]"):
        load_clip(f"open_clip:ls-tiny-vit/{tmp_path / 'renamed.pt'}")
    torch.save({"model": h.TINY_VIT, "net": torch.nn.Linear(2, 2)}, tmp_path / "pickle.pt")
    with pytest.raises(LabelspaceError, match="refusing to unpickle"):
        load_clip(str(tmp_path / "pickle.pt"))


def test_templates_sets_files_and_bad_input(tmp_path):
    import open_clip

    assert template_set("openai") == [t("{}") for t in open_clip.OPENAI_IMAGENET_TEMPLATES] and len(template_set("openai")) == 80
    assert class_prompts(["cat"], ["a {}.", "a {}.", "the {}"]) == [["a cat.", "the cat"]]  # templates deduplicated
    (tmp_path / "t.txt").write_text("# mine\na drawing of a {}.\n\n")
    assert class_prompts(["dog"], str(tmp_path / "t.txt")) == [["a drawing of a dog."]]
    (tmp_path / "cupl.json").write_text(json.dumps({"cat": ["a fluffy cat", "a cat"], "dog": ["a loyal dog"]}))
    assert class_prompts(["dog", "cat"], str(tmp_path / "cupl.json")) == [["a loyal dog"], ["a fluffy cat", "a cat"]]
    with pytest.raises(LabelspaceError, match="lack class"):
        class_prompts(["bird"], str(tmp_path / "cupl.json"))
    with pytest.raises(LabelspaceError, match="has no '{}'"):
        class_prompts(["cat"], ["a photo of a cat"])
    with pytest.raises(LabelspaceError, match="class list is empty"):
        class_prompts([], "openai")
    with pytest.raises(LabelspaceError, match="unknown template set"):
        class_prompts(["cat"], "imaginary")


def test_classifier_equals_open_clip_builder_and_is_cached(tmp_path, monkeypatch):
    import open_clip

    model = load_clip("open_clip:ls-tiny-vit")
    classes = ["cat", "dog", "aeroplane", "sea anemone", "cat"]  # a duplicated class name
    weights = build_classifier(model, classes, "openai", batch_size=100, cache_dir=tmp_path)
    ref = open_clip.build_zero_shot_classifier(model.net, model.tokenizer, classes, open_clip.OPENAI_IMAGENET_TEMPLATES)
    assert weights.shape == (5, 32)
    np.testing.assert_allclose(weights, ref.T.numpy(), atol=1e-5)
    np.testing.assert_array_equal(weights[0], weights[4])
    assert len(list((tmp_path / "classifiers").glob("*.npy"))) == 1

    from labelspace.zeroshot import clear_memory

    clear_memory()
    monkeypatch.setattr(model, "encode_text", lambda texts: pytest.fail("cached classifier re-encoded text"))
    np.testing.assert_array_equal(build_classifier(model, classes, "openai", cache_dir=tmp_path), weights)


def test_pipeline_sorted_probabilities_and_cached_labels(tmp_path, image, monkeypatch):
    from labelspace import pipeline

    ref, _, _ = h.reference_open_clip("ls-tiny-vit")
    torch.save(ref.state_dict(), tmp_path / "w.pt")
    monkeypatch.setenv("LABELSPACE_CACHE", str(tmp_path / "cache"))
    classify = pipeline(str(tmp_path / "w.pt"), templates="simple")
    ranked = classify(image, candidate_labels=["cat", "dog", "car"])
    assert [set(r) for r in ranked] == [{"label", "score"}] * 3
    scores = [r["score"] for r in ranked]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1.0, abs=1e-5)
    calls = []
    monkeypatch.setattr(classify.classifier.model, "encode_text", lambda texts: calls.append(texts))
    again = classify([image, image], candidate_labels=["cat", "dog", "car"], top_k=2)[1]
    assert [r["label"] for r in again] == [r["label"] for r in ranked[:2]]
    assert [r["score"] for r in again] == pytest.approx(scores[:2], abs=1e-6)
    assert calls == []


def test_classify_cli_method_clip(tmp_path, image):
    from typer.testing import CliRunner

    from labelspace.cli import app

    ref, _, _ = h.reference_open_clip("ls-tiny-vit")
    torch.save(ref.state_dict(), tmp_path / "w.pt")
    image.save(tmp_path / "a.png")
    result = CliRunner().invoke(app, ["classify", str(tmp_path / "a.png"), "--labels", "cat,dog", "--method", "clip",
                                      "--image-model", str(tmp_path / "w.pt"), "--templates", "photo", "--json"])
    assert result.exit_code == 0, result.output
    assert {r["label"] for r in json.loads(result.stdout)[0]["labels"]} == {"cat", "dog"}


def test_siglip_probabilities_equal_transformers_sigmoid_logits(tmp_path, image):
    """SigLIP scores each label alone: sigmoid of its logit, as SiglipModel's own forward pass gives it."""
    import transformers as tf

    from labelspace.methods.clip import CLIPClassifier

    folder = h.hf_clip_folder(tmp_path / "siglip", "siglip")
    labels = ["cat", "dog", "car"]
    clf = CLIPClassifier(f"hf:{folder}", templates="plain", cache_dir=tmp_path / "cache")
    probabilities = clf.probabilities(clf.model.encode_image(clf.model.preprocess(image)[None]).numpy(), labels)
    ref = tf.AutoModel.from_pretrained(folder).eval()
    tokens = tf.AutoTokenizer.from_pretrained(folder)(labels, return_tensors="pt", padding="max_length", max_length=16)
    pixels = tf.AutoImageProcessor.from_pretrained(folder)(images=image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        logits = ref(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], pixel_values=pixels)
        expected = torch.sigmoid(logits.logits_per_image).numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert not np.allclose(probabilities.sum(axis=1), 1.0)  # independent per label, not a softmax


def test_a_large_build_is_chunked_announced_and_equals_open_clip(tmp_path, caplog, monkeypatch):
    import open_clip

    from labelspace.models import load_clip
    from labelspace.zeroshot import build_classifier, classifier as builder

    monkeypatch.setattr(builder, "LARGE_BUILD", 100)  # 12 labels x 80 templates stand for 82K x 80
    monkeypatch.setattr(builder, "CHUNK_PROMPTS", 200)
    model = load_clip("open_clip:ls-tiny-vit")
    classes = ["cat", "dog", "aeroplane", "sea anemone", "tiger cat", "domestic cat", "red fox", "kit fox", "tench",
               "goldfish", "great white shark", "hammerhead"]
    with caplog.at_level("WARNING", logger="labelspace"):
        weights = build_classifier(model, classes, "openai", batch_size=64, cache_dir=tmp_path)
    ref = open_clip.build_zero_shot_classifier(model.net, model.tokenizer, classes, open_clip.OPENAI_IMAGENET_TEMPLATES)
    np.testing.assert_allclose(weights, ref.T.numpy(), atol=1e-5)
    notes = [r.getMessage() for r in caplog.records if "prompts" in r.getMessage()]
    assert len(notes) == 2 and notes[0].startswith("encoding 960 prompts (12 labels x 80 templates) in batches")
    assert notes[1].startswith("about ") and "min left for the 960 prompts" in notes[1]
