"""The README's shell commands name only options their command has: every ``labelspace ...`` line of a ```bash
block, whoever adds it."""
import re
import shlex
from pathlib import Path

import pytest
import typer

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    """Each ``labelspace`` command line of the README's bash blocks, continuation lines joined, comments dropped."""
    commands, block, line = [], False, ""
    for raw in README.read_text().splitlines():
        if raw.startswith("```"):
            block, line = raw.startswith("```bash"), ""
            continue
        if not block:
            continue
        line += raw.split(" #")[0].strip() if line else raw.split(" #")[0].rstrip()
        if line.endswith("\\"):
            line = line[:-1] + " "
            continue
        if line.startswith("labelspace "):
            commands.append(line)
        line = ""
    return commands


def command_of(words: list[str]):
    """The click command a line's leading words name (``train devise``), and its name."""
    from labelspace.cli import app

    command, names = typer.main.get_command(app), []
    for word in words:
        if word not in getattr(command, "commands", {}):  # a group's sub-commands (typer's groups are not click's)
            break
        command, names = command.commands[word], names + [word]
    return command, " ".join(names)


def test_the_readme_has_commands_to_check():
    assert len(readme_commands()) >= 20


def unknown_options(line: str) -> tuple[str, list[str]]:
    """The command a line runs and the ``--options`` on it that command does not have."""
    words = shlex.split(line.replace("[", " ").replace("]", " ").replace("|", " "), posix=False)[1:]
    command, name = command_of(words)
    accepted = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}
    return name, sorted(set(re.findall(r"(?<![\w-])--[a-z][\w-]*", line)) - accepted)


def test_a_missing_option_is_found():
    assert unknown_options("labelspace classify a.jpg --labels cat,dog --workers 2 [--json]") == ("classify", ["--workers"])
    assert unknown_options("labelspace eval --model m --no-hp --split s") == ("eval", [])
    assert unknown_options("labelspace train devise --out x --no-such") == ("train devise", ["--no-such"])


@pytest.mark.parametrize("line", readme_commands())
def test_every_readme_option_exists(line):
    name, unknown = unknown_options(line)
    assert name and not unknown, f"`labelspace {name}` has no option {unknown}: {line}"
