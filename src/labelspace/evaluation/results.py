"""One JSON file per evaluation run, named from its parts, and a merge of many into one table."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from labelspace.errors import LabelspaceError
from labelspace.io import MAX_NAME_BYTES, atomic_write_text, markdown_table, write_json

KEYS = ("task", "method", "model", "dataset")
# Settings that change the numbers without changing KEYS; named in the file name and table when a run has them.
VARIANTS = ("image_model", "text_model", "top_t", "templates", "split", "labels", "train_dataset",
            "wordnet_overrides", "calibrated", "csls")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", str(text)).strip("-")[:80]


def variants(result: dict) -> dict:
    """The ``VARIANTS`` this run has (set, not None), in ``VARIANTS`` order."""
    return {k: result[k] for k in VARIANTS if result.get(k) is not None}


def result_path(out_dir: str | os.PathLike, result: dict) -> Path:
    """``<task>__<method>__<model>__<dataset>[__<variant>=<value>...].json``: one file per distinct run; a name
    over the file system's 255 bytes keeps its first 200 and ends in a hash of the whole."""
    name = "__".join([_slug(result[k]) for k in KEYS] + [f"{k}={_slug(v)}" for k, v in variants(result).items()])
    if len(name) + 5 > MAX_NAME_BYTES:  # slugs are ASCII: characters are bytes
        name = f"{name[:200]}__{hashlib.blake2b(name.encode(), digest_size=8).hexdigest()}"
    return Path(out_dir) / (name + ".json")


def write_result(out_dir: str | os.PathLike, result: dict) -> Path:
    """Write ``result`` (with the ``KEYS`` and a ``metrics`` dict) atomically; returns the path."""
    return write_json(result_path(out_dir, result), result)


def load_results(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """Result dicts from JSON files and folders of them (sorted by path)."""
    files = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.json")) if p.is_dir() else [p]
    results = []
    for f in files:
        try:
            result = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise LabelspaceError(f"result file {str(f)!r} is not readable JSON ({type(e).__name__})") from e
        if not all(k in result for k in (*KEYS, "metrics")):
            raise LabelspaceError(f"{str(f)!r} is not a labelspace result (needs {', '.join(KEYS)} and metrics)")
        results.append(result)
    if not results:
        raise LabelspaceError(f"no result JSON files in {[str(p) for p in paths]}")
    return results


def flat_metrics(metrics: dict, prefix: str = "") -> dict:
    """Nested metric views as one level: ``{"seen": {"hit@1": x}}`` -> ``{"seen.hit@1": x}``; lists (the
    skipped images' names, a seen-unseen curve's points) stay in the JSON only."""
    flat = {}
    for name, value in metrics.items():
        if isinstance(value, dict):
            flat.update(flat_metrics(value, f"{prefix}{name}."))
        elif not isinstance(value, list):
            flat[f"{prefix}{name}"] = value
    return flat


def merged_table(results: list[dict]) -> tuple[list[str], list[list]]:
    """Header and rows over many runs: the run keys, the variants any run has, then every metric any run
    reported (flattened, in first-seen order)."""
    present = [k for k in VARIANTS if any(k in variants(r) for r in results)]
    flat = [flat_metrics(r["metrics"]) for r in results]
    metrics = list(dict.fromkeys(m for f in flat for m in f))
    rows = [[r[k] for k in KEYS] + [variants(r).get(k, "") for k in present] + [f.get(m, "") for m in metrics]
            for r, f in zip(results, flat)]
    return [*KEYS, *present, *metrics], rows


def _cell(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def merge_results(paths, out: str | os.PathLike) -> Path:
    """Merge result files into ``out``: CSV when it ends in .csv, Markdown otherwise (atomic)."""
    header, rows = merged_table(load_results(paths))
    if str(out).endswith(".csv"):
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *rows])
        return atomic_write_text(out, buffer.getvalue())
    return atomic_write_text(out, "\n".join(markdown_table(header, [[_cell(v) for v in row] for row in rows])) + "\n")
