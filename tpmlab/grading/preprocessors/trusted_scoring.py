"""Autograde's scoring step: the hidden tests are judged in the grading process, never in the kernel.

:class:`TrustedScoring` runs between ``SandboxedExecute`` and ``SaveAutoGrades``: it loads the
answer key of the assignment's source notebook (:func:`tpmlab.grading.keys.load_key`) and judges
the executed notebook with it (:func:`tpmlab.grading.judge.judge`), so a failed hidden test shows
as an error nbgrader scores 0. ``autograder/nbgrader_config.py`` installs it, so ``tpmlab-grade
autograde`` and plain ``nbgrader autograde`` both score this way.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from tpmlab.grading.judge import judge
from tpmlab.grading.keys import load_key
from tpmlab.grading.preprocessors import source_notebook


class TrustedScoring(Preprocessor):
    """nbgrader preprocessor: judge the hidden tests with the assignment's answer key (between
    ``Execute`` and ``SaveAutoGrades``). Review flags go to the notebook metadata
    (``tpmlab.review_flags``)."""

    enabled = Bool(True, help="nbconvert runs a preprocessor only when enabled").tag(config=True)

    def preprocess(self, nb, resources):
        key = load_key(source_notebook(self, resources))
        _, flags = judge(nb, key)
        # what the sandbox saw the submission do (preprocessors.sandboxed_execute / sentinel)
        flags += [f for f in resources.get("tpmlab_sandbox_evidence", []) if f not in flags]
        nb.metadata.setdefault("tpmlab", {})["review_flags"] = flags
        return nb, resources
