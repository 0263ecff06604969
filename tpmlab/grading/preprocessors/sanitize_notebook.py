"""Autograde and feedback step: every cell of the notebook made inert before anyone renders it.

:class:`SanitizeNotebook` applies :func:`tpmlab.grading.sanitize.sanitize_cell` (the course's one
sanitising policy, in that module) to each cell.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from tpmlab.grading.sanitize import sanitize_cell


class SanitizeNotebook(Preprocessor):
    """nbconvert preprocessor: make every cell of the notebook inert (see
    :mod:`tpmlab.grading.sanitize`)."""

    enabled = Bool(True, help="nbconvert runs a preprocessor only when enabled").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        sanitize_cell(cell)
        return cell, resources
