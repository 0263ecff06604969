"""Autograde's last step: each hand-graded answer's mark scheme under it, for the formgrader.

:class:`AddMarkSchemes` reads the assignment's source notebook and inserts its schemes with
:func:`tpmlab.grading.markscheme.add_mark_schemes` (see that module; feedback removes them).
"""

from __future__ import annotations

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from tpmlab.grading.markscheme import add_mark_schemes
from tpmlab.grading.preprocessors import source_notebook


class AddMarkSchemes(Preprocessor):
    """nbgrader autograde preprocessor: show each hand-graded answer's mark scheme under it."""

    enabled = Bool(True, help="nbconvert runs a preprocessor only when enabled").tag(config=True)

    def preprocess(self, nb, resources):
        try:
            source_nb = nbformat.read(str(source_notebook(self, resources)), as_version=4)
        except OSError:
            return nb, resources
        return add_mark_schemes(nb, source_nb), resources
