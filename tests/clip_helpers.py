"""Tiny real architectures for CLIP tests: open_clip configs and Hugging Face folders, built offline."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import torch

TINY_VIT = {"embed_dim": 32, "quick_gelu": True,
            "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 16},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 2}}
TINY_CUSTOM_TEXT = {**TINY_VIT, "custom_text": True}


def register_tiny_configs(folder: Path) -> None:
    """Register ``ls-tiny-vit`` and ``ls-tiny-custom-text`` with open_clip (by writing their JSON)."""
    import open_clip

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ls-tiny-vit.json").write_text(json.dumps(TINY_VIT))
    (folder / "ls-tiny-custom-text.json").write_text(json.dumps(TINY_CUSTOM_TEXT))
    open_clip.add_model_config(folder)


def reference_open_clip(arch: str, seed: int = 1):
    """A randomly initialised open_clip model built by open_clip itself (eval mode)."""
    import open_clip

    torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms(arch)
    return model.eval(), preprocess, open_clip.get_tokenizer(arch)


def clip_tokenizer_files(folder: Path) -> tuple[Path, Path]:
    """vocab.json and merges.txt of the real CLIP BPE tokenizer, from the vocabulary open_clip ships."""
    from open_clip.tokenizer import SimpleTokenizer, default_bpe

    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = folder / "vocab.json", folder / "merges.txt"
    names = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}  # Hugging Face's spelling
    vocab.write_text(json.dumps({names.get(k, k): v for k, v in SimpleTokenizer().encoder.items()}))
    lines = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    merges.write_text("#version: 0.2\n" + "\n".join(lines) + "\n")
    return vocab, merges


def hf_clip_folder(folder: Path, kind: str = "clip") -> Path:
    """Save a tiny randomly initialised CLIPModel, SiglipModel or VisionTextDualEncoderModel with processors."""
    import transformers as tf

    torch.manual_seed(2)
    folder.mkdir(parents=True, exist_ok=True)
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                  patch_size=16)
    if kind == "dual":
        words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "the", "cat", "dog", "car", "."]
        (folder / "vocab.txt").write_text("\n".join(words) + "\n")
        tokenizer = tf.BertTokenizer(str(folder / "vocab.txt"))
        config = tf.VisionTextDualEncoderConfig.from_vision_text_configs(
            tf.ViTConfig(**vision), tf.BertConfig(vocab_size=len(words), **text), projection_dim=16)
        net = tf.VisionTextDualEncoderModel(config)
        processor = tf.ViTImageProcessor(size={"height": 32, "width": 32})
    else:
        vocab, merges = clip_tokenizer_files(folder / "bpe")
        tokenizer = tf.CLIPTokenizer(str(vocab), str(merges))
        if kind == "siglip":
            net = tf.SiglipModel(tf.SiglipConfig(text_config={**text, "vocab_size": 49408, "max_position_embeddings": 16},
                                                 vision_config=vision))
            processor = tf.SiglipImageProcessor(size={"height": 32, "width": 32})
        else:
            net = tf.CLIPModel(tf.CLIPConfig(text_config={**text, "vocab_size": 49408}, vision_config=vision,
                                             projection_dim=16))
            processor = tf.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    net.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
