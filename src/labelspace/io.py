"""Atomic writes: a result or checkpoint file is either the old one or the complete new one; output paths
checked before the work that fills them starts. The one Markdown table writer of every report, and the one
reader of users' text files (``read_text``: UTF-8 or a one-line error)."""
from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from labelspace.errors import LabelspaceError

MAX_NAME_BYTES = 255  # a file name's limit on common file systems
log = logging.getLogger("labelspace")


def _temporary_prefix(path: Path) -> str:
    return f".{path.name[:100]}."  # mkstemp adds 8 characters: the temporary name stays within the limit


def _short_names(path: Path, option: str) -> Path:
    long = next((part for part in path.parts if len(part.encode()) > MAX_NAME_BYTES), None)
    if long is not None:
        raise LabelspaceError(f"{option} {str(path)[:60]!r}...: the name {long[:40]!r}... is {len(long.encode())} "
                              f"bytes; the limit is {MAX_NAME_BYTES}")
    return path


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Refuse, before any work, an output folder that cannot be one: a name over 255 bytes, an existing file,
    a folder under a file, or a folder that cannot be written."""
    path = _short_names(Path(path), option)
    for existing in (p for p in (path, *path.parents) if p.exists()):
        if not existing.is_dir():
            raise LabelspaceError(f"{option} {str(path)!r} must be a folder, but {str(existing)!r} is a file")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise LabelspaceError(f"{option} {str(path)!r}: folder {str(existing)!r} is not writable")
        break
    return path


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """Refuse, before any work, an output file that cannot be written: a name over 255 bytes, a folder, or a
    parent that cannot be a writable folder."""
    path = _short_names(Path(path), option)
    check_output_dir(path.parent, option)
    if path.is_dir():
        raise LabelspaceError(f"{option} {str(path)!r} is a folder; name a file")
    return path


def temporaries(path: str | os.PathLike) -> list[Path]:
    """The files an interrupted ``atomic_write_bytes(path, ...)`` left half-written (a killed run)."""
    path = Path(path)
    return sorted(path.parent.glob(_temporary_prefix(path) + "*"))


def remove_temporaries(path: str | os.PathLike) -> None:
    """Delete what an interrupted ``atomic_write_bytes(path, ...)`` left (a killed run), saying so."""
    for stale in temporaries(path):
        log.warning(f"removing {stale}, left half-written by an interrupted run")
        stale.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path), dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make results unreadable to others
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_text(path: str | os.PathLike, what: str) -> str:
    """The text of a user's file (a CSV, a COCO JSON, a split list) as UTF-8, a leading byte-order mark dropped.

    Other bytes are a one-line error naming ``what``, the file, the byte's offset and its line: guessing another
    encoding (Latin-1 decodes any bytes) would turn labels and paths silently into different ones.
    """
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise LabelspaceError(f"{what} {str(path)!r} is not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start} "
                              f"(line {line}); save it as UTF-8, e.g. iconv -f latin1 -t utf-8") from e


def markdown_table(header: Sequence, rows: Iterable[Sequence]) -> Iterator[str]:
    """A Markdown table's lines: header, ``|---|`` rule, one line per row as it comes (so a benchmark prints each
    row when measured). Cells are written with ``str``: callers format their numbers."""
    yield _table_row(header)
    yield "|" + "---|" * len(header)
    for row in rows:
        yield _table_row(row)


def _table_row(cells: Sequence) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"
