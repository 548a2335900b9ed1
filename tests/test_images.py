"""The one guarded image opener: malformed and hostile images open or give one ``LabelspaceError``, within
bounded memory, in the opener itself, the CLI, a folder dataset, a CLIP caption set and the server."""
import csv
import io
import json

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from image_helpers import grey_png, peak_rss_growth, png_chunk
from labelspace.data.captions import caption_data
from labelspace.data.images import BadImage, open_image
from labelspace.errors import LabelspaceError
from labelspace.methods import Classifier

MiB = 2**20
THIN = (20, 2_000_000)  # 40 megapixels in 40 KB: under the pixel limit, but 255 x 25,500,000 after a resize


def encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def malformed_images(seed: int = 0) -> list[tuple[str, bytes]]:
    """About 300 named files: random bytes, wrong headers, truncations, bit flips, extreme declared sizes and
    aspect ratios, and the awkward modes (CMYK, 16-bit, palette with transparency, animated, float, 1-bit)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    rgb = Image.fromarray(noise)
    modes = {
        "cmyk.jpg": encoded(rgb.convert("CMYK"), "JPEG"), "cmyk.tif": encoded(rgb.convert("CMYK"), "TIFF"),
        "grey16.png": encoded(Image.fromarray((noise[..., 0].astype(np.uint16) * 257)), "PNG"),
        "int32.tif": encoded(Image.fromarray(noise[..., 0].astype(np.int32) * 1000), "TIFF"),
        "float.tif": encoded(Image.fromarray(noise[..., 0].astype(np.float32) / 255), "TIFF"),
        "palette.png": encoded(rgb.convert("P"), "PNG", transparency=3),
        "palette.gif": encoded(rgb.convert("P"), "GIF"), "bilevel.png": encoded(rgb.convert("1"), "PNG"),
        "la.png": encoded(rgb.convert("LA"), "PNG"), "rgba.webp": encoded(rgb.convert("RGBA"), "WEBP"),
        "animated.gif": encoded(rgb.convert("P"), "GIF", save_all=True, append_images=[rgb.convert("P")] * 3),
        "animated.webp": encoded(rgb, "WEBP", save_all=True, append_images=[rgb.rotate(90)] * 2),
        "lab.tif": encoded(rgb.convert("LAB"), "TIFF"), "ycbcr.jpg": encoded(rgb.convert("YCbCr"), "JPEG"),
        "rgb.bmp": encoded(rgb, "BMP"), "rgb.ppm": encoded(rgb, "PPM"), "rgb.jpg": encoded(rgb, "JPEG"),
    }
    files = list(modes.items())
    for name, data in list(modes.items()):
        for cut in sorted(rng.choice(np.arange(1, len(data)), size=6, replace=False)):
            files.append((f"{name}[:{cut}]", data[:cut]))
        for k in range(3):
            flipped = bytearray(data)
            for at in rng.integers(0, len(data), size=1 + k * 4):
                flipped[at] ^= int(rng.integers(1, 256))
            files.append((f"{name}+flips{k}", bytes(flipped)))
    headers = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00", b"RIFF\x00\x00\x00\x00WEBP"]
    for k in range(30):
        files.append((f"random{k}", rng.bytes(int(rng.integers(1, 4000)))))
        files.append((f"header{k}", headers[k % len(headers)] + rng.bytes(int(rng.integers(0, 500)))))
    extremes = [(2**31 - 1, 1), (1, 2**31 - 1), (65535, 65535), (30000, 30000), (10000, 5001), THIN,
                (100, 400_000), (1_000_000, 1), (0, 10), (101, 1), (100, 1)]
    for width, height in extremes:  # declared in the header, with one row (or none) of data
        ihdr = png_chunk(b"IHDR", np.array([width, height], dtype=">u4").tobytes() + bytes([8, 2, 0, 0, 0]))
        files.append((f"png{width}x{height}", b"\x89PNG\r\n\x1a\n" + ihdr + png_chunk(b"IEND", b"")))
        gif = b"GIF89a" + np.array([min(width, 65535), min(height, 65535)], dtype="<u2").tobytes() + b"\x00\x00\x00;"
        files.append((f"gif{width}x{height}", gif))
        bmp_info = np.array([40, width, height], dtype="<i4").tobytes() + b"\x01\x00\x18\x00" + bytes(24)
        files.append((f"bmp{width}x{height}", b"BM" + np.array([54, 0, 54], dtype="<u4").tobytes() + bmp_info))
    files.append(("thin.png", grey_png(*THIN)))
    files.append(("thin-truncated.png", grey_png(*THIN, rows=1000)))
    files.append(("empty", b""))
    return files


def test_fuzzed_images_open_as_rgb_or_raise_labelspace_error_in_bounded_memory():
    files = malformed_images()
    assert len(files) >= 200
    opened, refused = 0, 0
    with peak_rss_growth() as memory:
        for name, data in files:
            try:
                image = open_image(data, name)
            except LabelspaceError as e:
                assert "\n" not in str(e), name
                refused += 1
            else:
                assert image.mode == "RGB" and image.size[0] * image.size[1] <= 50_000_000, name
                opened += 1
    assert memory["bytes"] < 512 * MiB
    assert opened >= 17 and refused >= 100  # every clean mode opens; most damaged files do not


def test_modes_convert_to_the_rgb_pillow_or_the_bit_depth_gives():
    grey16 = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    assert np.asarray(open_image(Image.fromarray(grey16)))[..., 0].tolist() == [[0, 128, 255]]
    cmyk = Image.new("CMYK", (2, 2), (0, 255, 255, 0))  # pure red ink-free cyan/magenta/yellow mix
    assert np.array_equal(np.asarray(open_image(encoded(cmyk, "TIFF"))), np.asarray(cmyk.convert("RGB")))
    frames = [Image.new("P", (4, 4), c) for c in (1, 2)]
    first = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert np.array_equal(np.asarray(open_image(first)), np.asarray(frames[0].convert("RGB")))


def test_thin_png_is_one_line_in_the_cli(tmp_path, cli_main):
    (tmp_path / "thin.png").write_bytes(grey_png(*THIN))
    with peak_rss_growth() as memory:
        code, _, err = cli_main("classify", str(tmp_path / "thin.png"), "--labels", "cat,dog")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "aspect ratio" in err
    assert memory["bytes"] < 256 * MiB


class ResizingModel(Classifier):
    """A model whose preprocessing really resizes (as every encoder does), to feel the thin image's cost."""

    def __init__(self):
        from torchvision import transforms as T

        self.image_encoder = self
        self.transform = T.Compose([T.Resize(224), T.CenterCrop(224), T.ToTensor()])

    def preprocess(self, image):
        return self.transform(image)

    def encode(self, batch):
        return batch.mean((2, 3))

    def scores(self, features, labels, templates=None):
        return np.zeros((len(features), len(labels)))


def test_thin_png_gets_a_4xx_from_the_server_in_bounded_memory():
    from labelspace.serve import create_app

    client = TestClient(create_app({"resizing": ResizingModel()}))
    with peak_rss_growth() as memory:
        response = client.post("/classify", files={"image": ("thin.png", grey_png(*THIN), "image/png")},
                               data={"labels": "cat, dog"})
    assert response.status_code == 413 and "aspect ratio" in response.json()["error"]
    assert memory["bytes"] < 256 * MiB
    ok = client.post("/classify", files={"image": ("ok.png", grey_png(40, 30), "image/png")}, data={"labels": "a, b"})
    assert ok.status_code == 200


def bad_folder(root):
    """Three classes of readable images plus a bomb, a truncated JPEG, a 0-byte file and a text file."""
    rng = np.random.default_rng(0)
    for c, cls in enumerate(["cat", "dog", "car"]):
        (root / cls).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / cls / f"{k}.png")
    (root / "cat" / "bomb.png").write_bytes(grey_png(30000, 30000, rows=10))
    jpeg = encoded(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), "JPEG")
    (root / "cat" / "cut.jpg").write_bytes(jpeg[:len(jpeg) // 2])
    (root / "dog" / "empty.png").write_bytes(b"")
    (root / "dog" / "notes.jpg").write_text("not a picture, just some text\n")
    return ["bomb.png", "cut.jpg", "empty.png", "notes.jpg"]


@pytest.mark.slow  # loads EfficientNet-Lite0
def test_folder_with_bad_files_evaluates_and_names_each_skipped_file(tmp_path, cli_main, caplog):
    bad = bad_folder(tmp_path / "images")
    code, out, err = cli_main("eval", "--model", "conse", "--dataset", f"folder:{tmp_path / 'images'}", "--no-hp",
                              "--out", str(tmp_path / "runs"))
    assert code in (0, None), err
    [result] = (tmp_path / "runs").glob("*.json")
    data = json.loads(result.read_text())
    assert data["images"] == 9 and data["skipped"] == 4
    assert [next(m for m in data["skipped_images"] if name in m) for name in bad]  # each named, with why
    assert all(name in caplog.text for name in bad)
    from labelspace.analysis import analyze

    report = analyze([f"folder:{tmp_path / 'images'}"], ["efficientnet-lite0"], ["glove-6b-50d"],
                     permutations=0, bootstrap=0, progress=False)
    assert "9 images used, 4 unreadable skipped" in report.settings["datasets"][f"folder:{tmp_path / 'images'}"]


def test_csv_caption_set_with_a_corrupt_image_trains(tmp_path, caplog):
    from labelspace.models.trainable import ModelSpec, TrainableCLIP
    from labelspace.training.clip_trainer import ClipTrainConfig, train_clip

    rows = [["path", "caption"]]
    for k, colour in enumerate(["red", "green", "blue", "yellow", "white", "black", "orange"]):
        Image.new("RGB", (16, 16), colour).save(tmp_path / f"{k}.png")
        rows.append([f"{k}.png", f"a {colour} square"])
    (tmp_path / "broken.png").write_bytes(encoded(Image.new("RGB", (16, 16), "red"), "PNG")[:40])
    rows.append(["broken.png", "a broken square"])
    with open(tmp_path / "pairs.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    data = caption_data(f"csv:{tmp_path / 'pairs.csv'}")
    state = train_clip(TrainableCLIP(ModelSpec()), data, ClipTrainConfig(steps=3, batch_size=8, warmup=0),
                       tmp_path / "run", progress=False, log=lambda _: None)
    assert state.step == 3 and all(np.isfinite(h["loss"]) for h in state.history)
    assert data.skipped == 1 and "broken.png" in caplog.text
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["skipped_pairs"] == 1


def test_in_memory_images_are_checked_too():
    with pytest.raises(BadImage, match="aspect ratio"):
        open_image(Image.new("L", (1000, 2)))
    assert torch.tensor(np.asarray(open_image(Image.new("L", (3, 2), 7)))).shape == (2, 3, 3)
