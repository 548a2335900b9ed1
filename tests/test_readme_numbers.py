"""The README's quick results are what their commands print today: each test reads the quoted numbers and the
command from the README itself (not copies of them here) and runs that command, so a change to either the code or
the README that makes them disagree fails here. Slow results (``labelspace demo``, ``benchmarks/*.py``) are not rerun.
"""
import importlib.util
import json
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def section(title: str) -> str:
    """The README's text from the heading ``## title`` to the next ``## `` heading."""
    return README.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def prose(title: str) -> str:
    """A section's text with its line breaks made spaces, so a quoted sentence reads whole."""
    return " ".join(section(title).split())


def measured_results() -> list[dict[str, str]]:
    """The rows of the "Measured results" table, as ``{what, result, command}`` (backticks dropped)."""
    lines = [line for line in section("Measured results").splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines if not line.startswith("|---")]
    header = cells[0]
    return [dict(zip(header, row)) for row in cells[1:]]


def measured_row(command_start: str) -> dict[str, str]:
    [row] = [r for r in measured_results() if r["command"].strip("`").startswith(command_start)]
    return row


def resolve(path: str) -> str:
    """``.../skimage/data/chelsea.png`` -> that file inside the installed package ``skimage``."""
    if not path.startswith(".../"):
        return path
    package, rest = path[4:].split("/", 1)
    return str(Path(importlib.util.find_spec(package).origin).parent / rest)


def printed_table(out: str) -> tuple[str, dict[str, str]]:
    """``classify``'s table: the score column's name and ``{label: printed score}``."""
    header = next(line for line in out.splitlines() if "rank" in line)
    name = [c.strip() for c in re.split(r"[┃│|]", header) if c.strip()][-1]
    rows = re.findall(r"│\s*\d+\s*│\s*(.+?)\s*│\s*(\d+\.\d+)\s*│", out)
    return name, dict(rows)


def test_the_measured_results_table_parses():
    rows = measured_results()
    assert len(rows) >= 10 and all(set(r) == {"what", "result", "command"} for r in rows)
    assert all(r["command"] for r in rows), "every quoted result names the command that printed it"


def test_classify_the_cat_against_five_labels_prints_the_readme_row(cli_main):
    """The "Measured results" row of ``labelspace classify .../chelsea.png --labels cat,dog,car,airplane,guitar``."""
    row = measured_row("labelspace classify")
    args = [resolve(word) for word in shlex.split(row["command"].strip("`"))[1:]]
    quoted_name, quoted = re.fullmatch(r"`([^`]+)`: (.+)", row["result"]).groups()
    quoted_scores = dict(re.findall(r"([\w-]+) (\d+\.\d+)", quoted))
    assert len(quoted_scores) >= 2, row["result"]
    code, out, err = cli_main(*args)
    assert code == 0, err
    name, printed = printed_table(out)
    assert name == quoted_name
    assert {label: printed[label] for label in quoted_scores} == quoted_scores


def test_python_in_five_lines_prints_the_readme_comment():
    """``labelspace.classify(["chelsea.png"], [...])`` and the ``{'label': ..., 'score': 0.69...}`` comment."""
    import labelspace

    block = section("Python in five lines")
    labels = json.loads(re.search(r"labelspace\.classify\(\[\"chelsea\.png\"\], (\[[^\]]+\])\)", block).group(1))
    label, score = re.search(r"# \{'label': '([^']+)', 'score': (\d\.\d+)\.\.\.\}", block).groups()
    ranked = labelspace.classify([resolve(".../skimage/data/chelsea.png")], labels)
    assert ranked[0][0]["label"] == label and str(ranked[0][0]["score"]).startswith(score)


@pytest.mark.slow
def test_classify_the_cat_over_imagenet_21k_prints_the_readme_top_5(cli_main):
    """Label sets: "the cat photo's top 5 with GloVe are ..." and "`labelspace classify chelsea.png --labels
    imagenet-21k+1k --hedge 0.5` prints the same answers"."""
    text = prose("Label sets: ImageNet-21K and WordNet")
    quoted = re.search(r"the cat photo's top 5 with GloVe are (.+?) \(hP@5", text).group(1).split(", ")
    command = re.search(r"`labelspace (classify chelsea\.png --labels [^`]+)` prints the same answers", text).group(1)
    args = [resolve(".../skimage/data/chelsea.png") if w == "chelsea.png" else w for w in shlex.split(command)]
    code, out, err = cli_main(*args, "--json")
    assert code == 0, err
    [result] = json.loads(out)
    assert [answer["label"] for answer in result["labels"]] == quoted

