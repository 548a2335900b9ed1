"""What the CLI prints off a terminal (a pipe, a log file, CI) is whole: no line cut at 80 columns; ``--version``."""
import json
import os
import re
import subprocess
import sys

import pytest

import labelspace
from labelspace.registry import REGISTRIES


def run_piped(*args, cwd=None) -> subprocess.CompletedProcess:
    """The CLI with stdout and stderr to pipes and no COLUMNS, as in ``labelspace list | cat``; ``-X importtime``
    lists every module it imported on stderr."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "labelspace.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def imported(result: subprocess.CompletedProcess, module: str) -> bool:
    """Whether ``module`` or one of its submodules was imported (``-X importtime`` output)."""
    return re.search(rf"\|\s+{re.escape(module)}(\.|$)", result.stderr, re.M) is not None


def test_list_to_a_pipe_keeps_every_spec_and_description_whole():
    result = run_piped("list")
    assert result.returncode == 0 and "…" not in result.stdout
    lines = result.stdout.splitlines()
    for registry in REGISTRIES:
        for entry in registry.list():
            assert any(entry.spec in line and entry.description in line for line in lines), entry.spec


def test_a_long_result_path_is_printed_whole(tmp_path):
    folder = tmp_path / ("a-folder-with-a-long-name-" * 4) / ("and-another-one-below-it-" * 4)
    folder.mkdir(parents=True)
    (folder / "r.json").write_text(json.dumps({"task": "zsl", "method": "conse", "model": "conse",
                                               "dataset": "photos", "metrics": {"seen": {"hit@1": 0.5}}}))
    table = folder / "results-of-every-run-merged-into-one-table.md"
    result = run_piped("eval-merge", str(folder), "--out", str(table))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"table written to {table}\n" in result.stdout and len(str(table)) > 200


def test_version_is_printed_without_torch():
    result = run_piped("--version")
    assert result.returncode == 0 and result.stdout == f"labelspace {labelspace.__version__}\n"
    assert not imported(result, "torch")


@pytest.mark.parametrize("command", ["list", "encoders"])
def test_spec_lists_are_printed_without_torch_or_the_registries_home_packages(command):
    result = run_piped(command)
    assert result.returncode == 0 and "efficientnet-lite0" in result.stdout
    assert ("zeroshot_classification" in result.stdout) == (command == "list")  # encoders: the encoder kinds only
    assert not [m for m in ["torch", *sorted({r.home for r in REGISTRIES})] if imported(result, m)]
