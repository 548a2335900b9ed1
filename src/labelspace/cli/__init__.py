"""The ``labelspace`` command: Typer app with one module per command group.

Bad input raises ``LabelspaceError``; ``main`` prints it as one line and exits 2, no traceback.
"""
from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console
from rich.markup import escape

from labelspace import __version__
from labelspace.errors import LabelspaceError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Zero-shot image recognition through a shared embedding space of images and label text.")
# Off a terminal (a pipe, a log file, CI) rich would cut every line at 80 columns: there nothing is cut or wrapped.
PIPE_WIDTH = 10_000
err = Console(stderr=True, **({} if sys.stderr.isatty() else {"width": PIPE_WIDTH}))
out = Console(markup=False,  # labels, paths and model names are shown as typed: "[bold]dog[/bold]" stays literal
              **({} if sys.stdout.isatty() else {"width": PIPE_WIDTH}))


def _version(shown: bool) -> None:
    if shown:
        out.print(f"labelspace {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="Print labelspace's version and exit.")):
    pass

# The options of every command that encodes or trains (labelspace.devices resolves and checks them).
DEVICE = typer.Option("auto", help="auto (CUDA when available, else CPU), cpu, cuda, cuda:N or mps.")
PRECISION = typer.Option("fp32", help="fp32, bf16 or fp16 (autocast; weights stay float32).")


def _workers(n: int | None) -> int | None:
    from labelspace.devices import resolve_workers  # torch: imported only when a command runs

    return n if n is None else resolve_workers(n)


WORKERS = typer.Option(None, callback=_workers,
                       help="DataLoader processes decoding images (default: spare CPUs, at most 8; "
                       "0: in the main process).")


def _preprocess(mode: str) -> str:
    from labelspace.data.loader import check_preprocess

    return check_preprocess(mode)


PREPROCESS = typer.Option("auto", callback=_preprocess,
                          help="Where images are resized and normalised: cpu (the model's PIL transform, in the "
                          "workers), device (uint8 pixels to the model's device, resized there) or auto (device on "
                          "CUDA for in-memory sets, else cpu).")



def refuse_unused_options(chosen: str, choices: set[str], options) -> None:
    """The one option check of every command: a one-line error for an option the user set (``given``) that
    ``chosen`` (``--task zsl``, ``--model open_clip:...``) would silently ignore. ``options``: rows of (option,
    given, what reads it); ``choices``: what is chosen, in the same terms."""
    for option, given, readers in options:
        if given and not choices & set(readers):
            raise LabelspaceError(f"{option} does not apply to {chosen} (only to {', '.join(readers)})")


from labelspace.cli import basic  # noqa: E402,F401  (registers commands on app)
from labelspace.cli import analyze, evaluate, serve, train, zeroshot  # noqa: E402,F401
from labelspace.cli import train_clip  # noqa: E402,F401  (adds `train clip` to the train sub-app)


class NoteHandler(logging.Handler):
    """labelspace's notes as one ``note:`` line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"[yellow]note:[/] {escape(record.getMessage())}", highlight=False, soft_wrap=True)


def main() -> None:
    notes = logging.getLogger("labelspace")
    if not notes.handlers:
        notes.addHandler(NoteHandler())
        notes.propagate = False
    try:
        app(standalone_mode=True)
    except LabelspaceError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
