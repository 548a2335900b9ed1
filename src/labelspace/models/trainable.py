"""Trainable CLIP models: an open_clip architecture by name, or an image tower plus a text tower.

A ``ModelSpec`` (plain data, stored in every checkpoint) says what to build:

- ``model="open_clip:<arch>[/<tag>]"``: any open_clip architecture (``open_clip.list_models()``, plus the
  packaged ``ls-clip-tiny``: 56 px ViT, 2-layer width-64 text transformer), seeded random init or a
  pretrained tag; its config sets the embedding size, image size and context length (the fields below are
  the towers');
- ``model="towers"``: ``image`` = ``timm:<name>`` (timm model, ``pretrained_image`` for hub weights) or
  ``efficientnet-lite0|1|2`` (packaged ImageNet weights); ``text`` = ``transformer:<width>x<layers>``
  (open_clip text transformer, from scratch) or ``minilm`` / ``hf:<dir>`` (Hugging Face encoder,
  mean-pooled); ``proj`` = ``linear`` or ``mlp`` projections into ``embed_dim``. Built as open_clip's
  ``CustomTextCLIP``, so locking and gradient checkpointing are open_clip's and timm's own.

``lock_image`` freezes the image tower except its last ``unlocked_image_groups`` layer groups (LiT:
a locked image tower), BatchNorm running statistics included; ``lock_text`` likewise with ``unlocked_text_layers``. ``loss="siglip"`` adds a
learned logit bias (SigLIP's initialisation); ``loss="clip"`` starts the scale at log(1/0.07).
"""
from __future__ import annotations

import itertools
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from labelspace.cache import file_digest
from labelspace.data.loader import fast_tokenizer, tokenize_counted
from labelspace.devices import module_device
from labelspace.encoders.checkpoints import probe_fit, refuse_custom_code, shapes, within
from labelspace.encoders.image import efficientnet_pooled
from labelspace.errors import LabelspaceError
from labelspace.hub import offline_unless_reachable
from labelspace.models.clip import ImageTextModel, _causal_text_tower, open_clip_with_presets, trimmed_text_forward
from labelspace.notes import quiet
from labelspace.registry import CLIP_MODELS
from labelspace.training.checkpoint import WEIGHTS, load_checkpoint, read_config
from labelspace.training.clip_losses import INIT_LOGIT_SCALE, LOSSES, SIGLIP_INIT

PROJECTIONS = ("linear", "mlp")
_VIEWS = itertools.count()  # numbers the EvalViews of this process


@dataclass
class ModelSpec:
    model: str = "open_clip:ls-clip-tiny"
    image: str | None = None
    text: str | None = None
    embed_dim: int = 64
    proj: str = "linear"
    pretrained_image: bool = False
    image_size: int = 224
    context_length: int = 32
    loss: str = "clip"
    lock_image: bool = False
    unlocked_image_groups: int = 0
    lock_text: bool = False
    unlocked_text_layers: int = 0
    seed: int = 0

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise LabelspaceError(f"unknown loss {self.loss!r} (accepted: {', '.join(LOSSES)})")
        if self.proj not in PROJECTIONS:
            raise LabelspaceError(f"unknown projection {self.proj!r} (accepted: {', '.join(PROJECTIONS)})")
        if self.model == "towers" and not (self.image and self.text):
            raise LabelspaceError("model 'towers' needs an image tower (timm:<name>, efficientnet-lite0|1|2) "
                                  "and a text tower (transformer:<width>x<layers>, minilm, hf:<dir>)")
        if self.model != "towers" and not self.model.startswith("open_clip:"):
            raise LabelspaceError(f"unknown model {self.model!r} (accepted: open_clip:<arch>[/<tag>], towers)")
        for name in ("embed_dim", "image_size", "context_length"):
            within("the CLIP model spec", f"model.{name}", getattr(self, name))

    @classmethod
    def from_json(cls, data: dict) -> "ModelSpec":
        """The spec a run's config.json ``model`` object holds, each field of its default's type (a file is data)."""
        if not isinstance(data, dict):
            raise LabelspaceError(f"a run's config.json 'model' must be an object of model settings, got {data!r:.60}")
        known = {f.name: f.default for f in fields(cls)}
        for name, value in data.items():
            default = known.get(name, value)
            if not (value is None is default or type(value) is (str if default is None else type(default))):
                raise LabelspaceError(f"a run's config.json has model.{name} = {value!r:.60} (accepted: a "
                                      f"{'str' if default is None else type(default).__name__}, as {default!r})")
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> dict:
        return asdict(self)


def _projection(width: int, embed_dim: int, kind: str) -> nn.Module:
    if kind == "mlp":
        hidden = (width + embed_dim) // 2
        return nn.Sequential(nn.Linear(width, hidden, bias=False), nn.GELU(), nn.Linear(hidden, embed_dim, bias=False))
    return nn.Linear(width, embed_dim, bias=False)


class EfficientNetLiteTower(nn.Module):
    """The packaged EfficientNet-Lite as an open_clip image tower: pooled 1280-d ``trunk`` then ``head``."""

    def __init__(self, name: str, embed_dim: int, proj: str):
        super().__init__()
        from labelspace.encoders.image import EfficientNetLite

        encoder = EfficientNetLite(name)
        self.trunk, self.transform, self.image_size = encoder.net, encoder.transform, encoder.image_size
        self.trunk._fc = nn.Identity()  # the ImageNet head is not part of the tower
        self.head = _projection(encoder.feature_dim, embed_dim, proj)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return efficientnet_pooled(self.trunk, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def lock(self, unlocked_groups: int = 0, freeze_bn_stats: bool = False) -> None:
        """Freeze the trunk except its last ``unlocked_groups`` blocks (the head conv counts as one); with
        ``freeze_bn_stats`` the locked BatchNorm layers keep their running statistics too (open_clip's rule)."""
        from open_clip.utils import freeze_batch_norm_2d

        groups = [*self.trunk._blocks, nn.ModuleList([self.trunk._conv_head, self.trunk._bn1])]
        self.trunk.requires_grad_(False)
        unlocked = groups[len(groups) - unlocked_groups:] if unlocked_groups else []
        for group in unlocked:
            group.requires_grad_(True)
        if freeze_bn_stats:
            free = {id(m) for group in unlocked for m in group.modules()}
            locked = {name for name, m in self.trunk.named_modules() if isinstance(m, nn.BatchNorm2d) and id(m) not in free}
            if locked:  # an empty set would mean "all" to open_clip
                freeze_batch_norm_2d(self.trunk, locked)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        raise LabelspaceError("the packaged EfficientNet-Lite tower does not support gradient checkpointing")


def _text_cfg(spec: ModelSpec, weights: bool) -> dict:
    text = spec.text
    if text.startswith("transformer:"):
        try:
            width, layers = (int(v) for v in text[12:].split("x"))
        except ValueError:
            raise LabelspaceError(f"text tower {text!r} must be transformer:<width>x<layers>, e.g. transformer:64x2") from None
        within(f"text tower {text!r}", "width", width)
        within(f"text tower {text!r}", "layers", layers)
        if spec.proj != "linear":
            raise LabelspaceError("the open_clip text transformer has a linear projection only (use --proj linear)")
        return {"context_length": spec.context_length, "vocab_size": 49408, "width": width,
                "heads": max(1, width // 64), "layers": layers}
    if text == "minilm" or text.startswith("hf:"):
        from labelspace.encoders.text import minilm_dir

        folder = minilm_dir() if text == "minilm" else text[3:]
        if not Path(folder).is_dir():
            raise LabelspaceError(f"Hugging Face text tower folder {folder!r} does not exist")
        refuse_custom_code(folder)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return {"hf_model_name": folder, "hf_tokenizer_name": folder, "hf_proj_type": spec.proj,
                "hf_pooler_type": "mean_pooler", "hf_model_pretrained": weights, "context_length": spec.context_length}
    raise LabelspaceError(f"unknown text tower {text!r} (accepted: transformer:<width>x<layers>, minilm, hf:<dir>)")


def _build_towers(spec: ModelSpec, bias_kwargs: dict, weights: bool):
    import open_clip

    image = spec.image
    if image.startswith("timm:"):
        import timm

        if not timm.is_model(image[5:]):
            raise LabelspaceError(f"unknown timm model {image[5:]!r} (see timm.list_models())")
        vision = {"timm_model_name": image[5:], "timm_model_pretrained": spec.pretrained_image and weights, "timm_pool": "avg",
                  "timm_proj": spec.proj, "image_size": spec.image_size}
    elif image.startswith("efficientnet-lite"):
        vision = {"image_size": 32, "layers": 1, "width": 8, "head_width": 8, "patch_size": 32}  # placeholder, replaced below
    else:
        raise LabelspaceError(f"unknown image tower {image!r} (accepted: timm:<name>, efficientnet-lite0|1|2)")
    text_cfg = _text_cfg(spec, weights)
    if spec.pretrained_image and weights:
        offline_unless_reachable()
    try:
        with quiet(transformers="hf_model_name" in text_cfg):  # transformers' "Loading weights" bar
            net = open_clip.CustomTextCLIP(spec.embed_dim, vision, text_cfg, **bias_kwargs)
    except Exception as e:  # hub unreachable for pretrained timm weights
        raise LabelspaceError(f"could not build towers {image} + {spec.text} ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:160] if str(e) else ''})") from e
    if image.startswith("efficientnet-lite"):
        from labelspace.encoders.image import EFFICIENTNET_LITE

        if image not in EFFICIENTNET_LITE:
            raise LabelspaceError(f"unknown image tower {image!r} (accepted: {', '.join(EFFICIENTNET_LITE)})")
        net.visual = EfficientNetLiteTower(image, spec.embed_dim, spec.proj)
        transform = net.visual.transform
    else:
        from open_clip.transform import PreprocessCfg, image_transform_v2

        transform = image_transform_v2(PreprocessCfg(**open_clip.get_model_preprocess_cfg(net)), is_train=False)
    tokenizer = (open_clip.tokenizer.HFTokenizer(text_cfg["hf_tokenizer_name"], context_length=spec.context_length,
                                                 trust_remote_code=False)
                 if "hf_model_name" in text_cfg else open_clip.tokenizer.SimpleTokenizer(context_length=spec.context_length))
    return net, transform, tokenizer, spec.embed_dim


def _build_named_open_clip(spec: ModelSpec, bias_kwargs: dict, weights: bool):
    """A registered open_clip architecture by name (random init or a pretrained tag) for training; its config
    sets the embedding size, image size, context length and projections (``spec``'s tower fields are not read)."""
    open_clip = open_clip_with_presets()
    arch, _, tag = spec.model[10:].partition("/")
    if arch not in open_clip.list_models():
        raise LabelspaceError(f"unknown open_clip model {arch!r} (see open_clip.list_models(); packaged: ls-clip-tiny)")
    tag = tag if weights else ""
    if tag:
        offline_unless_reachable()
    try:
        with quiet():  # on the default device: the CPU, or the meta device under probe_fit
            net, _, transform = open_clip.create_model_and_transforms(arch, pretrained=tag or None,
                                                                      device=torch.get_default_device(), **bias_kwargs)
    except Exception as e:
        raise LabelspaceError(f"could not build {spec.model} ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:160] if str(e) else ''})") from e
    context = net.context_length if hasattr(net, "context_length") else spec.context_length
    tokenizer = open_clip.get_tokenizer(arch, context_length=context)
    return net, transform, tokenizer, open_clip.get_model_config(arch)["embed_dim"]


class TrainableCLIP(nn.Module):
    """An open_clip net with its tokenizer and eval transform; ``forward`` gives unit embeddings and the scales.

    Inputs may be precomputed tower outputs for a locked tower (2-D float tensors: image trunk features,
    or pooled text features), so LiT trains its projections on cached features.
    """

    def __init__(self, spec: ModelSpec, weights: bool = True):
        """``weights=False``: the architecture only, no pretrained weights loaded (a checkpoint holds them all)."""
        super().__init__()
        bias_kwargs = {"init_logit_scale": SIGLIP_INIT[0], "init_logit_bias": SIGLIP_INIT[1]} \
            if spec.loss == "siglip" else {"init_logit_scale": INIT_LOGIT_SCALE}
        with torch.random.fork_rng(devices=[]):  # built on the CPU: no GPU's RNG touched
            torch.default_generator.manual_seed(spec.seed)
            build = _build_towers if spec.model == "towers" else _build_named_open_clip
            self.net, self.transform, tokenizer, self.embed_dim = build(spec, bias_kwargs, weights)
        self.tokenizer = fast_tokenizer(tokenizer)
        self.spec = spec
        if spec.lock_image:
            # BatchNorm running statistics are frozen too: a locked tower stays bit-identical in training
            self.net.lock_image_tower(unlocked_groups=spec.unlocked_image_groups, freeze_bn_stats=True)
        if spec.lock_text:
            self.net.lock_text_tower(unlocked_layers=spec.unlocked_text_layers)
        self.causal = _causal_text_tower(self.net)
        self.truncated = 0

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.net.set_grad_checkpointing(enable)

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        tokens, truncated = tokenize_counted(self.tokenizer, texts)
        self.truncated += truncated
        return tokens

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.net.logit_scale.device, non_blocking=True)
        if images.ndim == 2:  # trunk features of a locked tower
            return self.net.visual.head(images)
        return self.net.encode_image(images)

    def encode_text(self, texts) -> torch.Tensor:
        if isinstance(texts, torch.Tensor) and texts.is_floating_point():  # pooled features of a locked tower
            return self.net.text.proj(texts.to(self.net.logit_scale.device, non_blocking=True))
        tokens = self.tokenize(texts) if not isinstance(texts, torch.Tensor) else texts
        tokens = tokens.to(self.net.logit_scale.device)
        return trimmed_text_forward(self.causal, tokens) if self.causal else self.net.encode_text(tokens)

    @torch.no_grad()
    def tower_features(self, images: torch.Tensor | None = None, texts: list[str] | None = None) -> torch.Tensor:
        """What a locked tower feeds its projection: image trunk features or pooled text features."""
        if images is not None:
            visual, images = self.net.visual, images.to(self.net.logit_scale.device, non_blocking=True)
            return visual.features(images) if hasattr(visual, "features") else visual.trunk(images)
        text = self.net.text
        tokens = self.tokenizer(list(texts)).to(self.net.logit_scale.device)
        mask = (tokens != text.config.pad_token_id).long()
        return text.pooler(text.transformer(input_ids=tokens, attention_mask=mask), mask)

    def forward(self, images, texts):
        """(unit image embeddings, unit text embeddings, logit scale clamped to <= 100, logit bias or None)."""
        image = F.normalize(self.encode_image(images), dim=-1)
        text = F.normalize(self.encode_text(texts), dim=-1)
        bias = getattr(self.net, "logit_bias", None)
        return image, text, self.net.logit_scale.exp(), bias


class EvalView(ImageTextModel):
    """A frozen view of a ``TrainableCLIP`` for the evaluation code (zero-shot, retrieval); weights are shared.

    Make one view per evaluation: the weights change in between, so each view has its own ``cache_key``
    (classifier weights cached for one view are never reused by the next).
    """

    def __init__(self, model: TrainableCLIP, name: str, cache_key: str | None = None):
        self.model, self.name, self.transform = model, name, model.transform
        self.device = module_device(model)  # a model in training is evaluated where it trains
        self.cache_key = cache_key or f"{name}|in-training|view{next(_VIEWS)}"
        self.logit_scale = model.net.logit_scale.detach().exp().item()
        bias = getattr(model.net, "logit_bias", None)
        self.logit_bias = None if bias is None else bias.item()
        self.embed_dim = model.embed_dim

    @property
    def net(self) -> torch.nn.Module:
        """The module ``to`` moves: a loaded run's model (views of a model in training are never moved)."""
        return self.model

    @torch.inference_mode()
    def encode_image(self, batch: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.model.encode_image(batch.to(self.model.net.logit_scale.device)).float().cpu()

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Prompts are tokenized here, so they are not counted as truncated training captions."""
        with self.autocast():
            return self.model.encode_text(self.model.tokenizer(list(texts))).float().cpu()


@CLIP_MODELS.register("run", argument="<folder>",
                      description="a 'labelspace train clip --out' folder, any --model (towers and LiT included)")
def load_run(argument: str) -> EvalView:
    """The trained weights of a ``train clip`` run folder, frozen for evaluation, classify and serve."""
    config = read_config(argument)
    if "model" not in config:
        raise LabelspaceError(f"{argument!r} is not a 'labelspace train clip' folder (its config.json has no model)")
    spec = ModelSpec.from_json(config["model"])
    state = load_checkpoint(argument)[0]["model"]
    declared = {f"model.{k}": v for k, v in spec.to_json().items() if isinstance(v, int) and not isinstance(v, bool)}
    probe_fit(lambda: TrainableCLIP(spec, weights=False), shapes(state), str(Path(argument) / WEIGHTS),
              f"its config.json model ({spec.model})", declared)
    model = TrainableCLIP(spec)
    model.load_state_dict(state)
    model.eval()
    return EvalView(model, f"run:{argument}", f"run:{argument}|{file_digest(Path(argument) / WEIGHTS)}")


def export_open_clip(model: TrainableCLIP, path) -> Path:
    """Write a trained open_clip-architecture model as a file ``load_clip`` reads back (safetensors, atomic)."""
    import open_clip

    from labelspace.models.clip import OpenCLIPModel, save_clip

    arch = model.spec.model[10:].partition("/")[0]
    info = {"model_cfg": open_clip.get_model_config(arch), "preprocess_cfg": open_clip.get_model_preprocess_cfg(model.net)}
    frozen = OpenCLIPModel(model.net, model.transform, model.tokenizer, model.spec.model, "trained", info)
    return save_clip(frozen, path)
