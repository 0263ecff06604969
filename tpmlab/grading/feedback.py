"""Per-student HTML feedback that shows public checks and scores but never hidden tests.

nbgrader's autograded notebook contains the hidden tests (they are restored before grading), and
its error outputs carry tracebacks that quote test code. :class:`HideHiddenTests` runs inside
``nbgrader generate_feedback`` (configured in ``autograder/nbgrader_config.py``) and, in every
autograded test cell: removes the hidden block from the source, keeps of the outputs only the
public checks' ✅ lines and the errors, replaces tracebacks by the one-line error, and replaces
an error raised inside the hidden block (or by the grader's judge) by a neutral message, shown
after the public check's own line. It also removes the graders' mark schemes
(:mod:`tpmlab.grading.markscheme`), puts a table of contents with each question's name and score
at the top, and makes long error lines wrap.
"""

from __future__ import annotations

import html
import re

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
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


def hidden_line_range(source: str) -> tuple[int, int] | None:
    """1-based first and last line of the hidden block, or None."""
    lines = source.splitlines()
    try:
        start = next(i for i, line in enumerate(lines, 1) if BEGIN in line)
        end = next(i for i, line in enumerate(lines, 1) if END in line and i > start)
    except StopIteration:
        return None
    return start, end


def _failing_line(traceback: list[str]) -> int | None:
    """The line of the test cell where the error surfaced (the cell's own frame)."""
    for frame in traceback:
        match = LINE.search(ANSI.sub("", frame))
        if match:
            return int(match.group(1))
    return None


def strip_hidden(source: str) -> str:
    return re.sub(
        rf"[ \t]*{re.escape(BEGIN)}.*?{re.escape(END)}[ \t]*\n?", "", source, flags=re.S
    ).rstrip()


AFTER_HIDDEN = (
    "(Outputs of cells that ran after the hidden tests are not shown in feedback; your own "
    "notebook has them.)\n"
)


def hidden_fragments(nb) -> set[str]:
    """Lines of the notebook's hidden blocks (8 characters or more), to keep out of feedback."""
    found = set()
    for cell in nb.cells:
        source = cell.source if isinstance(cell.get("source"), str) else ""
        for block in re.findall(rf"{re.escape(BEGIN)}(.*?){re.escape(END)}", source, flags=re.S):
            found |= {line.strip() for line in block.splitlines() if len(line.strip()) >= 8}
    return found


class HideHiddenTests(Preprocessor):
    """Remove hidden test code and anything that quotes it (and the graders' mark schemes) from
    feedback; add a table of contents with question names, and wrapping error lines.

    Code that ran after a hidden block may have captured it (from ``In``, ``linecache``, an
    input transformer...), so feedback never shows what the student's own cells printed after
    the first hidden block ran; in test cells it keeps only the public checks' lines and errors,
    and none that quote a line of a hidden block."""

    enabled = Bool(True, help="nbconvert runs a preprocessor only when enabled").tag(config=True)

    def preprocess(self, nb, resources):
        from tpmlab.grading.markscheme import strip_mark_schemes

        strip_mark_schemes(nb)
        self._fragments = hidden_fragments(nb)
        self._first_hidden = next(
            (i for i, c in enumerate(nb.cells) if c.cell_type == "code" and BEGIN in c.source),
            len(nb.cells),
        )
        nb, resources = super().preprocess(nb, resources)
        first = nb.cells[0] if nb.cells else None
        title = (
            first is not None and first.cell_type == "markdown" and first.source.startswith("# ")
        )
        nb.cells.insert(1 if title else 0, contents_cell(nb, resources))
        resources.setdefault("inlining", {}).setdefault("css", []).append(CSS)
        return nb, resources

    def _quotes_hidden(self, text: str) -> bool:
        return any(fragment in text for fragment in getattr(self, "_fragments", ()))

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        after_hidden = index > getattr(self, "_first_hidden", index)
        is_test = meta.get("grade") and not meta.get("solution")
        if cell.cell_type == "code" and after_hidden and not is_test and cell.get("outputs"):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=AFTER_HIDDEN)]
            return cell, resources
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            return cell, resources
        hidden = hidden_line_range(cell.source)
        kept = []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream" and output.get("name") == "stdout":
                # only the public checks' own lines: anything else the student's code printed
                # while the hidden tests ran could quote them
                lines = [
                    x
                    for x in output.get("text", "").splitlines()
                    if x.startswith("✅") and not self._quotes_hidden(x)
                ]
                if lines:
                    kept.append({**output, "text": "\n".join(lines) + "\n"})
                continue
            if kind != "error":
                continue
            line = _failing_line(output.get("traceback", []))
            quoted = self._quotes_hidden(f"{output.get('ename')} {output.get('evalue')}")
            if quoted or (hidden and (line is None or hidden[0] <= line <= hidden[1])):
                output["ename"], output["evalue"] = "HiddenTestFailed", HIDDEN_FAILED
            output["traceback"] = [f"{output['ename']}: {output['evalue']}"]
            kept.append(output)
        # the judge's verdict comes after the public check's own line, not above it
        cell.outputs = [o for o in kept if o.get("output_type") == "stream"] + [
            o for o in kept if o.get("output_type") != "stream"
        ]
        if hidden:
            cell.source = strip_hidden(cell.source) + "\n# (hidden tests are not shown)"
        return cell, resources


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
    """Run ``nbgrader generate_feedback`` (with :class:`HideHiddenTests`) for every graded
    student; return the HTML files written."""
    course.nbgrader("generate_feedback", assignment, "--force", db_url=course.db_url)
    base = course.root / "feedback"
    return sorted(base.glob(f"*/{assignment}/*.html")) if base.exists() else []
