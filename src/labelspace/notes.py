"""labelspace's own one-line notes, and third-party load noise kept out of the terminal.

Loaders run inside ``quiet()``: the warnings other libraries send to the root logger (open_clip's
``WARNING:root`` lines) are held back, and with ``transformers=True`` so are transformers' progress bars
and load reports. What matters in them is said instead by ``note``, on the ``labelspace`` logger, which
the CLI prints as one ``note:`` line.
"""
from __future__ import annotations

import contextlib
import logging

log = logging.getLogger("labelspace")


def note(message: str) -> None:
    log.warning(message)


@contextlib.contextmanager
def quiet(transformers: bool = False):
    root = logging.getLogger()
    held = logging.NullHandler()  # a root handler keeps logging.warning() from adding a stderr one
    root.addHandler(held)
    level, root.level = root.level, logging.ERROR
    with contextlib.ExitStack() as stack:
        if transformers:
            from transformers.utils import logging as hf_logging

            verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            stack.callback(hf_logging.set_verbosity, verbosity)
            stack.callback(hf_logging.enable_progress_bar if bars else hf_logging.disable_progress_bar)
        try:
            yield
        finally:
            root.setLevel(level)
            root.removeHandler(held)
