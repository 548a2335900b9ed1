"""Model files are untrusted input: they never run code of their own, never choose how much memory is
allocated before their tensors back it, and their metadata never names a download. Each case runs the CLI in
a child process (a ``y`` on stdin, as a user answering a prompt would; an address-space limit, so a size bomb
fails there instead of taking the machine) and expects one error line, exit code 2 and no traceback."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import skimage
import torch
from safetensors.torch import save_file

import clip_helpers as h
from labelspace.methods.devise import DeViSE
from labelspace.models.trainable import ModelSpec, TrainableCLIP
from labelspace.training.checkpoint import save_checkpoint

CAT = str(Path(skimage.__file__).parent / "data" / "chelsea.png")
LIMIT = 6 << 30  # address space of the child: far below what the size bombs ask for
PEAK = 1536  # MiB of resident memory a refused file may cost (importing torch and the libraries: ~800)
# The child runs the CLI under LIMIT and reports, as its last line, the peak RSS (MiB) of that CLI process.
CHILD = f"""import resource, subprocess, sys
resource.setrlimit(resource.RLIMIT_AS, ({LIMIT}, {LIMIT}))
run = subprocess.run([sys.executable, "-m", "labelspace.cli", *sys.argv[1:]], input="y\\n", text=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
sys.exit(run.returncode)"""

pytestmark = pytest.mark.slow  # each case starts a Python process that imports torch


def cli(*args):
    """(exit code, stderr, peak RSS in MiB) of ``labelspace *args``, answering ``y`` to any prompt."""
    run = subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True, text=True, timeout=300)
    return run.returncode, run.stderr, int(run.stdout.split()[-1])  # after any prompt the CLI printed


def refused(args, *words):
    code, err, peak = cli(*args)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err[-3000:]
    assert all(word in err for word in words), err
    assert peak < PEAK, f"{peak} MiB"
    return err


def code_folder(folder: Path, marker: Path) -> Path:
    """A Hugging Face CLIP folder whose config asks for its own module (a model type transformers does not know,
    so it offers to run it); importing that module writes ``marker``."""
    h.hf_clip_folder(folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="evil", auto_map={"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
                                    "from transformers import CLIPConfig, CLIPModel\n"
                                    "class EvilConfig(CLIPConfig):\n    model_type = 'evil'\n"
                                    "class EvilModel(CLIPModel):\n    config_class = EvilConfig\n")
    return folder


@pytest.fixture(scope="module")
def tiny_configs(tmp_path_factory):
    h.register_tiny_configs(tmp_path_factory.mktemp("configs"))


def clip_file(path: Path, model_cfg: dict, state: dict | None = None) -> Path:
    """A labelspace CLIP file: ``state`` (default: the tiny ViT's tensors) with ``model_cfg`` as its metadata."""
    if state is None:
        ref, _, _ = h.reference_open_clip("ls-tiny-vit")
        state = {k: v.contiguous() for k, v in ref.state_dict().items()}
    preprocess = {"size": 32, "mode": "RGB", "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bicubic",
                  "resize_mode": "shortest", "fill_color": 0}
    save_file(state, str(path), metadata={"format": "labelspace-clip-v1", "name": "tiny",
                                          "model_cfg": json.dumps(model_cfg), "preprocess_cfg": json.dumps(preprocess)})
    return path


def test_hf_folder_asking_for_its_own_code_is_refused_and_never_run(tmp_path):
    folder = code_folder(tmp_path / "evil", tmp_path / "marker")
    refused(["classify", CAT, "--labels", "cat,dog", "--method", "clip", "--image-model", f"hf:{folder}"],
            str(folder), "auto_map")
    assert not (tmp_path / "marker").exists()


def test_sentence_encoder_folder_asking_for_code_is_refused(tmp_path):
    folder = code_folder(tmp_path / "evil", tmp_path / "marker")
    (folder / "modules.json").write_text(json.dumps([{"idx": 0, "name": "0", "path": "", "type": "evil.Pooling"}]))
    refused(["classify", CAT, "--labels", "cat,dog", "--text-model", f"sentence:{folder}"], str(folder), "evil.Pooling")
    (folder / "modules.json").write_text(json.dumps(
        [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]))
    refused(["classify", CAT, "--labels", "cat,dog", "--text-model", f"sentence:{folder}"], str(folder), "auto_map")
    assert not (tmp_path / "marker").exists()


def test_clip_file_whose_metadata_names_a_code_folder_or_a_hub_model_is_refused(tmp_path, tiny_configs):
    folder = code_folder(tmp_path / "evil", tmp_path / "marker")
    text = {"hf_model_name": str(folder), "hf_tokenizer_name": str(folder), "hf_proj_type": "linear",
            "hf_pooler_type": "mean_pooler", "context_length": 16}
    path = clip_file(tmp_path / "evil.safetensors", {**h.TINY_VIT, "text_cfg": text})
    refused(["classify", CAT, "--labels", "cat,dog", "--method", "clip", "--image-model", path], str(folder), "auto_map")
    assert not (tmp_path / "marker").exists()
    hub = clip_file(tmp_path / "hub.safetensors", {**h.TINY_VIT, "text_cfg": {**text, "hf_model_name": "org/bert"}})
    refused(["classify", CAT, "--labels", "cat,dog", "--method", "clip", "--image-model", hub],
            "'org/bert'", "not a local folder")
    timm_hub = {**h.TINY_VIT, "vision_cfg": {"timm_model_name": "hf-hub:org/vit", "timm_model_pretrained": True,
                                             "image_size": 32}}
    refused(["classify", CAT, "--labels", "cat,dog", "--method", "clip", "--image-model",
             clip_file(tmp_path / "timm.safetensors", timm_hub)], "'hf-hub:org/vit'", "not a timm architecture")


def test_run_folder_with_a_code_folder_as_text_tower_is_refused(tmp_path):
    spec = ModelSpec(model="towers", image="timm:test_vit", text="transformer:64x2", image_size=32)
    save_checkpoint(tmp_path / "run", TrainableCLIP(spec), config={"model": spec.to_json()})
    folder = code_folder(tmp_path / "evil", tmp_path / "marker")
    (tmp_path / "run" / "config.json").write_text(json.dumps({"model": {**spec.to_json(), "text": f"hf:{folder}"}}))
    refused(["classify", CAT, "--labels", "cat,dog", "--method", "clip", "--image-model", f"run:{tmp_path / 'run'}"],
            str(folder), "auto_map")
    assert not (tmp_path / "marker").exists()


def test_clip_metadata_asking_for_a_huge_vision_tower_is_refused_in_little_memory(tmp_path, tiny_configs):
    bomb = {**h.TINY_VIT, "vision_cfg": {**h.TINY_VIT["vision_cfg"], "width": 8192, "layers": 48}}
    path = clip_file(tmp_path / "bomb.safetensors", bomb)
    refused(["classify", CAT, "--labels", "cat,dog", "--method", "clip", "--image-model", path],
            "does not fit", "model_cfg.vision_cfg.width = 8192")
    long = {**h.TINY_VIT, "text_cfg": {**h.TINY_VIT["text_cfg"], "context_length": 65536}}
    refused(["classify", CAT, "--labels", "cat,dog", "--method", "clip", "--image-model",
             clip_file(tmp_path / "long.safetensors", long)], "model_cfg.text_cfg.context_length = 65536", "4096")


def devise_folder(folder: Path, **config) -> Path:
    head = DeViSE(1280, 16)
    labels = ["cat", "dog"]
    save_checkpoint(folder, head, config={"method": "devise", "labels": labels, "feature_dim": 1280, "label_dim": 16,
                                          "text_model": "random:16", "image_model": "efficientnet-lite0", **config})
    return folder


@pytest.mark.parametrize("config,words", [
    ({"feature_dim": 10_000_000_000}, ["feature_dim = 10000000000", "does not fit"]),
    ({"label_dim": 100_000_000}, ["label_dim = 100000000", "does not fit"]),
    ({"text_model": "random:10000000000"}, ["random:10000000000", "dim = 10000000000", "65536"]),
])
def test_devise_config_with_huge_sizes_is_refused_in_little_memory(tmp_path, config, words):
    folder = devise_folder(tmp_path / "devise", **config)
    refused(["classify", CAT, "--labels", "cat,dog", "--method", f"devise:{folder}"], *words)


def test_run_config_with_huge_sizes_is_refused_in_little_memory(tmp_path):
    spec = ModelSpec(model="towers", image="timm:test_vit", text="transformer:64x2", image_size=32, embed_dim=16)
    save_checkpoint(tmp_path / "run", TrainableCLIP(spec), config={"model": spec.to_json()})
    args = ["classify", CAT, "--labels", "cat,dog", "--method", "clip", "--image-model", f"run:{tmp_path / 'run'}"]
    for change, words in [({"embed_dim": 10_000}, ["does not fit", "model.embed_dim = 10000"]),
                          ({"embed_dim": 1_000_000_000}, ["model.embed_dim = 1000000000", "16384"]),
                          ({"text": "transformer:65536x64"}, ["'transformer:65536x64'", "width = 65536", "16384"]),
                          ({"text": "transformer:8192x64"}, ["does not fit", "net.text.token_embedding.weight"])]:
        (tmp_path / "run" / "config.json").write_text(json.dumps({"model": {**spec.to_json(), **change}}))
        refused(args, *words)
