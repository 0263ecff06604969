"""Every assignment is sound: its student version is current, fails every test, and the solution
passes every test.

Per-question wrong answers live in each module's own test file (for example
``tests/test_sql_assignment.py``), using :mod:`tpmlab.grading.notebooks`.
"""

from __future__ import annotations

import pytest

from tpmlab.course import EXERCISES, stale_release_files
from tpmlab.grading import notebooks

SOURCES = sorted(EXERCISES.glob("*/*.ipynb"))

# nbgrader runs of every assignment (release, solution, blank): minutes, so left to `make test`
pytestmark = pytest.mark.slow


def test_student_versions_are_current():
    problems = stale_release_files()
    assert not problems, "Run `make release` and commit autograder/release:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_solution_passes_and_release_fails_every_test(path):
    nb = notebooks.read(path)
    test_ids = notebooks.autograded_test_ids(nb)
    assert test_ids, f"{path.name} has no autograded test cells"
    solution = notebooks.run(path)
    failing = {gid: r.error for gid, r in solution.items() if not r.passed}
    assert not failing, f"the solution of {path.name} fails these test cells: {failing}"
    released = notebooks.run(path, released=True)
    passing = sorted(gid for gid, r in released.items() if r.passed)
    assert not passing, f"the blank student version of {path.name} passes {passing}"
    assert set(solution) == set(released) == set(test_ids)
