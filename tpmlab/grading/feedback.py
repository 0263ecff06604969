"""Per-student HTML feedback that shows public checks and scores but never hidden tests.

nbgrader's autograded notebook contains the hidden tests (they are restored before grading), and
its error outputs carry tracebacks that quote test code. The feedback step
(:class:`~tpmlab.grading.preprocessors.hide_hidden_tests.HideHiddenTests`, which runs inside
``nbgrader generate_feedback``, configured in ``autograder/nbgrader_config.py``) applies the rules
of this module to every autograded test cell: it removes the hidden block from the source, keeps
of the outputs only the public checks' lines (:func:`tpmlab.checks.is_passed_line`) and the
errors, replaces tracebacks by the one-line error, and replaces an error raised inside the hidden
block (or by the grader's judge) by a neutral message (:data:`HIDDEN_FAILED`), shown after the
public check's own line. It also removes the graders' mark schemes
(:mod:`tpmlab.grading.markscheme`), puts a table of contents with each question's name and score
at the top (:func:`contents_cell`), and makes long error lines wrap (:data:`CSS`).
:func:`generate_feedback` runs the whole step for an assignment.
"""

from __future__ import annotations

import html
import re

from tpmlab.grading.ipynb import hidden_blocks

HIDDEN_FAILED = (
    "A hidden test failed: your answer passed the public check above but not the more thorough "
    "hidden ones. Re-read the question (units, edge cases, the exact definition asked for)."
)
# Added to the page's inline CSS: error lines wrap instead of running out of their box, and
# nbgrader's own table of contents (which names every question "Test cell") gives way to ours.
CSS = """
div.output_subarea pre, div.output_error pre, div.output_text pre {
  white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word;
}
div.output_subarea { max-width: 100%; overflow-x: visible; }
div#toc { display: none; }
table.tpmlab-toc td, table.tpmlab-toc th { padding: 0.2em 0.8em; text-align: left; }
"""
LINE = re.compile(
    r"(?:Cell In\s*\[\d*\],\s*line|<ipython-input-[^>]*>\s+in\s+<module>.*?line)\s+(\d+)"
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failing_line(traceback: list[str]) -> int | None:
    """The line of the test cell where the error surfaced (the cell's own frame)."""
    for frame in traceback:
        match = LINE.search(ANSI.sub("", frame))
        if match:
            return int(match.group(1))
    return None


def hidden_fragments(nb) -> set[str]:
    """Lines of the notebook's hidden blocks (8 characters or more), to keep out of feedback."""
    found = set()
    for cell in nb.cells:
        source = cell.source if isinstance(cell.get("source"), str) else ""
        for block in hidden_blocks(source):
            found |= {line.strip() for line in block.splitlines() if len(line.strip()) >= 8}
    return found


def contents_cell(nb, resources):
    """A markdown cell listing every graded question by name, with its score and a link to it."""
    from nbformat.v4 import new_markdown_cell

    from tpmlab.grading.questions import notebook_titles

    names = notebook_titles(nb)
    info = resources.get("nbgrader", {})
    rows = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if not gid or not (meta.get("grade") or meta.get("task")):
            continue
        score = meta.get("score")
        shown = "not graded yet" if score is None else f"{float(score):g}"
        kind = "graded by hand" if meta.get("solution") or meta.get("task") else "autograded"
        title = html.escape(names.get(gid, gid))
        rows.append(
            f'<tr><td><a href="#{html.escape(gid)}">{title}</a></td><td>{kind}</td>'
            f"<td>{shown} / {float(meta.get('points', 0)):g}</td></tr>"
        )
    total = ""
    if "score" in info and "max_score" in info:
        total = f"<p>Total: {float(info['score']):g} / {float(info['max_score']):g}</p>"
    late = info.get("late_penalty") or 0
    if late:
        total += f"<p>Late submission penalty: -{float(late):g}</p>"
    body = (
        '<h2>Your questions</h2>\n<table class="tpmlab-toc"><tr><th>Question</th><th>How</th>'
        "<th>Score</th></tr>\n" + "\n".join(rows) + f"\n</table>\n{total}"
    )
    cell = new_markdown_cell(body)
    cell.metadata = {"tpmlab": {"contents": True}}
    return cell


def generate_feedback(course, assignment: str) -> list:
    """Run ``nbgrader generate_feedback`` (with ``HideHiddenTests``) for every graded
    student; return the HTML files written."""
    course.nbgrader("generate_feedback", assignment, "--force", db_url=course.db_url)
    base = course.root / "feedback"
    return sorted(base.glob(f"*/{assignment}/*.html")) if base.exists() else []
