"""Every assignment's student version is current (generated from its source by nbgrader).

That the solution passes every test and the student version fails every one is checked where the
autograder grades each assignment (``tests/test_grading_assignments.py``, full and blank students).

Per-question wrong answers live in each module's own test file (for example
``tests/test_sql_assignment.py``), using :mod:`tpmlab.grading.notebooks`.
"""

from __future__ import annotations

import pytest

from tpmlab.course import stale_release_files

# nbgrader runs of every assignment (release, solution, blank): minutes, so left to `make test`
pytestmark = pytest.mark.slow


def test_student_versions_are_current():
    problems = stale_release_files()
    assert not problems, "Run `make release` and commit autograder/release:\n" + "\n".join(problems)
