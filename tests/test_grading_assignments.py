"""Every real assignment through the instructor's autograder: a small class per assignment
(full solution, blank release, half done) graded by ``tpmlab-grade autograde`` gets exact scores.

Full marks for the solution and zero for the blank student version mean that the solution passes
every autograded test cell and the released version fails every one; when either does not hold,
the failure message names the cells (from a run outside nbgrader, made only then).
The expected score of the half-done submission is computed independently, by executing the
same answers with :func:`tpmlab.grading.notebooks.run` outside nbgrader.
"""

from __future__ import annotations

import pytest

from tpmlab.course import EXERCISES
from tpmlab.grading import notebooks
from tpmlab.grading.autograde import autograde
from tpmlab.grading.demo import make_class, make_course, solution_answers
from tpmlab.grading.keys import variant_number

ASSIGNMENTS = sorted(p.name for p in EXERCISES.iterdir() if any(p.glob("*.ipynb")))


def _cells(course, assignment: str, released: bool) -> dict:
    """For a failure message: the test cells the solution fails (or the blank version passes)."""
    out = {}
    for path in sorted(course.source_dir(assignment).glob("*.ipynb")):
        results = notebooks.run(path, released=released)
        out[path.name] = sorted(g for g, r in results.items() if r.passed == released)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_class_gets_exact_scores(assignment, tmp_path):
    course = make_course(tmp_path / "course", assignment)
    kinds = make_class(course, assignment, 3)
    assert kinds == {"student001": "full", "student002": "blank", "student003": "half"}
    results = {r.student: r for r in autograde(course, assignment, workers=2, progress=False)}

    total = half = 0.0
    for path in sorted(course.source_dir(assignment).glob("*.ipynb")):
        source = notebooks.read(path)
        answers = solution_answers(source)
        total += sum(
            float(m.get("points", 0))
            for gid, m in notebooks.grade_cells(source).items()
            if gid in notebooks.autograded_test_ids(source)
        )
        half_answers = dict(list(answers.items())[: len(answers) // 2])
        # the source notebook (hidden tests included), with the other answers left blank
        stubs = notebooks.grade_cells(notebooks.release(source))
        blank = {gid: stubs[gid]["cell"].source for gid in answers if gid not in half_answers}
        # graded as student003's own variant (on an assignment with per-learner variants)
        variant = variant_number(path, "student003")
        direct = notebooks.run(path, {**half_answers, **blank}, variant=variant)
        half += sum(r.points for r in direct.values())

    assert results["student001"].score == total, (
        results["student001"],
        _cells(course, assignment, False),
    )
    assert results["student002"].score == 0, (
        results["student002"],
        _cells(course, assignment, True),
    )
    assert results["student003"].score == pytest.approx(half), results["student003"]
    assert 0 < half < total, "the half-done submission should earn some points, not all"
    for r in results.values():
        assert r.max_score == total and r.status == "graded" and not r.flags, r
