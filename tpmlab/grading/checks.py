"""What is read from one graded submission alone before it is recorded: its review, scoring and
sandbox flags, its hash and its hand-graded answers (:func:`submission_checks`).

None of it needs the gradebook, so whoever holds the submission and its autograded folder
computes it: the Dask worker that graded the student (:func:`tpmlab.grading.cluster.
grade_student`, so that the coordinator only records grades and writes the folder) or, for local
grading, the coordinating process itself (:func:`tpmlab.grading.autograde._finish`). Both call
:func:`submission_checks` on the same files, so a flag cannot depend on where it was computed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tpmlab.grading.gradebook import hand_graded_answers
from tpmlab.grading.review import review_submission


def submission_hash(folder: Path) -> str:
    """A hash of every file in a submission folder (names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def submission_checks(
    course, assignment: str, submission: Path, produced: Path, *, sandboxed: bool, ok: bool
) -> dict:
    """The checks of one graded student: ``submission`` is the submitted folder, ``produced``
    the autograded folder nbgrader wrote (it may be missing when grading failed), ``ok`` whether
    grading succeeded (the hand-graded answers are read only then). Returns ``review_flags``
    (:func:`tpmlab.grading.review.review_submission`), ``scoring_flags`` (the judge's, from the
    autograded notebooks), ``runtime_flags`` (the sandbox limits the kernel ran into, when
    ``sandboxed``), ``hash`` (:func:`submission_hash` of the submission) and ``answers``
    (:func:`tpmlab.grading.gradebook.hand_graded_answers` of the autograded folder)."""
    review = review_submission(course, assignment, submission)  # first, as it always was
    graded = produced.exists()
    scoring: list[str] = []
    runtime: list[str] = []
    if graded:
        from tpmlab.grading.judge import scoring_flags

        scoring = scoring_flags(produced)
    if sandboxed and graded:
        from tpmlab.grading.sandbox import runtime_flags

        runtime = runtime_flags(produced)
    return {
        "review_flags": review,
        "scoring_flags": scoring,
        "runtime_flags": runtime,
        "hash": submission_hash(submission),
        "answers": hand_graded_answers(produced) if ok else {},
    }
