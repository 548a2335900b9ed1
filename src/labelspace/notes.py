"""labelspace's own one-line notes, and third-party load noise kept out of the terminal.

Every loader runs inside ``quiet()``, the one way to load quietly: the log lines other libraries write while
they load (open_clip's ``WARNING:root`` lines, its ``ERROR:root:Failed to download ...`` before a refused
download) are held back, and with ``transformers=True`` so are transformers' progress bars. What matters in
them is said instead by ``note`` (on the ``labelspace`` logger, which the CLI prints as one ``note:`` line),
or by the caller's one-line ``LabelspaceError`` when the load fails (``load_failed``).
"""
from __future__ import annotations

import contextlib
import logging
import re

from labelspace.errors import LabelspaceError

log = logging.getLogger("labelspace")


def note(message: str) -> None:
    log.warning(message)


@contextlib.contextmanager
def quiet(transformers: bool = False):
    """Hold back every log record (any logger, any level) inside the block; notes belong after it."""
    held = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    with contextlib.ExitStack() as stack:
        stack.callback(logging.disable, held)
        if transformers:
            from transformers.utils import logging as hf_logging

            bars = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()
            stack.callback(hf_logging.enable_progress_bar if bars else hf_logging.disable_progress_bar)
        yield


def load_failed(what: str, error: Exception) -> LabelspaceError:
    """The one line for a library that failed to load ``what``: its error's type and first line, no terminal colours."""
    first = re.sub(r"\x1b\[[0-9;]*m", "", str(error).splitlines()[0][:160] if str(error) else "")
    return LabelspaceError(f"could not load {what} ({type(error).__name__}: {first})")
