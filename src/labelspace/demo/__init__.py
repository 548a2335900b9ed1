"""``labelspace demo``: the tour, one section per method, written to ``OUT/report.md``.

Each section is a function ``(context) -> markdown`` that may write figures into ``context.out_dir``;
the terminal shows which section runs, how long it has run, and each one's time when it ends.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from labelspace.demo import analysis, clip, clip_training, conse, devise, imagenet21k
from labelspace.io import atomic_write_text


@dataclass
class DemoContext:
    out_dir: Path
    per_class: int
    root: str | None


SECTIONS = [conse.section, imagenet21k.section, devise.section, clip.section, clip_training.section, analysis.section]


def title(section) -> str:
    """A section's one-line title, from its module's docstring."""
    doc = sys.modules[section.__module__].__doc__ or section.__module__
    return doc.removeprefix("Demo section: ").splitlines()[0].split(". ")[0].rstrip(".;")


def run_demo(out_dir: Path, per_class: int = 100, root: str | None = None, progress: bool = True) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    context = DemoContext(out_dir, per_class, root)
    parts = ["# labelspace demo report\n"]
    console = Console(stderr=True)
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, disable=not progress, transient=True)
    with bar:
        task = bar.add_task("demo", total=len(SECTIONS))
        for section in SECTIONS:
            bar.update(task, description=title(section))
            start = time.perf_counter()
            parts.append(section(context))
            seconds = time.perf_counter() - start
            parts.append(f"\n_section time: {seconds:.1f} s_\n")
            if progress:
                console.print(f"[green]done[/] {title(section)} ({seconds:.1f} s)", highlight=False)
            bar.advance(task)
    return atomic_write_text(out_dir / "report.md", "\n".join(parts))
