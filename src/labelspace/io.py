"""Atomic writes: a result, checkpoint or cache file (or cache entry folder) is either the old one or the complete
new one, a full disk is one line, and what a killed writer left is removed by the next; output paths checked
before the work that fills them starts. The one Markdown table writer of every report, and the one reader of
users' text files (``read_text``: UTF-8 or a one-line error)."""
from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from labelspace.errors import LabelspaceError

MAX_NAME_BYTES = 255  # a file name's limit on common file systems
log = logging.getLogger("labelspace")
NO_SPACE = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded"}
_HOST = socket.gethostname()[:64]
_TEMPORARY = re.compile(r"\.(\d+)@(.+)\.\w+$")  # the end of a ``_temporary_prefix`` name: pid, host, mkstemp's part


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


def _hidden(path: Path) -> str:
    return f".{path.name[:100]}."  # with a writer and mkstemp's 8 characters, within the name limit


def _temporary_prefix(path: Path) -> str:
    """The hidden name of a temporary beside ``path``: its writer's pid and host, so a later run can tell what a
    killed writer left from what a live one is writing."""
    return f"{_hidden(path)}{os.getpid()}@{_HOST}."


def temporaries(path: str | os.PathLike) -> list[Path]:
    """The temporaries ``atomic_file(path)`` writers left beside ``path``: a killed run's, or a live writer's."""
    path = Path(path)
    return sorted(p for p in path.parent.glob(_hidden(path) + "*") if _TEMPORARY.search(p.name))


def remove_temporaries(path: str | os.PathLike) -> None:
    """Delete every temporary of ``path`` (``--overwrite`` replacing a run), saying so."""
    for stale in temporaries(path):
        log.warning(f"removing {stale}, left half-written by an interrupted run")
        stale.unlink(missing_ok=True)


def _writer_is_gone(name: str) -> bool:
    """Whether the temporary ``name`` belongs to a process of this host that no longer runs."""
    found = _TEMPORARY.search(name)
    if found is None or found[2] != _HOST:
        return False  # not a temporary, or another host's (its writer cannot be seen from here)
    try:
        os.kill(int(found[1]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # another user's live process; not a pid
        return False
    return False


def remove_stale_temporaries(folder: str | os.PathLike) -> None:
    """Delete the temporary files and folders that killed writers left in ``folder``, saying so; those of live
    writers (other processes writing now) stay."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name.startswith(".") and _writer_is_gone(entry.name):
            log.warning(f"removing {entry.path}, left half-written by an interrupted run")
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                Path(entry.path).unlink(missing_ok=True)


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


@contextmanager
def _space_checked(folder: Path, needed: int) -> Iterator[None]:
    """A full disk or quota while writing into ``folder`` is one line naming it and the space needed."""
    try:
        yield
    except OSError as e:
        if e.errno not in NO_SPACE:
            raise
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        raise LabelspaceError(f"{NO_SPACE[e.errno]} writing into {str(folder)!r}: about {_size(needed)} needed, "
                              f"{_size(shutil.disk_usage(existing).free)} free on its device; the previous files are "
                              "kept; free space there or write elsewhere (--out, LABELSPACE_CACHE)") from e


class FileWriter:
    """An open file written through ``os.write``: a full disk is an ``OSError`` (into a memory map, a SIGBUS)."""

    def __init__(self, fd: int):
        self.fd = fd

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            done += os.write(self.fd, view[done:])
        return done

    def write_at(self, offset: int, data: bytes) -> None:
        """Overwrite bytes already written (a header whose contents are known last)."""
        os.pwrite(self.fd, data, offset)

    def reserve(self, size: int) -> None:
        """Allocate ``size`` bytes now, so a full disk is found before the work that fills them, not after."""
        if hasattr(os, "posix_fallocate"):  # Linux; elsewhere the writes find it
            os.posix_fallocate(self.fd, 0, size)


@contextmanager
def _written(fd: int) -> Iterator[FileWriter]:
    """``fd`` as a ``FileWriter``; then cut to what was written (``reserve`` may allocate more), synced, closed."""
    try:
        yield FileWriter(fd)
        os.ftruncate(fd, os.lseek(fd, 0, os.SEEK_CUR))
        os.fsync(fd)
    finally:
        os.close(fd)


def new_file(path: str | os.PathLike):
    """A new file inside an ``atomic_folder`` temporary (a ``FileWriter``, synced when the block ends)."""
    return _written(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


@contextmanager
def _beside(path: Path, needed: int) -> Iterator[None]:
    """Writing a temporary beside ``path``: its folder made, what killed writers left there removed, a full disk or
    quota one line."""
    with _space_checked(path.parent, needed):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent)
        yield


@contextmanager
def atomic_file(path: str | os.PathLike, needed: int) -> Iterator[FileWriter]:
    """The one writer of files: ``path`` is the old file or the complete new one. Bytes go into a temporary
    beside it (``FileWriter``), synced and renamed over it; the temporary goes on any error, and a full disk or
    quota is one line naming the folder and the ``needed`` bytes (``_beside``)."""
    path = Path(path)
    with _beside(path, needed):
        fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path), dir=path.parent)
        try:
            with _written(fd) as f:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make results unreadable to others
                yield f
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@contextmanager
def atomic_folder(path: str | os.PathLike, needed: int) -> Iterator[Path]:
    """A cache entry folder, whole or absent: filled in a temporary folder beside ``path`` (``new_file``), then
    renamed to ``path``, unless another writer's entry got there first; that one stays (same key, same content)
    and the caller reads ``path`` either way. Errors and a full disk as ``atomic_file``."""
    path = Path(path)
    with _beside(path, needed):
        tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(path), dir=path.parent))
        try:
            yield tmp
            try:
                os.rename(tmp, path)
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # nothing there once renamed


def remove_folder(path: str | os.PathLike) -> None:
    """Delete a (bad) cache entry folder at once for its readers: renamed aside, then removed."""
    path = Path(path)
    aside = tempfile.mkdtemp(prefix=_temporary_prefix(path), dir=path.parent)
    try:
        os.rename(path, aside)  # over the empty folder
    except FileNotFoundError:
        pass  # a concurrent remover's rename came first
    shutil.rmtree(aside, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_file(path, len(data)) as f:
        f.write(data)
    return Path(path)


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
