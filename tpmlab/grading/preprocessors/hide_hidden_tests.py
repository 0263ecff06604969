"""Feedback's step: hidden tests, what quotes them, and the mark schemes kept out of feedback.

:class:`HideHiddenTests` runs inside ``nbgrader generate_feedback`` (configured in
``autograder/nbgrader_config.py``). What feedback may show, and the table of contents it adds,
are the rules of :mod:`tpmlab.grading.feedback`; this class applies them to each cell.
"""

from __future__ import annotations

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from tpmlab.checks import is_passed_line
from tpmlab.grading.feedback import (
    CSS,
    HIDDEN_FAILED,
    contents_cell,
    failing_line,
    hidden_fragments,
)
from tpmlab.grading.ipynb import HIDDEN_BEGIN, hidden_line_range, is_autograded_test, strip_hidden
from tpmlab.grading.judge import HIDDEN_ENAME

AFTER_HIDDEN = (
    "(Outputs of cells that ran after the hidden tests are not shown in feedback; your own "
    "notebook has them.)\n"
)


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
            (
                i
                for i, c in enumerate(nb.cells)
                if c.cell_type == "code" and HIDDEN_BEGIN in c.source
            ),
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
        after_hidden = index > getattr(self, "_first_hidden", index)
        is_test = is_autograded_test(cell)
        if cell.cell_type == "code" and after_hidden and not is_test and cell.get("outputs"):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=AFTER_HIDDEN)]
            return cell, resources
        if not is_test:
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
                    if is_passed_line(x) and not self._quotes_hidden(x)
                ]
                if lines:
                    kept.append({**output, "text": "\n".join(lines) + "\n"})
                continue
            if kind != "error":
                continue
            line = failing_line(output.get("traceback", []))
            quoted = self._quotes_hidden(f"{output.get('ename')} {output.get('evalue')}")
            if quoted or (hidden and (line is None or hidden[0] <= line <= hidden[1])):
                output["ename"], output["evalue"] = HIDDEN_ENAME, HIDDEN_FAILED
            output["traceback"] = [f"{output['ename']}: {output['evalue']}"]
            kept.append(output)
        # the judge's verdict comes after the public check's own line, not above it
        cell.outputs = [o for o in kept if o.get("output_type") == "stream"] + [
            o for o in kept if o.get("output_type") != "stream"
        ]
        if hidden:
            cell.source = strip_hidden(cell.source) + "\n# (hidden tests are not shown)"
        return cell, resources
