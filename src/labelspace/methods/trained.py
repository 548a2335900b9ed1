"""Methods that learn from a split's seen classes: the protocol around them, and loading them back.

Protocol (Xian et al.): hyper-parameters are chosen on the seen classes only. DeViSE trains on the
seen classes minus ``split.validation`` and is scored by per-class top-1 on those held-out classes
(candidates: the validation labels), so the choice favours what transfers to new labels. The softmax
baseline, which cannot score new labels, is scored on a seeded fifth of the seen images instead.
Early stopping on that score picks the epoch count; the chosen setting is then refit on all seen
classes and saved as a checkpoint folder that ``load_trained`` rebuilds into a ``Classifier``.

The chosen setting is also fitted once on the seen classes minus the validation classes and kept as the
classifier's ``validation_model`` (``validation.safetensors`` in the folder): the validation classes are new
to it, so GZSL calibration and CSLS choose their settings on it (``evaluation.evaluate_split``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from labelspace.data.splits import ClassSplit, class_rows
from labelspace.encoders.checkpoints import probe_fit, shapes
from labelspace.errors import LabelspaceError
from labelspace.finite import require_finite_tensors
from labelspace.io import atomic_write_bytes
from labelspace.methods.base import MethodOptions, create_classifier
from labelspace.methods.conse import ConSEClassifier
from labelspace.methods.devise import DeViSE, DeViSEClassifier, train_devise
from labelspace.methods.softmax import SoftmaxClassifier, train_softmax
from labelspace.metrics import mean_per_class_accuracy
from labelspace.registry import METHODS as METHOD_REGISTRY
from labelspace.training import TrainConfig, grid_search, load_checkpoint, read_config
from labelspace.training.checkpoint import CONFIG, WEIGHTS, check_resumable
from labelspace.vocab import labels_like
from labelspace.zeroshot import label_vectors

METHODS = ("devise", "softmax")
VALIDATION_WEIGHTS = "validation.safetensors"


def fit_on_split(method: str, features, targets, class_names, split: ClassSplit, config: TrainConfig,
                 grid: dict, text_encoder=None, first_violation: bool = False, checkpoint: str | Path | None = None,
                 resume: bool = False, meta: dict | None = None, device=None):
    """Choose hyper-parameters on the validation split, refit on all seen classes; (classifier, report).

    ``grid`` maps ``lr`` (and for DeViSE ``margin``) to candidate values; ``config.epochs`` is the most
    epochs tried and ``config.patience`` the early-stopping patience. ``device``: where the heads train.
    """
    if method not in METHODS:
        raise LabelspaceError(f"unknown trainable method {method!r} (accepted: {', '.join(METHODS)})")
    features = np.asarray(features, dtype=np.float32)
    split.check(class_names)
    if method == "devise" and text_encoder is None:
        raise LabelspaceError("DeViSE needs a text model for its label space")
    if method == "devise" and not split.validation:
        raise LabelspaceError(f"split {split.name!r} has no validation classes; DeViSE chooses its hyper-parameters "
                              "on held-out seen classes (add a 'validation' list of seen classes)")

    def train(labels, params, validate=None, **fit_options):
        mask, y = class_rows(targets, class_names, labels)
        cfg = replace(config, lr=params["lr"], epochs=params.get("epochs", config.epochs))
        if method == "devise":
            vectors = label_vectors(text_encoder, labels_like(class_names, labels))  # an ImageNet set's: synsets
            return train_devise(features[mask], y, vectors, cfg, params["margin"], first_violation, validate=validate,
                                device=device, **fit_options)
        return train_softmax(features[mask], y, len(labels), cfg, validate=validate, device=device, **fit_options)

    val_mask, val_y = class_rows(targets, class_names, split.validation)
    settings = {**(meta or {}), "method": method, "labels": list(split.seen), "split": split.to_json(),
                "feature_dim": int(features.shape[1]), "first_violation": first_violation, **grid,
                **({"text_model": text_encoder.name, "label_dim": int(text_encoder.dim)} if method == "devise" else {})}
    previous = read_config(checkpoint) if resume and checkpoint and (Path(checkpoint) / WEIGHTS).is_file() else None
    if previous is not None:  # lr and epochs of the saved run were chosen from the grid and --epochs
        check_resumable(checkpoint, {**settings, "train": asdict(config), "max_epochs": config.epochs},
                        resumable=("train.lr", "train.epochs"))
        chosen, rows = previous["chosen"], previous["selection"]
    elif method == "devise":
        def run(params):
            def validate(head):
                scores = DeViSEClassifier(head, text_encoder).scores(features[val_mask],
                                                                     labels_like(class_names, split.validation))
                return mean_per_class_accuracy(scores, val_y)
            return train(split.train, params, validate)[1]
        chosen, rows = grid_search(grid, run)
    else:
        seen_mask, seen_y = class_rows(targets, class_names, split.seen)
        seen_x = features[seen_mask]
        held = np.random.default_rng(config.seed).random(len(seen_y)) < 0.2

        def run(params):
            def validate(head):
                return mean_per_class_accuracy(SoftmaxClassifier(head, split.seen).scores(seen_x[held], split.seen),
                                               seen_y[held])
            return train_softmax(seen_x[~held], seen_y[~held], len(split.seen), replace(config, lr=params["lr"]),
                                 validate=validate, device=device)[1]
        chosen, rows = grid_search({"lr": grid["lr"]}, run)
    held_head = train(split.train, chosen)[0] if split.validation else None  # the same setting, without them
    held_out = build(method, held_head, split.train, text_encoder) if held_head is not None else None
    fitted = method == "devise" and len(split.validation) > 1  # temperature scaling where the labels are new to it
    if fitted:
        held_out.calibrate(features[val_mask], val_y, labels_like(class_names, split.validation))
    config_json = {**settings, "max_epochs": config.epochs, "chosen": chosen, "selection": rows,
                   "validation_labels": list(split.train),
                   "temperature": held_out.temperature if held_out is not None else 1.0, "temperature_fitted": fitted}
    if checkpoint is not None and held_head is not None:
        from safetensors.torch import save

        atomic_write_bytes(Path(checkpoint) / VALIDATION_WEIGHTS, save(held_head.state_dict()))
    head, result = train(split.seen, chosen, checkpoint=checkpoint, model_config=config_json, resume=resume)
    report = {"chosen": chosen, "selection": rows, "history": result.history}
    return build(method, head, split.seen, text_encoder, validation_model=held_out,
                 temperature=config_json["temperature"], fitted=fitted), report


def build(method: str, head, labels, text_encoder=None, image_encoder=None, validation_model=None,
          temperature: float | None = None, fitted: bool = False):
    """The ``Classifier`` around a trained head, with its ``validation_model`` (None: not known) and its
    ``temperature`` (None: the method's default); ``fitted``: that temperature was fitted by temperature scaling,
    so the probabilities shown are calibrated."""
    model = DeViSEClassifier(head, text_encoder, image_encoder) if method == "devise" \
        else SoftmaxClassifier(head, labels, image_encoder)
    model.validation_model = validation_model
    if temperature is not None:
        model.temperature = temperature
    model.calibrated = model.calibrated or fitted
    return model


def _head(method: str, config: dict, labels, weights: dict, path: Path) -> torch.nn.Module:
    """The head ``config`` declares, with ``weights`` loaded: its sizes checked against them before it is built."""
    def build():
        if method == "devise":
            return DeViSE(config.get("feature_dim"), config.get("label_dim"))
        return torch.nn.Linear(config.get("feature_dim"), len(labels))
    declared = {k: config.get(k) for k in ("feature_dim", "label_dim") if isinstance(config.get(k), int)}
    probe_fit(build, shapes(weights), str(path), f"its {CONFIG} ({method} head)", declared)
    head = build()
    head.load_state_dict(weights)
    return head


def _labels(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)


def _size(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_config(folder: str | Path, config: dict, method: str) -> None:
    """Every field ``load_trained`` reads from ``config`` holds what ``fit_on_split`` writes (a missing
    ``temperature``, ``temperature_fitted`` or ``validation_labels``: the method's default, none fitted or held
    out); else one line naming the first field that does not. Sizes that don't fit the weights: ``probe_fit``."""
    devise = {"label_dim": (_size, "a positive integer"),
              "text_model": (lambda v: isinstance(v, str), "a text model spec string")} if method == "devise" else {}
    fields = {"labels": (_labels, "a non-empty list of label strings"), "feature_dim": (_size, "a positive integer"),
              **devise,
              "temperature": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < math.inf,
                              "a positive finite number"),
              "temperature_fitted": (lambda v: isinstance(v, bool), "true or false"),
              "validation_labels": (_labels, "a non-empty list of label strings")}
    optional = ("temperature", "temperature_fitted", "validation_labels")
    for key, (valid, accepted) in fields.items():
        if key not in config and key in optional:
            continue
        if key not in config or not valid(config[key]):
            found = f"{key} = {config[key]!r}" if key in config else f"no {key}"
            raise LabelspaceError(f"checkpoint {str(folder)!r} {CONFIG} has {found} (accepted: {accepted})")


def load_trained(folder: str | Path, image_encoder=None, text_encoder=None, device="cpu"):
    """A ``Classifier`` from a checkpoint folder written by ``fit_on_split`` (best weights). The label-space
    text encoder it names runs on ``device``; the heads stay on the CPU, where encoders hand their features."""
    from labelspace.encoders import load_text_encoder

    config = read_config(folder)
    groups, _, _ = load_checkpoint(folder)
    weights = groups["best"] or groups["model"]
    method = config.get("method")
    if method not in METHODS:
        raise LabelspaceError(f"checkpoint {str(folder)!r} holds method {method!r} (accepted: {', '.join(METHODS)})")
    _check_config(folder, config, method)
    head = _head(method, config, config["labels"], weights, Path(folder) / WEIGHTS)
    if method == "devise":
        text_encoder = text_encoder or load_text_encoder(config["text_model"], device)
        if text_encoder.dim != config["label_dim"]:
            raise LabelspaceError(f"checkpoint {str(folder)!r} maps to label_dim = {config['label_dim']}, but text model "
                                  f"{text_encoder.name!r} gives {text_encoder.dim}-d label vectors (accepted: "
                                  f"a {config['label_dim']}-d text model)")
    held_out = None
    if (Path(folder) / VALIDATION_WEIGHTS).is_file() and "validation_labels" in config:
        validation = Path(folder) / VALIDATION_WEIGHTS
        held_head = _head(method, config, config["validation_labels"], _validation_weights(validation), validation)
        held_out = build(method, held_head, config["validation_labels"], text_encoder, image_encoder,
                         temperature=config.get("temperature"), fitted=config.get("temperature_fitted", False))
    return build(method, head, config["labels"], text_encoder, image_encoder, held_out, config.get("temperature"),
                 config.get("temperature_fitted", False))


def _validation_weights(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        weights = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise LabelspaceError(f"validation model {str(path)!r} is not a readable safetensors file ({e})") from e
    require_finite_tensors(weights, f"validation model {str(path)!r}", "train the checkpoint again")
    return weights


def _from_folder(method: str | None):
    def load(argument: str, options: MethodOptions = MethodOptions()):
        folder = Path(argument)
        if not (folder / CONFIG).is_file():
            what = f"unknown method {argument!r}" if method is None else f"{argument!r} is no checkpoint folder"
            raise LabelspaceError(f"{what} (no {CONFIG} there; accepted: {METHOD_REGISTRY.accepted()})")
        if method is not None and read_config(folder).get("method") != method:
            raise LabelspaceError(f"checkpoint {argument!r} holds method {read_config(folder).get('method')!r}, "
                                  f"not {method!r}")
        return load_classifier(argument, **asdict(options))[0]
    return load


for _method in METHODS:
    METHOD_REGISTRY.register(_method, argument="<folder>",
                             description=f"a {_method} checkpoint folder written by 'labelspace train {_method}'")(
        _from_folder(_method))
METHOD_REGISTRY.register("<folder>", fallback=True,
                         description="a checkpoint folder from 'labelspace train devise|softmax' (method read from it)")(
    _from_folder(None))


def conse_on(softmax: SoftmaxClassifier, text_encoder, top_t: int) -> ConSEClassifier:
    """ConSE whose seen-label probabilities come from ``softmax`` (trained on the split's seen classes); its
    ``validation_model`` is ConSE over the softmax's."""
    model = ConSEClassifier(softmax.image_encoder, text_encoder, top_t, seen=softmax)
    held_out = getattr(softmax, "validation_model", None)
    model.validation_model = conse_on(held_out, text_encoder, top_t) if held_out is not None else None
    return model


def describe(method: str, classifier) -> dict:
    """What a result names about a classifier built from a method spec: the method and the image model, text
    model and top T it uses (CLIP: its templates), as ``load_classifier`` names them for its other forms."""
    if method == "clip":
        return {"method": method, "templates": classifier.templates}
    text, conse = getattr(classifier, "text_encoder", None), getattr(classifier, "conse", None)
    return {"method": method, "image_model": classifier.image_encoder.name, "text_model": text.name if text else None,
            "top_t": conse.top_t if conse else None}


def load_classifier(model: str, image_model: str | None = None, text_model: str | None = None,
                    top_t: int | None = None, *, checkpoint: str | None = None, templates: str | None = None,
                    device="cpu", precision: str = "fp32") -> tuple[object, dict]:
    """A ``Classifier`` and a description of it from ``model``: ``conse`` (the image model's ImageNet head),
    a checkpoint folder (with ``top_t`` a softmax checkpoint becomes ConSE over its seen labels), a CLIP
    spec (``open_clip:...``, ``hf:...``, a file) scored zero-shot with ``templates``, or a method spec
    (``conse:<image>+<text>``, ``devise:<folder>``, ``clip:<model>``: ``labelspace list``). ``checkpoint`` holds
    local weights for a ``timm:<name>`` image model; models run on ``device`` in ``precision``."""
    from labelspace.encoders import load_image_encoder, load_text_encoder
    from labelspace.models import is_clip_spec

    method, colon, _ = model.partition(":")
    if colon and method in METHOD_REGISTRY.entries:
        classifier = create_classifier(model, image_model=image_model, text_model=text_model, top_t=top_t,
                                       checkpoint=checkpoint, templates=templates, device=device, precision=precision)
        return classifier, describe(method, classifier)
    clip = is_clip_spec(model)
    if templates is not None and not clip:
        raise LabelspaceError("--templates applies to CLIP models only (ConSE and DeViSE encode the bare class names)")
    if model == "conse":
        info = {"method": "conse", "image_model": image_model or "efficientnet-lite0",
                "text_model": text_model or "glove-6b-50d", "top_t": top_t or 10}
        return create_classifier("conse", image_model=info["image_model"], text_model=info["text_model"],
                                 top_t=info["top_t"], checkpoint=checkpoint, device=device, precision=precision), info
    if clip:
        if image_model or text_model or top_t:
            raise LabelspaceError("--image-model, --text-model and --conse-top-t do not apply to a CLIP model")
        info = {"method": "clip", "templates": templates or "openai"}
        return create_classifier(f"clip:{model}", templates=info["templates"], checkpoint=checkpoint,
                                 device=device, precision=precision), info
    if not Path(model).is_dir():
        raise LabelspaceError(f"model {model!r} is neither 'conse', a checkpoint folder nor a CLIP spec "
                              "(open_clip:<arch>[/<tag>], hf:<dir>, run:<folder>, a file)")
    config = read_config(model)
    info = {"method": config.get("method"),
            "image_model": image_model or config.get("image_model", "efficientnet-lite0")}
    text = load_text_encoder(text_model, device) if text_model else None
    if not image_model:  # the image model the head was trained on, with its local weights
        checkpoint = checkpoint or config.get("image_checkpoint")
    image_encoder = load_image_encoder(info["image_model"], checkpoint, device=device, precision=precision)
    trained = load_trained(model, image_encoder, text, device)
    info["text_model"] = trained.text_encoder.name if info["method"] == "devise" else text_model
    if top_t is None:
        return trained, info
    if info["method"] != "softmax" or text is None:
        raise LabelspaceError("--conse-top-t needs a softmax checkpoint and a --text-model")
    return conse_on(trained, text, top_t), {**info, "method": "conse", "top_t": top_t}
