"""nbgrader configuration for the TPM Skills Lab course.

The course root is this folder (``autograder/``). Source assignments live in ``exercises/`` at the
top of the repository; the student versions nbgrader generates from them are written to
``autograder/release/`` (committed, so a learner on Binder or GitHub finds them at once; a test
fails if they are stale: run ``make release``). Submissions, autograded copies, feedback and the
gradebook stay in this folder and are never committed.
"""

import os

from tpmlab.grading.ipynb import CODE_STUB, TEXT_STUB

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "tpm-skills-lab"
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = os.path.join("..", "exercises")
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# Data files an assignment may ship beside its notebook; nothing else is copied.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    ".tpmlab-graded.json",  # the autograder's bookkeeping, never copied into feedback
]

# The gradebook: SQLite in this folder by default; TPMLAB_GRADEBOOK_URL selects another database
# (for example PostgreSQL for shared grading).
c.CourseDirectory.db_url = os.environ.get(
    "TPMLAB_GRADEBOOK_URL", "sqlite:///" + os.path.join(HERE, "gradebook.db")
)

# Students get this stub where a solution was removed (the same tpmlab.grading.notebooks.release
# uses when the tests make a student version in memory).
c.ClearSolutions.code_stub = {"python": CODE_STUB}
c.ClearSolutions.text_stub = TEXT_STUB

# Every notebook runs with a fresh python3 kernel; a cell taking longer than this is stopped.
c.Execute.timeout = 60
c.Execute.kernel_name = "python3"

# Feedback shows public checks and scores, never hidden test code or mark schemes (see
# tpmlab.grading.feedback and tpmlab.grading.preprocessors.hide_hidden_tests).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "tpmlab.grading.preprocessors.hide_hidden_tests.HideHiddenTests",
    "tpmlab.grading.preprocessors.sanitize_notebook.SanitizeNotebook",
]

# Autograding runs each student's kernel in the bubblewrap sandbox (SandboxedExecute; without
# bubblewrap it refuses, unless TPMLAB_GRADE_UNSAFE=1). Hidden tests record answers; they are
# judged here, in the grading process (TrustedScoring, tpmlab.grading.judge), against the answer
# key built from the source notebook (tpmlab.grading.keys), never inside the student's kernel.
# An assignment with per-learner variants (tpmlab.variants) first gets its owner's parameters
# (PinVariant), and is judged with the key of the owner's variant.
c.Autograde.autograde_preprocessors = [
    "tpmlab.grading.preprocessors.pin_variant.PinVariant",
    "tpmlab.grading.preprocessors.sandboxed_execute.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "tpmlab.grading.preprocessors.trusted_scoring.TrustedScoring",
    "tpmlab.grading.preprocessors.sanitize_notebook.SanitizeNotebook",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
    # the mark scheme of each hand-graded answer, under it, for the formgrader (never in feedback)
    "tpmlab.grading.preprocessors.add_mark_schemes.AddMarkSchemes",
]

# Everything an instructor opens of a submission is inert. The autograded notebook is sanitised
# before it is saved (SanitizeNotebook above: no script, event handler, javascript: URL,
# iframe/object/embed or remote resource; plots and tables stay), and the formgrader and the
# feedback render it sanitised again, with the same sanitiser (tpmlab.grading.sanitize).
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.filters = {"clean_html": "tpmlab.grading.sanitize.sanitize_html"}

# A submission that deleted a test cell gets it back before grading (and is flagged for review).
c.OverwriteCells.add_missing_cells = True
# A cell past its time limit is interrupted and recorded as an error; the notebook goes on.
c.Execute.interrupt_on_timeout = True

# Deadlines and the late policy (tpmlab.grading.late; grading guide, "Deadlines and late
# submissions"). A deadline per assignment ('YYYY-MM-DD HH:MM:SS ZONE'; an assignment without
# one uses the gradebook's due date, if any), a penalty in % of the score per day late (a started
# day counts whole) up to a cap, and a date after which a submission scores 0. Lateness is
# measured from the time a submission was collected (timestamp.txt, the gradebook), never a time
# written in the notebook. The penalty is applied by `tpmlab-grade export` (every format) and
# shown in the class report; the gradebook keeps the scores before it. nbgrader's own late
# penalty stays off (AssignLatePenalties computes no penalty), so nothing is taken off twice.
c.LatePolicy.deadlines = {
    # "01-sql-analytics": "2026-02-06 23:59:00 Europe/London",
}
c.LatePolicy.penalty_per_day = 10.0
c.LatePolicy.max_penalty = 50.0
c.LatePolicy.zero_after = {
    # "01-sql-analytics": "2026-02-13 23:59:00 Europe/London",
}
