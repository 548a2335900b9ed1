"""Image-text models (CLIP, SigLIP, dual encoders) behind one interface and one spec string.

Specs (``load_clip``):

- ``open_clip:<arch>``: open_clip architecture, randomly initialised with a fixed seed (reproducible);
- ``open_clip:<arch>/<tag>``: open_clip pretrained tag, downloaded when online;
- ``open_clip:<arch>/<file>``: an open_clip state dict for that architecture;
- ``hf:<repo-or-dir>``: a Hugging Face CLIPModel, SigLIP or VisionTextDualEncoder model;
- ``<file>``: an OpenAI-format CLIP state dict, or labelspace's own safetensors (``save_clip``).

Every model gives ``encode_image(batch)``, ``encode_text(texts)`` (unnormalised float32 embeddings on
the model's device), ``logit_scale``, ``preprocess(PIL)`` and ``cache_key`` (weights, preprocessing and
precision, never the device). It is also an image encoder for ``data.extract_features`` (``name``,
``feature_dim``, ``encode``), so CLIP image features are cached like any other. ``load_clip(spec,
device=, precision=)`` puts it on a device (``labelspace.devices``); inputs and every probe follow the
model's device, and bf16/fp16 run under autocast.

Causal text towers skip the padding: open_clip pads every text to 77 tokens, but with a causal
mask and pooling at the end-of-text token the tokens after it cannot change the result, so
labelspace runs the tower on the batch's real length (same embeddings, much less compute).
"""
from __future__ import annotations

import difflib
import json
import logging
import math
import os
from functools import lru_cache
from pathlib import Path

import torch

from labelspace.cache import file_digest
from labelspace.devices import Placed, module_device, resolve_device, resolve_precision
from labelspace.encoders.checkpoints import (asks_for_code, check_ceilings, check_fit, load_state_dict, probe_fit,
                                             refuse_custom_code, shapes)
from labelspace.errors import LabelspaceError
from labelspace.finite import require_finite_tensors
from labelspace.hub import offline_unless_reachable
from labelspace.notes import load_failed, note, quiet
from labelspace.registry import CLIP_MODELS

FORMAT = "labelspace-clip-v1"
OPENAI_EXTRAS = {"input_resolution", "context_length", "vocab_size"}  # in OpenAI's released state dicts only
log = logging.getLogger("labelspace")
RANDOM_SEED = 0
SCHEMAS = ("hf-hub:", "local-dir:")
PRESETS = Path(__file__).resolve().parents[1] / "presets" / "open_clip"  # packaged configs, e.g. ls-clip-tiny


def open_clip_with_presets():
    """open_clip with labelspace's packaged architectures added (as open_clip's own configs are, at import)."""
    import open_clip

    if "ls-clip-tiny" not in open_clip.list_models():
        open_clip.add_model_config(PRESETS)
    return open_clip


def _pooled(output) -> torch.Tensor:
    """transformers >= 5 returns an output object from ``get_*_features``; older versions a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class ImageTextModel(Placed):
    """A frozen image-text dual encoder in eval mode; subclasses set the attributes and two encoders."""

    name: str
    cache_key: str
    embed_dim: int
    logit_scale: float
    logit_bias: float | None = None
    transform = None
    head = None  # no ImageNet head: ConSE does not apply

    @property
    def feature_dim(self) -> int:
        return self.embed_dim

    def preprocess(self, image) -> torch.Tensor:
        return self.transform(image)

    @torch.inference_mode()
    def encode(self, batch: torch.Tensor) -> torch.Tensor:
        """Image embeddings of a preprocessed batch as float32 on the CPU (the contract of ``extract_features``)."""
        return self.encode_image(batch).cpu()

    def encode_image(self, batch: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        raise NotImplementedError

    def _set_dims(self, net) -> None:
        net.requires_grad_(False)
        self.device = module_device(net)  # a model built on a GPU (training's export) probes there
        self.logit_scale = float(net.logit_scale.exp())
        bias = getattr(net, "logit_bias", None)
        self.logit_bias = None if bias is None else float(bias)
        with torch.inference_mode():
            self.embed_dim = int(self.encode_text(["a"]).shape[1])


def _causal_text_tower(net):
    """(tower, pool type, eos id, pad id) when trailing padding cannot change the text embedding, else None."""
    import open_clip
    from open_clip.transformer import TextTransformer

    if isinstance(net, open_clip.CLIP):
        tower, pool, eos, pad = net, net.text_pool_type, getattr(net, "text_eos_id", None), 0
    elif isinstance(getattr(net, "text", None), TextTransformer) and net.text.cls_emb is None and not net.text.use_pad_mask:
        tower, pool, eos, pad = net.text, net.text.pool_type, net.text.eos_id, net.text.pad_id
    else:
        return None
    if tower.attn_mask is None or pool not in ("argmax", "eos", "first"):
        return None
    return tower, pool, eos, pad


class OpenCLIPModel(ImageTextModel):
    """An open_clip model with its eval transform and tokenizer.

    ``save_info`` says how to rebuild it from a labelspace safetensors file (model/preprocess config).
    """

    def __init__(self, net, transform, tokenizer, name: str, weights: str, save_info: dict):
        from labelspace.data.loader import fast_tokenizer

        self.net, self.transform, self.tokenizer = net.eval(), transform, tokenizer
        self.fast_tokenizer = fast_tokenizer(tokenizer)  # the same ids, each distinct word encoded once
        self.name, self.save_info = name, save_info
        self.cache_key = f"{name}|{weights}|{transform}"
        self.causal = _causal_text_tower(self.net)
        self._set_dims(self.net)

    @torch.inference_mode()
    def encode_image(self, batch: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.net.encode_image(batch.to(self.device, non_blocking=True)).float()

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        return self.fast_tokenizer(list(texts))

    @torch.inference_mode()
    def encode_text(self, texts: list[str], trim: bool = True) -> torch.Tensor:
        return self.encode_tokens(self.tokenize(texts), trim)

    @torch.inference_mode()
    def encode_tokens(self, tokens: torch.Tensor, trim: bool = True) -> torch.Tensor:
        """Text embeddings of token ids from ``tokenize`` (on any device: they move to the model's)."""
        with self.autocast():
            if not trim or self.causal is None:
                return self.net.encode_text(tokens.to(self.device, non_blocking=True)).float()
            return trimmed_text_forward(self.causal, tokens).float()


def trimmed_text_forward(causal, tokens: torch.Tensor) -> torch.Tensor:
    """Text embeddings (unnormalised) of a causal open_clip tower run on the batch's real length only.

    ``causal`` is ``_causal_text_tower(net)``; with gradients too (CLIP training uses it). The real
    length is found where the tokens are (on the CPU: no device sync), then they move to the tower's device.
    """
    from open_clip.transformer import text_global_pool

    tower, pool, eos, pad = causal
    positions = torch.arange(1, tokens.shape[1] + 1, device=tokens.device)
    n = int((tokens.ne(pad) * positions).max())  # real length: last non-padding token
    tokens = tokens[:, :n].to(tower.token_embedding.weight.device, non_blocking=True)
    cast = tower.transformer.get_cast_dtype()
    x = tower.token_embedding(tokens).to(cast) + tower.positional_embedding[:n].to(cast)
    x = tower.ln_final(tower.transformer(x, attn_mask=tower.attn_mask[:n, :n]))
    x = text_global_pool(x, tokens, pool, eos_token_id=eos)
    projection = tower.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Module) else x @ projection


class HFModel(ImageTextModel):
    """A Hugging Face dual encoder: CLIPModel, SiglipModel or VisionTextDualEncoderModel."""

    def __init__(self, net, image_processor, tokenizer, name: str, weights: str):
        self.net, self.image_processor, self.tokenizer = net.eval(), image_processor, tokenizer
        self.name = name
        self.cache_key = f"{name}|{weights}|{image_processor.to_json_string()}"
        # SigLIP was trained on texts padded to the full length and pools the last token: keep that padding.
        config = net.config
        self.padding = {"padding": "max_length", "max_length": config.text_config.max_position_embeddings} \
            if config.model_type.startswith("siglip") else {"padding": "longest"}
        self._set_dims(self.net)

    def preprocess(self, image) -> torch.Tensor:
        return self.image_processor(images=image, return_tensors="pt")["pixel_values"][0]

    @torch.inference_mode()
    def encode_image(self, batch: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return _pooled(self.net.get_image_features(pixel_values=batch.to(self.device, non_blocking=True))).float()

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        inputs = self.tokenizer(list(texts), truncation=True, return_tensors="pt", **self.padding)
        kwargs = {"attention_mask": inputs["attention_mask"].to(self.device)} if "attention_mask" in inputs else {}
        with self.autocast():
            return _pooled(self.net.get_text_features(input_ids=inputs["input_ids"].to(self.device), **kwargs)).float()


# ---------------------------------------------------------------- open_clip


def _tokenizer_for(text_cfg: dict):
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer

    kwargs = dict(text_cfg.get("tokenizer_kwargs") or {})
    length = text_cfg.get("context_length", 77)
    if text_cfg.get("hf_tokenizer_name"):
        return HFTokenizer(text_cfg["hf_tokenizer_name"], context_length=length, **{**kwargs, "trust_remote_code": False})
    return SimpleTokenizer(context_length=length, **kwargs)


def _open_clip_from_config(model_cfg: dict):
    """An open_clip model from a config dict (the JSON of ``open_clip/model_configs``)."""
    import open_clip

    cfg = dict(model_cfg)
    cfg.pop("preprocess_cfg", None)
    custom = cfg.pop("custom_text", False) or "hf_model_name" in cfg.get("text_cfg", {})
    return (open_clip.CustomTextCLIP if custom else open_clip.CLIP)(**cfg)


def _transform_for(net, preprocess_cfg: dict | None = None):
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    cfg = preprocess_cfg or open_clip.get_model_preprocess_cfg(net)
    return image_transform_v2(PreprocessCfg(**cfg), is_train=False)


def _numbers(value, positive: bool) -> bool:
    """``value`` is a JSON list of 3 finite numbers (one per RGB channel), above 0 when ``positive``."""
    return isinstance(value, list) and len(value) == 3 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (v > 0 or not positive)
        for v in value)


def _checked_preprocess(source: str, cfg: dict, net) -> dict:
    """A file's ``preprocess_cfg`` when each field is one open_clip's eval transform takes and its size is the
    model's own image size (absent fields take open_clip's defaults)."""
    from open_clip.utils import to_2tuple

    height, width = to_2tuple(net.visual.image_size)
    sizes = [[height, width], *([height] if height == width else [])]
    accepted = {"size": (lambda v: repr(v) in map(repr, sizes), " or ".join(map(repr, sizes))),
                "mode": (lambda v: v == "RGB", "'RGB'"),
                "mean": (lambda v: _numbers(v, positive=False), "a list of 3 finite numbers"),
                "std": (lambda v: _numbers(v, positive=True), "a list of 3 positive finite numbers"),
                "interpolation": (lambda v: v in ("bicubic", "bilinear", "random"), "bicubic, bilinear or random"),
                "resize_mode": (lambda v: v in ("shortest", "longest", "squash"), "shortest, longest or squash"),
                "fill_color": (lambda v: type(v) is int and 0 <= v <= 255, "an integer from 0 to 255")}
    for key, value in cfg.items():
        if key not in accepted:
            raise LabelspaceError(f"{source} has unknown field preprocess_cfg.{key} (accepted: {', '.join(accepted)})")
        valid, what = accepted[key]
        if not valid(value):
            raise LabelspaceError(f"{source} declares preprocess_cfg.{key} = {value!r} (accepted: {what})")
    return cfg


def _fit_state_dict(net, state: dict, source: str, target: str) -> None:
    """Load ``state`` into ``net``; keys or shapes that don't fit are a clear error naming them."""
    from open_clip.model import convert_to_custom_text_state_dict

    if "positional_embedding" in state and not hasattr(net, "positional_embedding"):
        state = convert_to_custom_text_state_dict(state)
    for key in OPENAI_EXTRAS:
        state.pop(key, None)
    check_fit(shapes(net.state_dict()), shapes(state), source, target)
    require_finite_tensors(state, f"checkpoint {source!r}", "it comes from a diverged run")
    net.load_state_dict(state, strict=False)  # every key was checked above


def _integers(data, prefix: str) -> dict[str, int]:
    """Every integer in a JSON value, by field (``model_cfg.vision_cfg.layers``; list items ``layers[0]``)."""
    if isinstance(data, (dict, list)):
        items = [(f"{prefix}.{k}", v) for k, v in data.items()] if isinstance(data, dict) \
            else [(f"{prefix}[{i}]", v) for i, v in enumerate(data)]
        return {field: n for name, value in items for field, n in _integers(value, name).items()}
    return {prefix: data} if isinstance(data, int) and not isinstance(data, bool) else {}


def _file_configs(path: str, metadata: dict) -> tuple[dict, dict]:
    """The model and preprocess configs a labelspace CLIP file declares, checked before anything is built: no
    code asked for, sizes within ``CEILINGS``, timm towers by architecture name and Hugging Face towers from
    local folders only (no code there either), and no pretrained weights fetched: the file holds every weight."""
    source = f"checkpoint {path!r} metadata"
    try:
        configs = {name: json.loads(metadata.get(name, "null")) for name in ("model_cfg", "preprocess_cfg")}
    except json.JSONDecodeError as e:
        raise LabelspaceError(f"{source} is not valid JSON ({e})") from e
    for name, cfg in configs.items():
        if not isinstance(cfg, dict):
            raise LabelspaceError(f"{source} {name} is a JSON {type(cfg).__name__}, not the object save_clip writes")
        if asks_for_code(cfg):
            raise LabelspaceError(f"{source} asks to run code ({asks_for_code(cfg)!r} in {name}): labelspace never "
                                  "runs code from model files")
        check_ceilings(source, _integers(cfg, name))
    model_cfg = configs["model_cfg"]
    vision, text = (model_cfg.get(k) if isinstance(model_cfg.get(k), dict) else {} for k in ("vision_cfg", "text_cfg"))
    timm_name = vision.get("timm_model_name")
    if timm_name:
        import timm

        if not timm.is_model(timm_name):
            raise LabelspaceError(f"{source} names timm model {timm_name!r}: not a timm architecture, and a file's "
                                  "metadata never downloads (accepted: a name in timm.list_models())")
    for key in ("hf_model_name", "hf_tokenizer_name"):
        if text.get(key):
            if not Path(text[key]).is_dir():
                raise LabelspaceError(f"{source} names Hugging Face model {text[key]!r} (text_cfg.{key}): not a local "
                                      "folder, and a file's metadata never downloads (accepted: a local folder)")
            refuse_custom_code(text[key])
    if vision:
        model_cfg = {**model_cfg, "vision_cfg": {**vision, "timm_model_pretrained": False}}
    if text:
        model_cfg = {**model_cfg, "text_cfg": {**text, "hf_model_pretrained": False}}
    return model_cfg, configs["preprocess_cfg"]


def _open_clip(arch: str, tag: str) -> OpenCLIPModel:
    open_clip = open_clip_with_presets()
    is_file = bool(tag) and os.path.isfile(tag)
    if not arch.startswith(SCHEMAS):
        known = open_clip.list_models()
        if arch not in known:
            close = difflib.get_close_matches(arch, known, n=6, cutoff=0.4)
            raise LabelspaceError(f"unknown open_clip model {arch!r} (close: {', '.join(close) or 'none'}; "
                                  f"{len(known)} known, see open_clip.list_models())")
        tags = open_clip.list_pretrained_tags_by_model(arch)
        if tag and not is_file and tag not in tags:
            raise LabelspaceError(f"unknown pretrained tag {tag!r} for open_clip:{arch} "
                                  f"(known: {', '.join(tags) or 'none'}; or a checkpoint file path)")
    if arch.startswith(SCHEMAS) or (tag and not is_file):  # weights from the hub or a local-dir
        offline = offline_unless_reachable()
        try:
            with quiet():
                net = open_clip.create_model(arch, pretrained=tag or None)
        except Exception as e:  # offline, or the hub refused
            reason = "the hub is unreachable and the weights are not in the local cache" if offline else \
                f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
            raise LabelspaceError(f"could not fetch open_clip:{arch}{'/' + tag if tag else ''} ({reason}); "
                                  f"offline, pass a checkpoint file: open_clip:{arch}/<file>") from e
        name, weights = f"open_clip:{arch}" + (f"/{tag}" if tag else ""), tag or arch
    else:  # architecture only: weights random (seeded, so reproducible) or from the file
        with torch.random.fork_rng(devices=[]), quiet():  # built on the CPU: no GPU's RNG touched
            torch.default_generator.manual_seed(RANDOM_SEED)
            net = open_clip.create_model(arch, pretrained=None, pretrained_text=False)
        name, weights = f"open_clip:{arch}", f"random-init-seed{RANDOM_SEED}"
        if is_file:
            _fit_state_dict(net, load_state_dict(tag), tag, f"open_clip:{arch}")
            name, weights = f"open_clip:{arch}/{tag}", file_digest(tag)
        else:
            note(f"open_clip:{arch} has random weights (seed {RANDOM_SEED}): no pretrained tag or file given")
    info = {"model_cfg": open_clip.get_model_config(arch), "preprocess_cfg": open_clip.get_model_preprocess_cfg(net)}
    return OpenCLIPModel(net, _transform_for(net), open_clip.get_tokenizer(arch), name, weights, info)


def _openai_state_dict(path: str, state: dict) -> OpenCLIPModel:
    """An OpenAI-format CLIP state dict (as in the original CLIP release): architecture read from the shapes."""
    from open_clip.model import build_model_from_openai_state_dict

    try:  # builds in fp16 (as OpenAI does), so reload the exact float weights afterwards
        net = build_model_from_openai_state_dict(dict(state), cast_dtype=None).float()
    except (RuntimeError, KeyError, AssertionError) as e:
        raise LabelspaceError(f"checkpoint {path!r} looks like an OpenAI CLIP state dict but does not fit one: "
                              f"{' '.join(str(e).split())[:300]}") from e
    _fit_state_dict(net, state, path, "the OpenAI CLIP architecture read from its shapes")
    from open_clip.tokenizer import SimpleTokenizer

    return OpenCLIPModel(net, _transform_for(net), SimpleTokenizer(context_length=net.context_length),
                         f"openai-state-dict:{path}", file_digest(path), {"source": "openai"})


def save_clip(model: OpenCLIPModel, path: str | os.PathLike) -> Path:
    """Write an open_clip model as safetensors whose metadata says how to rebuild it (atomic)."""
    from safetensors.torch import save

    from labelspace.io import atomic_write_bytes

    if not isinstance(model, OpenCLIPModel):
        raise LabelspaceError(f"save_clip writes open_clip models; {model.name!r} is a Hugging Face model "
                              "(use its save_pretrained folder with hf:<dir>)")
    metadata = {"format": FORMAT, "name": model.name,
                **{k: json.dumps(v) for k, v in model.save_info.items()}}
    state = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    return atomic_write_bytes(path, save(state, metadata=metadata))


def _checkpoint_file(path: str) -> OpenCLIPModel:
    state = load_state_dict(path)  # first: it turns a missing or corrupt file into a clear error
    metadata = {}
    if path.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
    if metadata.get("format") == FORMAT and "model_cfg" in metadata:
        model_cfg, preprocess_cfg = _file_configs(path, metadata)
        target = f"its own config ({metadata.get('name')})"
        probe_fit(lambda: _open_clip_from_config(model_cfg), shapes(state), path, target, _integers(model_cfg, "model_cfg"))
        net = _open_clip_from_config(model_cfg)
        _fit_state_dict(net, state, path, target)
        preprocess_cfg = _checked_preprocess(f"checkpoint {path!r} metadata", preprocess_cfg, net)
        return OpenCLIPModel(net, _transform_for(net, preprocess_cfg), _tokenizer_for(model_cfg.get("text_cfg", {})),
                             f"file:{path}", file_digest(path), {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg})
    if "text_projection" in state and ("visual.proj" in state or "visual.attnpool.positional_embedding" in state):
        if not OPENAI_EXTRAS & set(state):
            log.warning(f"{path}: read as an OpenAI CLIP state dict (QuickGELU); without OpenAI's "
                        f"{'/'.join(sorted(OPENAI_EXTRAS))} entries its keys fit open_clip's GELU models just as well: "
                        f"for an open_clip state dict name its architecture, open_clip:<arch>/{path}")
        return _openai_state_dict(path, state)
    raise LabelspaceError(f"checkpoint {path!r} is neither a labelspace CLIP file nor an OpenAI-format CLIP state dict "
                          f"(first keys: {list(state)[:4]}); for an open_clip state dict name its architecture: "
                          f"open_clip:<arch>/{path}")


# ---------------------------------------------------------------- Hugging Face


def _hf(source: str) -> HFModel:
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    if Path(source).is_dir():
        refuse_custom_code(source)
    else:
        offline_unless_reachable()
    try:
        with quiet(transformers=True):  # never the code of a hub repository either: no prompt, refused
            net = AutoModel.from_pretrained(source, dtype=torch.float32, trust_remote_code=False,  # precision: autocast's
                                            use_safetensors=True)
            tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
            image_processor = AutoImageProcessor.from_pretrained(source, trust_remote_code=False)
    except Exception as e:  # missing files, no hub, or weights refused (a pickle where safetensors belong)
        raise load_failed(f"Hugging Face model {source!r}", e) from e
    if not (hasattr(net, "get_image_features") and hasattr(net, "get_text_features")):
        raise LabelspaceError(f"Hugging Face model {source!r} is a {type(net).__name__}, not an image-text dual encoder "
                              "(accepted: CLIPModel, SiglipModel, VisionTextDualEncoderModel)")
    if Path(source).is_dir():
        files = sorted(p for p in Path(source).iterdir() if p.suffix in (".safetensors", ".bin", ".json"))
        weights = ";".join(file_digest(p) for p in files)
    else:
        weights = str(getattr(net.config, "_commit_hash", None) or "hub")
    return HFModel(net, image_processor, tokenizer, f"hf:{source}", weights)


@CLIP_MODELS.register("open_clip", argument="<arch>[/<tag>|/<file>]", offline=False,
                      description="any open_clip model: <arch> alone is seeded random init, a tag downloads when "
                      "online, <file> a local state dict")
def _open_clip_spec(argument: str) -> OpenCLIPModel:
    if argument.startswith(SCHEMAS):  # these carry their own slashes and weights
        return _open_clip(argument, "")
    arch, _, tag = argument.partition("/")
    return _open_clip(arch, tag)


@CLIP_MODELS.register("hf", argument="<repo-or-dir>", description="Hugging Face CLIP, SigLIP or dual encoder")
def _hf_spec(argument: str) -> HFModel:
    return _hf(argument)


@CLIP_MODELS.register("<file>", fallback=True,
                      description="OpenAI-format CLIP state dict or labelspace safetensors (save_clip)")
def _file_spec(argument: str) -> OpenCLIPModel:
    if not os.path.isfile(argument):
        raise LabelspaceError(f"unknown CLIP model {argument!r} (accepted: {CLIP_MODELS.accepted()})")
    return _checkpoint_file(argument)


def is_clip_spec(spec: str) -> bool:
    """Whether ``spec`` names a CLIP model: one of ``CLIP_MODELS``' entries (``open_clip:``, ``hf:``, ``run:``) or,
    its fallback, an existing file. The one test of it, for every command that also takes other models."""
    return CLIP_MODELS.names(spec) or os.path.isfile(spec)


def load_clip(spec: str, device="cpu", precision: str = "fp32") -> ImageTextModel:
    """The image-text model behind ``spec`` (see the module docstring) on ``device`` in ``precision``.

    Loaded models are kept per process and device.
    """
    device = resolve_device(device)
    return _load_clip(spec, str(device), resolve_precision(precision, device))


@lru_cache(maxsize=4)
def _load_clip(spec: str, device: str, precision: str) -> ImageTextModel:
    return CLIP_MODELS.create(spec).to(device, precision)


load_clip.cache_clear = _load_clip.cache_clear
