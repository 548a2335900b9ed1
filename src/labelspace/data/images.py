"""The one image opener: every image labelspace reads (CLI, datasets, caption sets, the server) goes through
``open_image``, so one set of guards bounds memory before any pixel is decoded.

Guards, in order: file size; the header's width x height (pixel count) and aspect ratio, read before
decoding, so a 40 KB PNG claiming 20 x 2,000,000 pixels or a 30000 x 30000 decompression bomb is refused
without allocating its pixels (and a thin image cannot blow up later when preprocessing scales its short
side); Pillow's own bomb check; truncated or corrupt data. What opens is returned as 8-bit RGB: the first
frame of an animation, palette images through RGBA, 16-bit and 32-bit greyscale scaled to 8 bits, CMYK
and the other modes by Pillow's conversion. Anything else is a ``BadImage`` (a ``LabelspaceError``) whose
one-line message names the file and the limit; its ``status`` is the HTTP answer the server gives.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from labelspace.errors import LabelspaceError


@dataclass(frozen=True)
class ImageLimits:
    max_file_bytes: int = 100 * 2**20
    max_pixels: int = 50_000_000  # 150 MB as RGB; decoding any mode then stays well under 512 MiB
    max_aspect: float = 100.0  # long side / short side: beyond it, scaling the short side to 224 px explodes


LIMITS = ImageLimits()


class BadImage(LabelspaceError):
    """An image refused by ``open_image``; ``status`` is 413 for a limit, 400 for unreadable data."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _check_size(width: int, height: int, name: str, limits: ImageLimits) -> None:
    if width < 1 or height < 1:
        raise BadImage(f"image {name} has size {width}x{height}; it needs at least one pixel")
    if width * height > limits.max_pixels:
        raise BadImage(f"image {name} is {width}x{height} = {width * height} pixels; the limit is "
                       f"{limits.max_pixels}", 413)
    if max(width, height) / min(width, height) > limits.max_aspect:
        raise BadImage(f"image {name} is {width}x{height}, an aspect ratio above the limit of "
                       f"{limits.max_aspect:g}:1", 413)


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any Pillow mode (the caller has already bounded the pixel count)."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        if image.mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 257.0  # 16-bit range to 8 bits
        image = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))
    elif image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # Pillow asks for this order for palettes with transparency
    return image.convert("RGB")


JPEG_MAGIC = b"\xff\xd8\xff"


def jpeg_bytes(path: str | os.PathLike, limits: ImageLimits = LIMITS) -> bytes | None:
    """The bytes of a baseline RGB or greyscale JPEG file for decoding elsewhere (on a GPU), after the guards
    ``open_image`` applies before decoding (file size, header size and aspect ratio); None for any other
    file (CMYK, not a JPEG, missing, empty: ``open_image`` decodes or refuses it)."""
    path = Path(os.fspath(path))
    if not path.is_file() or not 0 < path.stat().st_size <= limits.max_file_bytes:
        return None
    data = path.read_bytes()
    if not data.startswith(JPEG_MAGIC):
        return None
    try:
        with warnings.catch_warnings(), Image.open(io.BytesIO(data)) as image:
            warnings.simplefilter("ignore", UserWarning)
            if image.format != "JPEG" or image.mode not in ("RGB", "L"):
                return None
            _check_size(*image.size, repr(str(path)), limits)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        return None
    return data


def open_image(source, name: str | None = None, limits: ImageLimits = LIMITS) -> Image.Image:
    """An 8-bit RGB PIL image from a path, bytes or a PIL image, or a one-line ``BadImage`` (see the module)."""
    if isinstance(source, Image.Image):
        _check_size(*source.size, name or "(in memory)", limits)
        return _to_rgb(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        name, size, opened = name or "(uploaded)", len(source), io.BytesIO(source)
    else:
        path = Path(os.fspath(source))
        name = name or repr(str(path))
        if not path.is_file():
            raise BadImage(f"image {name} does not exist")
        size, opened = path.stat().st_size, path
    if size == 0:
        raise BadImage(f"image {name} is an empty file")
    if size > limits.max_file_bytes:
        raise BadImage(f"image {name} is {size} bytes; the limit is {limits.max_file_bytes}", 413)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Pillow's notes on odd metadata: the pixels decide
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(opened) as image:
                _check_size(*image.size, name, limits)  # from the header: nothing decoded yet
                image.seek(0)  # first frame of an animation
                image.load()
                return _to_rgb(image)
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BadImage(f"image {name} refused as a decompression bomb ({e})", 413) from e
    except UnidentifiedImageError as e:
        raise BadImage(f"image {name} is not a readable image (accepted: JPEG, PNG, WebP, GIF, BMP, TIFF, ...)") from e
    except MemoryError as e:
        raise BadImage(f"image {name} needs more memory to decode than is available", 413) from e
    except Exception as e:  # truncated or corrupt data: Pillow's plugins raise OSError, ValueError, SyntaxError, ...
        reason = " ".join(str(e).split())[:160]
        raise BadImage(f"image {name} could not be decoded; it may be truncated or corrupt "
                       f"({type(e).__name__}{': ' + reason if reason else ''})") from e
