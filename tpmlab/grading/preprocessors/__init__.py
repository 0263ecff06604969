"""The course's nbconvert/nbgrader preprocessors, one class a module (as nbgrader keeps its own).

``autograder/nbgrader_config.py`` puts them among nbgrader's steps:

- ``pin_variant.PinVariant``: autograde, before Execute: on an assignment with per-learner
  variants, the source's parameters cell with the submission's owner as ``STUDENT_ID``;
- ``sandboxed_execute.SandboxedExecute``: autograde's Execute step, with the student's kernel in
  the bubblewrap sandbox and the output it keeps capped;
- ``trusted_scoring.TrustedScoring``: autograde, after Execute: judges the hidden tests' recorded
  answers against the answer key, in the grading process;
- ``sanitize_notebook.SanitizeNotebook``: autograde and feedback: makes every cell inert before
  an instructor's browser renders it;
- ``add_mark_schemes.AddMarkSchemes``: the last autograde step: each hand-graded answer's mark
  scheme under it, for the formgrader;
- ``hide_hidden_tests.HideHiddenTests``: feedback: removes hidden tests, what quotes them and the
  mark schemes, and adds a table of contents.

:func:`source_dir` is where the running assignment's source notebooks are, as nbgrader's course
directory says (the steps that read the source share it).
"""

from __future__ import annotations

from pathlib import Path


def source_dir(preprocessor, resources) -> Path:
    """The source folder of the assignment ``preprocessor`` is processing (from nbgrader's
    ``CourseDirectory`` configured on it and the assignment named in ``resources``)."""
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(parent=preprocessor)
    assignment = resources.get("nbgrader", {}).get("assignment", "")
    return Path(coursedir.format_path(coursedir.source_directory, ".", assignment))


def source_notebook(preprocessor, resources) -> Path:
    """The source notebook of the notebook ``preprocessor`` is processing."""
    return source_dir(preprocessor, resources) / f"{resources['nbgrader']['notebook']}.ipynb"
