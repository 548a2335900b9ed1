"""``labelspace --help`` start-up time against ``python -c "import typer, rich"``, side by side in one run.

The CLI imports torch, transformers, open_clip and fastapi only inside the commands that need them, so
its help should cost little more than its two front-end libraries (goal: at most 3x).
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
    print(f"| command | median s ({rounds} rounds) |\n|---|---|")
    for name, value in median.items():
        print(f"| `{name}` | {value:.3f} |")
    print(f"\nratio: {median['labelspace --help'] / median['import typer, rich']:.2f}x (goal <= 3x)")


if __name__ == "__main__":
    main()
