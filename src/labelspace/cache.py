"""Where cached features and classifiers live, and the fingerprints that key them."""
from __future__ import annotations

import hashlib
import os
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


def file_digest(path: str | os.PathLike) -> str:
    """A cheap fingerprint of a weights file (name, size, modification time), so a changed file re-keys caches."""
    st = os.stat(path)
    return f"{Path(path).name}:{st.st_size}:{st.st_mtime_ns}"
