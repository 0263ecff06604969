"""Build and tidy course notebooks: lesson cells, nbgrader cells, clean metadata.

Course authors write notebooks either in JupyterLab (with nbgrader's "Create Assignment" toolbar)
or from Python with the cell builders below. Either way ``python -m tpmlab.authoring clean PATH...``
normalises them before commit: outputs and execution counts removed, python3 kernelspec, stable
cell ids, no stray metadata. The hygiene test in ``tests/`` fails on any notebook that is not clean.

Example::

    from tpmlab.authoring import md, answer, tests, notebook, save
    nb = notebook([
        md("# Question 1"),
        answer("q1", "### BEGIN SOLUTION\nq1 = 42\n### END SOLUTION"),
        tests("q1-tests", 2, "from tpmlab.checks import check_number\ncheck_number(q1, 42, 'q1')"),
    ])
    save(nb, "exercises/00-warmup/warmup.ipynb")
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterable
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
LANGUAGE_INFO = {"name": "python"}
# Cell metadata keys kept by ``clean``; everything else (collapsed, scrolled, execution timing...)
# is editor state that only makes diffs noisy.
KEPT_CELL_METADATA = {"nbgrader", "tags", "deletable", "editable"}


def _nbgrader(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: float = 0):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def md(text: str):
    """A markdown cell (narrative)."""
    return new_markdown_cell(text.strip("\n"))


def code(source: str):
    """An ordinary code cell (examples, 'try it' cells)."""
    return new_code_cell(source.strip("\n"))


def readonly(grade_id: str, source: str, *, markdown: bool = False):
    """A locked cell learners cannot edit (instructions, setup), still checked by nbgrader."""
    maker = new_markdown_cell if markdown else new_code_cell
    return maker(
        source.strip("\n"),
        metadata=_nbgrader(grade_id, grade=False, solution=False, locked=True),
    )


def answer(grade_id: str, source: str):
    """An autograded answer cell: the solution sits between ### BEGIN/END SOLUTION."""
    if "### BEGIN SOLUTION" not in source:
        raise ValueError(f"answer cell {grade_id!r} has no '### BEGIN SOLUTION' block")
    return new_code_cell(
        source.strip("\n"), metadata=_nbgrader(grade_id, grade=False, solution=True, locked=False)
    )


def tests(grade_id: str, points: float, source: str):
    """A read-only autograder test cell worth ``points``; hidden checks go in HIDDEN TESTS."""
    return new_code_cell(
        source.strip("\n"),
        metadata=_nbgrader(grade_id, grade=True, solution=False, locked=True, points=points),
    )


def manual(grade_id: str, points: float, scheme: str):
    """A hand-graded markdown answer cell worth ``points``.

    ``scheme`` is the instructor's model answer and mark scheme. It sits in the cell's solution
    block, so the source notebook (and the formgrader) shows it, and the student version shows
    "YOUR ANSWER HERE" in its place. Put the question itself in the markdown cell above.
    """
    body = scheme.strip("\n")
    if "### BEGIN SOLUTION" not in body:
        body = f"### BEGIN SOLUTION\n{body}\n### END SOLUTION"
    return new_markdown_cell(
        body, metadata=_nbgrader(grade_id, grade=True, solution=True, locked=False, points=points)
    )


def mark_scheme(grade_id: str, text: str):
    """Not a separate cell: nbgrader requires every markdown solution cell to be graded."""
    raise ValueError(
        "nbgrader rejects a markdown solution cell that is not graded, so a mark scheme cannot "
        "be a cell of its own: pass it as manual(grade_id, points, scheme=...) instead; it is "
        "shown to graders and replaced by 'YOUR ANSWER HERE' in the student version."
    )


def notebook(cells: Iterable):
    """A notebook with the course's standard metadata."""
    nb = new_notebook(cells=list(cells))
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    return nb


def clean(nb):
    """Return ``nb`` with outputs, execution counts and editor metadata removed, stable ids."""
    nb.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": dict(LANGUAGE_INFO),
    }
    seen: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in KEPT_CELL_METADATA}
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            if not cell.get("attachments"):
                cell.pop("attachments", None)
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        base = grade_id or hashlib.sha1(f"{index}:{cell.source}".encode()).hexdigest()[:8]
        n = seen.get(base, 0)
        seen[base] = n + 1
        cell["id"] = base if n == 0 else f"{base}-{n}"
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def save(nb, path: str | Path) -> Path:
    """Clean, validate and write a notebook (creating its folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = clean(nb)
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tpmlab.authoring", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_clean = sub.add_parser("clean", help="strip outputs and editor metadata from notebooks")
    p_clean.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.paths:
        files = sorted(path.rglob("*.ipynb")) if path.is_dir() else [path]
        for file in files:
            if ".ipynb_checkpoints" in file.parts:
                continue
            save(nbformat.read(str(file), as_version=4), file)
            print(f"cleaned {file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
