"""Hub downloads that fail fast: without a reachable hub, labelspace's one-line error comes within seconds.

Libraries retry an unreachable Hugging Face hub for tens of seconds (and open_clip logs an ERROR line)
before failing. ``offline_unless_reachable`` checks the endpoint once per process with a short TCP
connect; when it cannot be reached, it switches huggingface_hub to offline mode, so downloads are served
from the local cache or fail at once; loaders try the download inside ``labelspace.notes.quiet``, which keeps
the libraries' own error lines out.
"""
from __future__ import annotations

import os
import socket
from functools import lru_cache
from urllib.parse import urlparse

from labelspace.errors import moved_names

CONNECT_TIMEOUT_S = 2.0


@lru_cache(maxsize=4)
def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
        return True
    except OSError:
        return False


def offline_unless_reachable() -> bool:
    """True when downloads must come from the local cache: HF_HUB_OFFLINE is set, or the hub is unreachable
    (then offline mode is switched on for this process)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return True
    endpoint = urlparse(constants.ENDPOINT)
    if _reachable(endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme == "https" else 80)):
        return False
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    return True


__getattr__ = moved_names(__name__, {"quiet_downloads": "moved: use labelspace.notes.quiet"})
