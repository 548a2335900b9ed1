"""Where cached features and classifiers live, and the fingerprints that key them."""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path


def default_cache_dir() -> Path:
    return Path(os.environ.get("LABELSPACE_CACHE", Path.home() / ".cache" / "labelspace"))


def digest(*parts) -> str:
    """A short hex key over ``parts`` (bytes as they are, anything else by ``str``)."""
    h = hashlib.blake2b(digest_size=12)
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()


def file_stat(path: str | os.PathLike) -> str:
    """A cheap fingerprint of a data file (name, size, modification time): datasets hold many files."""
    st = os.stat(path)
    return f"{Path(path).name}:{st.st_size}:{st.st_mtime_ns}"


def file_stats(paths) -> list:
    """(path, ``file_stat``) of each data file, (path, None) for one that cannot be read (it is skipped at
    extraction, so its absence is part of the content)."""
    stats = []
    for p in paths:
        try:
            stats.append((str(p), file_stat(p)))
        except OSError:
            stats.append((str(p), None))
    return stats


def file_digest(path: str | os.PathLike) -> str:
    """A weights file's name and content hash (the cache keys' "weights"), hashed once per process per version."""
    st = os.stat(path)
    return f"{Path(path).name}:{_content_hash(os.path.realpath(path), st.st_size, st.st_mtime_ns)}"


@lru_cache(maxsize=64)
def _content_hash(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
