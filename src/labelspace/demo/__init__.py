"""``labelspace demo``: the tour, one section per method, written to ``OUT/report.md``.

Each section is a function ``(context) -> markdown`` that may write figures into ``context.out_dir``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from labelspace.demo import analysis, clip, clip_training, conse, devise
from labelspace.io import atomic_write_text


@dataclass
class DemoContext:
    out_dir: Path
    per_class: int
    root: str | None


SECTIONS = [conse.section, devise.section, clip.section, clip_training.section, analysis.section]


def run_demo(out_dir: Path, per_class: int = 100, root: str | None = None) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    context = DemoContext(out_dir, per_class, root)
    parts = ["# labelspace demo report\n"]
    for section in SECTIONS:
        start = time.perf_counter()
        parts.append(section(context))
        parts.append(f"\n_section time: {time.perf_counter() - start:.1f} s_\n")
    return atomic_write_text(out_dir / "report.md", "\n".join(parts))
