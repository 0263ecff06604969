"""Autograde's scoring step: the hidden tests are judged in the grading process, never in the kernel.

:class:`TrustedScoring` runs between ``SandboxedExecute`` and ``SaveAutoGrades``: it loads the
answer key of the assignment's source notebook (:func:`tpmlab.grading.keys.load_key`) and judges
the executed notebook with it (:func:`tpmlab.grading.judge.judge`), so a failed hidden test shows
as an error nbgrader scores 0. On an assignment with per-learner variants (:mod:`tpmlab.variants`)
the key is that of the owner's variant. ``autograder/nbgrader_config.py`` installs it, so ``tpmlab-grade
autograde`` and plain ``nbgrader autograde`` both score this way.
"""

from __future__ import annotations

import os

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from tpmlab.grading.judge import judge
from tpmlab.grading.keys import load_key, variant_number
from tpmlab.grading.preprocessors import source_notebook


class TrustedScoring(Preprocessor):
    """nbgrader preprocessor: judge the hidden tests with the assignment's answer key (between
    ``Execute`` and ``SaveAutoGrades``). Review flags go to the notebook metadata
    (``tpmlab.review_flags``)."""

    enabled = Bool(True, help="nbconvert runs a preprocessor only when enabled").tag(config=True)

    def preprocess(self, nb, resources):
        source = source_notebook(self, resources)
        variant = variant_number(source, resources["nbgrader"]["student"])
        # a grading worker of tpmlab-grade never builds a key: the coordinator built every one
        # the class needs before grading began (plain `nbgrader autograde` builds it here)
        key = load_key(source, variant=variant, build="TPMLAB_WORKER_TOKEN" not in os.environ)
        _, flags = judge(nb, key)
        # what the sandbox saw the submission do (preprocessors.sandboxed_execute / sentinel)
        flags += [f for f in resources.get("tpmlab_sandbox_evidence", []) if f not in flags]
        nb.metadata.setdefault("tpmlab", {})["review_flags"] = flags
        return nb, resources
