"""A demonstration class: generated submissions of a real assignment, graded end to end.

``make grade-demo`` (``python -m tpmlab.grading.demo [ASSIGNMENT] [--students N]``) builds a
throwaway course in ``build/grade-demo/`` with N submissions of the assignment (full solutions,
blank copies and half-done ones, in turn), then runs the whole instructor loop on it: autograde,
feedback, export, class report. Instructors use it to see the workflow before their class does;
the grading benchmark uses the same submissions.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import nbformat

from tpmlab.grading import notebooks
from tpmlab.grading.course import Course
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


def make_class(course: Course, assignment: str, n: int) -> dict[str, str]:
    """Write ``n`` submissions; returns student -> kind (full, blank or half)."""
    kinds = {}
    for path in sorted(course.source_dir(assignment).glob("*.ipynb")):
        source = notebooks.read(path)
        answers = solution_answers(source)
        half = dict(list(answers.items())[: len(answers) // 2])
        released = notebooks.release(source)
        for i in range(n):
            student = f"student{i + 1:03d}"
            kind = ("full", "blank", "half")[i % 3]
            chosen = {"full": answers, "blank": {}, "half": half}[kind]
            nb = notebooks.substitute(released, chosen) if chosen else released
            folder = course.submitted_dir(student, assignment)
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(folder / path.name))
            (folder / "timestamp.txt").write_text("2025-07-01 12:00:00.000000 UTC")
            kinds[student] = kind
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tpmlab.grading.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("assignment", nargs="?", default="00-warmup")
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    from tpmlab.grading.autograde import autograde
    from tpmlab.grading.feedback import generate_feedback
    from tpmlab.grading.report import class_report, export

    course = make_course(REPO_ROOT / "build" / "grade-demo", args.assignment)
    kinds = make_class(course, args.assignment, args.students)
    results = autograde(course, args.assignment, workers=args.workers)
    for r in results:
        print(f"{r.student} ({kinds[r.student]}): {r.score:g}/{r.max_score:g} {r.status}")
    feedback = generate_feedback(course, args.assignment)
    print(f"feedback: {len(feedback)} HTML files under {course.root / 'feedback'}")
    for path in export(course, args.assignment):
        print(f"export: {path}")
    print(f"class report: {class_report(course, args.assignment)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
