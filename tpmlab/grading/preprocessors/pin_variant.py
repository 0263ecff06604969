"""Autograde's first step on an assignment with per-learner variants: grade the owner's variant.

:class:`PinVariant` puts the source notebook's parameters cell (:mod:`tpmlab.variants`) in the
submission, with ``STUDENT_ID`` set to the submission's owner (nbgrader's student id) on its first
lines, before the student's kernel runs anything. Whatever the learner typed in their own
``STUDENT_ID`` cell, or wrote into a copy of the parameters cell, the notebook then computes the
owner's parameters; :class:`~tpmlab.grading.preprocessors.trusted_scoring.TrustedScoring` judges
it with the owner's variant's answer key, and the review flags a claimed id that is not the
owner's (:mod:`tpmlab.grading.review`). An assignment without a parameters cell is untouched.
"""

from __future__ import annotations

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from tpmlab.grading.preprocessors import source_notebook
from tpmlab.variants import parameters_cell, pin


class PinVariant(Preprocessor):
    """nbgrader autograde preprocessor (before Execute): the owner's parameters in the notebook."""

    enabled = Bool(True, help="nbconvert runs a preprocessor only when enabled").tag(config=True)

    def preprocess(self, nb, resources):
        source_nb = nbformat.read(str(source_notebook(self, resources)), as_version=4)
        theirs, ours = parameters_cell(nb), parameters_cell(source_nb)
        if ours is None:
            return nb, resources
        student = resources["nbgrader"]["student"]
        cell = nbformat.v4.new_code_cell(pin(ours.source, student))
        cell.metadata = ours.metadata
        if theirs is not None:
            nb.cells[nb.cells.index(theirs)] = cell
        else:  # deleted: put it back where the source has it
            nb.cells.insert(min(source_nb.cells.index(ours), len(nb.cells)), cell)
        return nb, resources
