"""Mark schemes beside the answers a person grades, in the formgrader and never in feedback.

A hand-graded answer cell of a source assignment (``tpmlab.authoring.manual``) holds the model
answer and mark scheme in its solution block; the student version replaces it by "YOUR ANSWER
HERE". At the end of ``nbgrader autograde`` (configured in ``autograder/nbgrader_config.py``),
:class:`~tpmlab.grading.preprocessors.add_mark_schemes.AddMarkSchemes` calls
:func:`add_mark_schemes`, which puts, right after each hand-graded answer of the autograded
notebook, a read-only markdown cell with that cell's scheme, taken from the source notebook.
nbgrader's formgrader renders the autograded notebook, so the grader reads the scheme directly
under the student's answer, where they score it.

The scheme cells carry ``metadata.tpmlab.mark_scheme`` (the grade id) and no nbgrader metadata:
they are worth nothing and the gradebook ignores them. :func:`strip_mark_schemes` removes them;
the feedback preprocessor
(:mod:`tpmlab.grading.preprocessors.hide_hidden_tests`) calls it, so a student never sees one.
"""

from __future__ import annotations

import re

import nbformat

SOLUTION = re.compile(r"### BEGIN SOLUTION[ \t]*\n?(.*?)\n?[ \t]*### END SOLUTION", re.S)
HEADING = "**Mark scheme for graders** (from the source notebook; students never see this cell)"


def is_hand_graded(cell) -> bool:
    """A graded answer cell a person marks (a written answer: graded solution, not code)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade") and meta.get("solution") and cell.get("cell_type") == "markdown")


def is_scheme_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("tpmlab", {}).get("mark_scheme"))


def schemes(source_nb) -> dict[str, str]:
    """grade id -> the mark scheme (solution block) of every hand-graded cell of a source
    notebook."""
    out = {}
    for cell in source_nb.cells:
        if is_hand_graded(cell):
            match = SOLUTION.search(cell.source)
            text = (match.group(1) if match else cell.source).strip()
            if text:
                out[cell.metadata["nbgrader"]["grade_id"]] = text
    return out


def scheme_cell(grade_id: str, text: str):
    cell = nbformat.v4.new_markdown_cell(f"{HEADING}\n\n{text}")
    cell.metadata = {"tpmlab": {"mark_scheme": grade_id}, "editable": False, "deletable": False}
    return cell


def strip_mark_schemes(nb):
    """Remove every mark scheme cell (in place); returns the notebook."""
    nb.cells = [c for c in nb.cells if not is_scheme_cell(c)]
    return nb


def add_mark_schemes(nb, source_nb):
    """Insert the source's scheme after each hand-graded answer of ``nb`` (in place; a scheme
    cell already there, for example one a student copied in, is replaced)."""
    found = schemes(source_nb)
    cells = []
    for cell in strip_mark_schemes(nb).cells:
        cells.append(cell)
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if is_hand_graded(cell) and gid in found:
            cells.append(scheme_cell(gid, found[gid]))
    nb.cells = cells
    return nb
