"""The Module 4 lessons (course/04-apis): facts in their text agree with the data and the server,
and every Try-it leaves the learner something to write and checks it with ``try_it``.

Running the lessons (nbval, with TPMLAB_STRICT_TRY_IT=1 in ``make test``) proves that each cell
runs and that no Try-it passes as released; this file checks what running cannot see.
"""

from __future__ import annotations

import re
import sqlite3

import nbformat
import pytest

from tpmlab.api.store import default_database
from tpmlab.paths import REPO_ROOT

LESSONS = sorted((REPO_ROOT / "course" / "04-apis").glob("*.ipynb"))


def _cells(path):
    return nbformat.read(str(path), as_version=4).cells


def _markdown(path) -> str:
    return "\n".join(c.source for c in _cells(path) if c.cell_type == "markdown")


@pytest.mark.skipif(not default_database().exists(), reason="Orbit's dataset is not built")
def test_the_task_count_in_lesson_4_2_is_the_datasets():
    con = sqlite3.connect(default_database())
    try:
        (tasks,) = con.execute("SELECT COUNT(*) FROM tasks").fetchone()
    finally:
        con.close()
    text = _markdown(REPO_ROOT / "course" / "04-apis" / "02-auth-and-pagination.ipynb")
    claimed = re.search(r"`/v1/tasks` holds ([\d,]+) tasks", text)
    assert claimed, "lesson 4.2 no longer states how many tasks /v1/tasks holds"
    assert int(claimed.group(1).replace(",", "")) == tasks == 243_058


def test_lesson_references_point_at_the_right_lesson():
    # v1 and v2 of the task API are compared in lesson 4.5; webhooks are 4.4.
    titles = {p.name[:2]: _cells(p)[0].source.splitlines()[0] for p in LESSONS}
    assert titles["04"].startswith("# 4.4 Webhooks") and titles["05"].startswith("# 4.5 ")
    for path in LESSONS:
        text = _markdown(path)
        assert "differ, lesson 4.4" not in text, path.name
        assert "280,000" not in text, path.name


def test_no_lesson_parses_retry_after_as_seconds_only():
    for path in LESSONS:
        code = "\n".join(c.source for c in _cells(path) if c.cell_type == "code")
        assert not re.search(r"(int|float)\(\w+\.headers\[.Retry-After.\]\)", code), path.name


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_every_try_it_leaves_something_to_write_and_uses_try_it(path):
    cells = _cells(path)
    starts = [
        i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Try it" in c.source
    ]
    assert starts, f"{path.name} has no Try it"
    for start in starts:
        following = []
        for cell in cells[start + 1 :]:
            if cell.cell_type == "markdown":
                break
            following.append(cell.source)
        exercise = [s for s in following if "try_it(" not in s]
        checks = [s for s in following if "try_it(" in s]
        assert checks, f"{path.name}: the Try it at cell {start} has no try_it self-check"
        assert any(re.search(r"=\s*\.\.\.", s) for s in exercise), (
            f"{path.name}: the Try it at cell {start} leaves no `...` for the learner"
        )
        assert not any("passed(" in s for s in following), path.name
