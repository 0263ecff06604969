"""Notebooks as the grader reads and runs them, and nbgrader's marks in them (one copy of each).

- :func:`read` and :func:`execute`: a notebook file in, a notebook executed in a fresh python3
  kernel out (errors do not stop the run);
- which cells are graded (:func:`grade_cells`) and which are autograded tests
  (:func:`is_autograded_test`, :func:`autograded_test_ids`): the one predicate every grading
  step uses;
- the hidden-test block of a test cell (:data:`HIDDEN_BEGIN`, :data:`HIDDEN_END`,
  :func:`strip_hidden`, :func:`hidden_line_range`, :func:`hidden_blocks`);
- the stubs a student version holds where a solution was (:data:`CODE_STUB`, :data:`TEXT_STUB`;
  ``autograder/nbgrader_config.py`` gives them to nbgrader).

It imports nothing else of the course, so every other grading module can use it.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
_HIDDEN_BLOCK = re.compile(rf"{re.escape(HIDDEN_BEGIN)}(.*?){re.escape(HIDDEN_END)}", re.S)
#: What ``nbgrader generate_assignment`` puts where a solution was, in code and in markdown.
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"


def read(path: str | Path):
    """Read a notebook (nbformat v4)."""
    return nbformat.read(str(path), as_version=4)


def execute(nb, cwd: str | Path, timeout: int = 120):
    """Execute every cell (errors do not stop the run) in ``cwd`` with a python3 kernel."""
    from nbclient import NotebookClient

    nb = copy.deepcopy(nb)
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(cwd)}},
    ).execute()
    return nb


def grade_cells(nb) -> dict[str, dict]:
    """The nbgrader metadata of every cell that has a ``grade_id``, keyed by it."""
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta and meta.get("grade_id"):
            out[meta["grade_id"]] = {"cell": cell, **meta}
    return out


def is_autograded_test(cell) -> bool:
    """Whether ``cell`` is an autograded test cell (a graded code cell that is not a solution)."""
    meta = cell.metadata.get("nbgrader", {})
    return (
        cell.cell_type == "code"
        and bool(meta.get("grade"))
        and not meta.get("solution")
        and bool(meta.get("grade_id"))
    )


def autograded_test_ids(nb) -> list[str]:
    """grade_ids of the autograded test cells, in notebook order."""
    return [m["grade_id"] for m in grade_cells(nb).values() if is_autograded_test(m["cell"])]


def hidden_blocks(source: str) -> list[str]:
    """The text inside each hidden-test block of a cell's source."""
    return _HIDDEN_BLOCK.findall(source)


def same_code(a: str, b: str) -> bool:
    """Whether two cell sources are the same code, ignoring trailing spaces and blank ends (how
    the review tells an edited cell from its source)."""

    def norm(source: str) -> str:
        return "\n".join(line.rstrip() for line in source.strip().splitlines())

    return norm(a) == norm(b)


def strip_hidden(source: str) -> str:
    """``source`` without its hidden-test blocks (markers included)."""
    return re.sub(
        rf"[ \t]*{re.escape(HIDDEN_BEGIN)}.*?{re.escape(HIDDEN_END)}[ \t]*\n?",
        "",
        source,
        flags=re.S,
    ).rstrip()


def hidden_line_range(source: str) -> tuple[int, int] | None:
    """1-based first and last line of the hidden block, or None."""
    lines = source.splitlines()
    try:
        start = next(i for i, line in enumerate(lines, 1) if HIDDEN_BEGIN in line)
        end = next(i for i, line in enumerate(lines, 1) if HIDDEN_END in line and i > start)
    except StopIteration:
        return None
    return start, end
