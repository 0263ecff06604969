"""A demonstration class: generated submissions of a real assignment, graded end to end.

``make grade-demo`` (``python -m tpmlab.grading.demo [ASSIGNMENT] [--students N]``) builds a
throwaway course in ``build/grade-demo/`` with N submissions of the assignment (full solutions,
blank copies and half-done ones, in turn; the full and half-done ones also write the
hand-graded answers, so there is something to grade by hand), gives the assignment a due date
and makes the last submission late, then runs the whole instructor loop on it: autograde,
feedback, export, class report, and says which answers wait for hand grading in the formgrader.
Instructors use it to see the workflow before their class does; the grading benchmark uses the
same submissions.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import nbformat

from tpmlab.grading import notebooks
from tpmlab.grading.coursedir import Course
from tpmlab.paths import REPO_ROOT

MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


def solution_answers(nb) -> dict[str, str]:
    """The solution of every autograded answer cell, without nbgrader's markers."""
    out = {}
    for gid, meta in notebooks.grade_cells(nb).items():
        cell = meta["cell"]
        if meta.get("solution") and not meta.get("grade") and cell.cell_type == "code":
            out[gid] = MARKERS.sub("", cell.source)
    return out


def make_course(root: Path, assignment: str) -> Course:
    """A fresh course folder under ``root`` holding a copy of ``assignment``'s source."""
    if root.exists():
        shutil.rmtree(root)
    (root / "autograder").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "autograder" / "nbgrader_config.py", root / "autograder")
    shutil.copytree(REPO_ROOT / "exercises" / assignment, root / "exercises" / assignment)
    return Course(root / "autograder")


DUE = "2025-07-01 12:00:00 UTC"
ON_TIME = "2025-07-01 11:00:00.000000 UTC"
LATE = "2025-07-02 09:30:00.000000 UTC"


def written_answers(nb) -> dict[str, str]:
    """A short written answer for every hand-graded cell (what a student might hand in)."""
    from tpmlab.grading.markscheme import is_hand_graded

    return {
        c.metadata["nbgrader"]["grade_id"]: (
            "I would start from the numbers in the questions above: the biggest channel is not "
            "the one whose users stay, so I would check activation and retention per channel "
            "before moving any budget, and say how sure we can be."
        )
        for c in nb.cells
        if is_hand_graded(c)
    }


def make_class(course: Course, assignment: str, n: int) -> dict[str, str]:
    """Write ``n`` submissions; returns student -> kind (full, blank or half). Full and half
    submissions also answer the hand-graded questions."""
    kinds = {}
    for path in sorted(course.source_dir(assignment).glob("*.ipynb")):
        source = notebooks.read(path)
        answers = solution_answers(source)
        half = dict(list(answers.items())[: len(answers) // 2])
        written = written_answers(source)
        answers, half = {**answers, **written}, {**half, **written}
        released = notebooks.release(source)
        for i in range(n):
            student = f"student{i + 1:03d}"
            kind = ("full", "blank", "half")[i % 3]
            chosen = {"full": answers, "blank": {}, "half": half}[kind]
            nb = notebooks.substitute(released, chosen) if chosen else released
            folder = course.submitted_dir(student, assignment)
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(folder / path.name))
            (folder / "timestamp.txt").write_text(ON_TIME)
            kinds[student] = kind
    return kinds


def make_late(course: Course, assignment: str, student: str) -> None:
    """Give ``assignment`` a due date in the gradebook and hand ``student``'s submission in
    after it."""
    from nbgrader.api import Gradebook

    course.ensure_assignment(assignment)
    with Gradebook(course.db_url, course.course_id) as gb:
        gb.update_or_create_assignment(assignment, duedate=DUE)
    (course.submitted_dir(student, assignment) / "timestamp.txt").write_text(LATE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tpmlab.grading.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("assignment", nargs="?", default="00-warmup")
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--root", type=Path, default=REPO_ROOT / "build" / "grade-demo", help="where to build it"
    )
    args = parser.parse_args(argv)
    from tpmlab.grading.autograde import autograde
    from tpmlab.grading.class_report import class_report, hand_grading
    from tpmlab.grading.cli import _score_text
    from tpmlab.grading.feedback import generate_feedback
    from tpmlab.grading.report import export
    from tpmlab.grading.results import summary

    course = make_course(args.root, args.assignment)
    kinds = make_class(course, args.assignment, args.students)
    late = sorted(kinds)[-1]
    make_late(course, args.assignment, late)
    results = autograde(course, args.assignment, workers=args.workers)
    for r in results:
        what = kinds[r.student] + (", late" if r.student == late else "")
        print(
            f"{r.student} ({what}): {r.status} {_score_text(r.score, r.max_score, r.hand_max_score)}"
        )
    print(summary(results)[0])
    for row in hand_grading(course, args.assignment)[0]:
        waiting = ", ".join(row["waiting"]) or "nobody"
        print(f"hand grading, {row['title']}: {waiting} waiting")
    print(
        f"grade them: cd {course.root} && jupyter lab, then Nbgrader > Formgrader > Manual "
        "Grading (each answer shows its mark scheme)"
    )
    feedback = generate_feedback(course, args.assignment)
    print(f"feedback: {len(feedback)} HTML files under {course.root / 'feedback'}")
    for path in export(course, args.assignment):
        print(f"export: {path}")
    print(f"class report: {class_report(course, args.assignment)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
