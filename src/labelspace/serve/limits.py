"""What a request may carry, and the checks that refuse the rest with a 4xx and a one-line message.

Uploads are read into memory only (never spooled to disk), capped in bytes while they stream in, and
read before the request takes one of the server's ``workers + queue`` inference slots, under bounds of
their own: a body must arrive within ``body_seconds`` of its headers (408), and the bodies still arriving
hold at most ``max_receiving_bytes`` together (503), so a slow client holds a few bytes for a while and
never a slot; a request's head must arrive within ``head_seconds`` (``serve.run``). Images go through
``data.images.open_image``, which refuses by the header's pixel count and aspect ratio before any pixel is
decoded (decompression bombs, thin images).
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from PIL import Image

from labelspace.data.images import ImageLimits, open_image
from labelspace.encoders.text import check_labels
from labelspace.errors import LabelspaceError
from labelspace.vocab import check_hedge, is_label_set_spec


class Refused(LabelspaceError):
    """Bad request input, answered with HTTP ``status`` and the message as JSON ``{"error": ...}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_labels: int = 200
    max_label_chars: int = 100
    max_templates: int = 16
    max_field_bytes: int = 64 * 1024  # each text field (labels, templates)
    set_top: int = 10  # answers sent for a label set when the request names no 'top'
    body_seconds: float = 30.0  # for a request's body to arrive, from the end of its headers (else 408)
    head_seconds: float = 10.0  # for a request's line and headers, from the connection's start or last answer
    max_receiving_bytes: int = 160 * 2**20  # the bodies still arriving, all together (else 503)

    @property
    def max_body_bytes(self) -> int:
        return self.max_upload_bytes + 4 * self.max_field_bytes


async def capped(stream: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """Pass the request body through, refusing it (413) as soon as it grows past ``limit`` bytes."""
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise Refused(413, f"request body is larger than {limit} bytes (images up to {mib(limit)} are accepted)")
        yield chunk


def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def check_content_type(content_type: str | None) -> None:
    """An ``image/*`` part, or a generic one (clients such as curl send unknown files as octet-stream)."""
    if content_type and not content_type.startswith(("image/", "application/octet-stream")):
        raise Refused(415, f"the 'image' part has content type {content_type!r}; send an image (image/jpeg, image/png, ...)")


def decode_image(data: bytes, limits: Limits) -> Image.Image:
    """An RGB image from uploaded bytes through the one guarded opener (``data.images.open_image``): its
    ``BadImage`` refusals carry their HTTP status (400 unreadable, 413 over a limit)."""
    if not data:
        raise Refused(400, "the 'image' part is empty; send an image file")
    return open_image(data, "(uploaded)", ImageLimits(max_file_bytes=limits.max_upload_bytes,
                                                      max_pixels=limits.max_pixels))


def parse_labels(text: str, limits: Limits) -> str | list[str]:
    """A label-set name (returned as it is: ``imagenet-21k``, ``wordnet:<wnid>``, ``+1k`` forms; a name, so the
    label-count limit of typed lists does not apply), or comma-separated labels (empty entries dropped): 1 to
    ``max_labels``, each at most ``max_label_chars`` characters. Only registered names are sets: the server never
    reads a file a client names (``file:`` is refused; a bare path is one more typed label)."""
    spec = text.strip()
    if is_label_set_spec(spec, files=False):
        return spec
    if spec.startswith("file:"):
        raise Refused(400, "label files are not read from the web; name a label set (GET /label-sets, "
                           "wordnet:<wnid>) or send comma-separated labels")
    labels = [label.strip() for label in text.split(",") if label.strip()]
    if not labels:
        raise Refused(400, "no labels given; send 'labels' as comma-separated names, e.g. 'cat, dog, car'")
    if len(labels) > limits.max_labels:
        raise Refused(400, f"{len(labels)} labels given; at most {limits.max_labels} are accepted per request "
                           "(or name a label set such as imagenet-21k)")
    long = [label for label in labels if len(label) > limits.max_label_chars]
    if long:
        shown = long[0] if len(long[0]) <= 40 else long[0][:40] + "..."
        raise Refused(400, f"label {shown!r} has {len(long[0])} characters; at most {limits.max_label_chars} characters "
                           "are accepted per label")
    try:
        return check_labels(labels)
    except LabelspaceError as e:
        raise Refused(400, str(e)) from e


def parse_hedge(text: str) -> float | None:
    """The optional hedge probability, in (0, 1] (``vocab.hedging``); empty: no hedged answer."""
    if not text.strip():
        return None
    try:
        hedge = float(text)
    except ValueError:
        raise Refused(400, f"'hedge' must be a probability in (0, 1], got {text[:40]!r}") from None
    return check_hedge(hedge)


def parse_top(text: str, limits: Limits) -> int | None:
    """How many answers to send, 1 to ``max_labels``; empty: every typed label, or a label set's best ``set_top``."""
    if not text.strip():
        return None
    if not text.strip().isdigit() or not 1 <= int(text) <= limits.max_labels:
        raise Refused(400, f"'top' must be a whole number from 1 to {limits.max_labels}, got {text[:40]!r}")
    return int(text)


def parse_templates(text: str, limits: Limits) -> list[str]:
    """One prompt template per line, each with ``{}`` where the label goes; none means the bare label."""
    templates = [t.strip() for t in text.splitlines() if t.strip()] or ["{}"]
    if len(templates) > limits.max_templates:
        raise Refused(400, f"{len(templates)} templates given; at most {limits.max_templates} are accepted")
    bad = [t for t in templates if "{}" not in t or len(t) > limits.max_label_chars]
    if bad:
        raise Refused(400, f"template {bad[0][:60]!r} must contain '{{}}' where the label goes and be at most "
                           f"{limits.max_label_chars} characters")
    return list(dict.fromkeys(templates))
