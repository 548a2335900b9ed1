"""The ``labelspace`` command: Typer app with one module per command group.

Bad input raises ``LabelspaceError``; ``main`` prints it as one line and exits 2, no traceback.
"""
from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from labelspace.devices import resolve_workers
from labelspace.errors import LabelspaceError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Zero-shot image recognition through a shared embedding space of images and label text.")
err = Console(stderr=True)
out = Console(markup=False)  # labels, paths and model names are shown as typed: "[bold]dog[/bold]" stays literal

# The options of every command that encodes or trains (labelspace.devices resolves and checks them).
DEVICE = typer.Option("auto", help="auto (CUDA when available, else CPU), cpu, cuda, cuda:N or mps.")
PRECISION = typer.Option("fp32", help="fp32, bf16 or fp16 (autocast; weights stay float32).")
WORKERS = typer.Option(None, callback=lambda n: n if n is None else resolve_workers(n),
                       help="DataLoader processes decoding images (default: spare CPUs, at most 8; "
                       "0: in the main process).")

from labelspace.cli import basic  # noqa: E402,F401  (registers commands on app)
from labelspace.cli import analyze, evaluate, serve, train, zeroshot  # noqa: E402,F401
from labelspace.cli import train_clip  # noqa: E402,F401  (adds `train clip` to the train sub-app)


def main() -> None:
    try:
        app(standalone_mode=True)
    except LabelspaceError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
