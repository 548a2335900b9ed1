"""``labelspace --help``, ``--version`` and ``list`` start-up time against ``python -c "import typer, rich"``, side by side.

The CLI imports torch, transformers, open_clip and fastapi only inside the commands that need them, so
its help, version and spec list should cost little more than its two front-end libraries (goal: at most 3x).
Run: ``PYTHONPATH=src python benchmarks/cli_startup.py [--rounds 7]``.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "import typer, rich": [sys.executable, "-c", "import typer, rich"],
    "labelspace --help": [sys.executable, "-m", "labelspace.cli", "--help"],
    "labelspace --version": [sys.executable, "-m", "labelspace.cli", "--version"],
    "labelspace list": [sys.executable, "-m", "labelspace.cli", "list"],
}


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    times = {name: [] for name in COMMANDS}
    for _ in range(rounds):  # interleaved, so machine load falls on both alike
        for name, command in COMMANDS.items():
            times[name].append(seconds(command))
    median = {name: statistics.median(t) for name, t in times.items()}
    from labelspace.io import markdown_table

    print("\n".join(markdown_table(["command", f"median s ({rounds} rounds)"],
                                   [[f"`{name}`", f"{value:.3f}"] for name, value in median.items()])))
    base = median.pop("import typer, rich")
    print("\n" + "\n".join(f"{name}: {value / base:.2f}x (goal <= 3x)" for name, value in median.items()))


if __name__ == "__main__":
    main()
