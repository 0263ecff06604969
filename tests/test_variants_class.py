"""Per-learner variants at class scale: a class of 60 on a small assignment with 8 variants
builds exactly 8 answer keys (once each, cached for the next run), and every learner's solution
scores full marks on their own variant."""

from __future__ import annotations

import nbformat
import pytest

from tpmlab.grading import keys, notebooks
from tpmlab.grading.autograde import autograde
from tpmlab.grading.demo import make_course, solution_answers
from tpmlab.variants import parse

TOY = "variant-toy"


def toy_course(root):
    course = make_course(root, "00-warmup")
    folder = course.source_dir("00-warmup").parent / TOY
    folder.mkdir()
    locked = {"grade": False, "locked": True, "schema_version": 3, "solution": False, "task": False}
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    setup = nbformat.v4.new_code_cell("from tpmlab.scoring import answer")
    setup.metadata["nbgrader"] = {**locked, "grade_id": "setup"}
    student = nbformat.v4.new_code_cell('STUDENT_ID = ""')
    cell = nbformat.v4.new_code_cell(
        "from tpmlab.variants import Parameters\n\n"
        'PARAMETERS = Parameters("variant-toy", variants=8, q1={"n": [1, 2, 3, 4, 5, 6, 7, 8]})\n'
        "V = PARAMETERS.of(STUDENT_ID)\nV"
    )
    cell.metadata["nbgrader"] = {**locked, "grade_id": "parameters"}
    q1 = nbformat.v4.new_code_cell(
        "def double():\n    ### BEGIN SOLUTION\n    return 2 * V.q1_n\n    ### END SOLUTION"
    )
    q1.metadata["nbgrader"] = {**locked, "locked": False, "solution": True, "grade_id": "q1"}
    test = nbformat.v4.new_code_cell(
        'assert double() > 0\n### BEGIN HIDDEN TESTS\nanswer("double", double())\n'
        "### END HIDDEN TESTS"
    )
    test.metadata["nbgrader"] = {**locked, "grade": True, "grade_id": "q1-tests", "points": 1}
    nb.cells = [setup, student, cell, q1, test]
    nbformat.write(nb, str(folder / "toy.ipynb"))
    return course


@pytest.mark.slow
def test_a_class_of_60_across_8_variants_builds_8_keys(tmp_path):
    course = toy_course(tmp_path / "course")
    source = notebooks.read(course.source_dir(TOY) / "toy.ipynb")
    params = parse(source)
    students = [f"s{i:03d}" for i in range(60)]
    assert len({params.number_of(s) for s in students}) == 8  # the class has all 8
    released = notebooks.substitute(notebooks.release(source), solution_answers(source))
    for student in students:
        folder = course.submitted_dir(student, TOY)
        folder.mkdir(parents=True)
        nbformat.write(released, str(folder / "toy.ipynb"))
    keys.BUILDS.clear()
    results = autograde(course, TOY, workers=2, progress=False)
    assert sorted(keys.BUILDS) == [("toy.ipynb", v) for v in range(8)]
    assert {r.student: r.score for r in results} == dict.fromkeys(students, 1.0)
    # a second run of the same class builds none (the keys are cached), and grades nothing new
    keys.BUILDS.clear()
    autograde(course, TOY, workers=2, progress=False, students=students[:3], force=True)
    assert keys.BUILDS == []
