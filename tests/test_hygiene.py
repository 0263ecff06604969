"""Every committed notebook is clean, and every lesson has the one lesson shape.

A notebook committed with outputs, with editor metadata, with another kernel, with an absolute
path fails here, naming file and cell; so does a lesson whose opening (numbered title, time to
complete, objectives, scenario), closing (summary, common mistakes, further reading) or Try-it
section deviates from CONTRIBUTING.md's shape, or that reads Orbit's data another way.
"""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest

from tpmlab.authoring import code, md, notebook, save
from tpmlab.hygiene import is_lesson, notebook_problems
from tpmlab.paths import REPO_ROOT


def _tracked_notebooks() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "*.ipynb"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "*.ipynb"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(set(out) | set(untracked))


NOTEBOOKS = _tracked_notebooks()


def test_there_are_notebooks():
    assert any(n.startswith("course/") for n in NOTEBOOKS)
    assert any(n.startswith("exercises/") for n in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_notebook_is_clean(path):
    problems = notebook_problems(REPO_ROOT / path, lesson=is_lesson(path))
    assert not problems, "\n".join(problems) + "\nFix: make format (or clear outputs and save)."


def test_lessons_sort_in_teaching_order():
    for path in NOTEBOOKS:
        parts = path.split("/")
        if parts[0] in {"course", "exercises"} and len(parts) == 3:
            assert parts[1][:2].isdigit() and parts[1][2] == "-", f"{path}: folder needs NN- prefix"
        if parts[0] == "course" and len(parts) == 3:
            assert parts[2][:2].isdigit(), f"{path}: lesson file name needs an NN- prefix"


def test_hygiene_catches_a_dirty_notebook(tmp_path):
    clean = save(notebook([md("# Notes"), code("print(1)")]), tmp_path / "ok.ipynb")
    assert notebook_problems(clean) == []
    nb = nbformat.read(str(clean), as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb.cells[1].execution_count = 1
    nb.cells[1].metadata["scrolled"] = True
    nb.cells[1].source = "open('/home/alice/data.csv')"
    nb.metadata["kernelspec"] = {"name": "julia", "display_name": "Julia"}
    dirty = tmp_path / "dirty.ipynb"
    nbformat.write(nb, str(dirty))
    problems = "\n".join(notebook_problems(dirty))
    for expected in [
        "cell 2 has outputs",
        "editor metadata",
        "absolute path",
        "kernelspec is 'julia'",
    ]:
        assert expected in problems
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')
    assert "not valid notebook JSON" in notebook_problems(broken)[0]


@pytest.mark.slow
def test_a_raising_notebook_fails_with_its_name_and_cell(tmp_path):
    """nbval (how `make test` runs notebooks) reports the notebook and the failing cell."""
    path = save(
        notebook([md("# Broken lesson"), code("x = 1"), code("raise ValueError('boom in cell')")]),
        tmp_path / "broken_lesson.ipynb",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "broken_lesson.ipynb::Cell 1" in proc.stdout, proc.stdout[-2000:]
    assert "boom in cell" in proc.stdout


OPENING = """# 3.1 Designing an A/B test

**Time to complete:** about 35 minutes.

## Learning objectives

You will be able to:

- compute a sample size;
- turn it into a duration.

## The scenario

Orbit's growth team wants to test a new onboarding."""
TASK = "## Try it\nCount the users."
BLANK = "n = ...  # your count"
CHECK = "# Self-check (ungraded)\nfrom tpmlab.checks import try_it\n\ntry_it('n', n, lambda v: v == 3, hint='h')"
CLOSING = """## Summary

- Sample size scales with 1 / MDE squared.

## Common mistakes

- Peeking.

## Further reading

- Kohavi, Tang and Xu (2020)."""


def _lesson(tmp_path, cells, where="course/03-ab-testing/01-design.ipynb"):
    path = tmp_path / where
    path.parent.mkdir(parents=True, exist_ok=True)
    return save(notebook(cells), path)


def _shape(opening=OPENING, closing=CLOSING, task=TASK, blank=BLANK, check=CHECK):
    return [md(opening), md(task), code(blank), code(check), md(closing)]


def test_a_lesson_in_the_shape_is_clean(tmp_path):
    assert notebook_problems(_lesson(tmp_path, _shape()), lesson=True) == []
    # the learner's blank and the self-check may share one code cell
    one_cell = _shape()[:2] + [code(BLANK + "\n" + CHECK)] + _shape()[4:]
    assert notebook_problems(_lesson(tmp_path, one_cell), lesson=True) == []


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (
            _shape(opening=OPENING.replace("## Learning objectives", "## Goals")),
            "lesson opening: its '## ' headings are '## Goals', '## The scenario'",
        ),
        (
            _shape(opening=OPENING.split("## Learning objectives")[0] + "## The scenario\nOrbit."),
            "lesson opening: its '## ' headings are '## The scenario', not",
        ),
        (
            _shape(opening=OPENING.replace("**Time to complete:** about 35 minutes.\n", "")),
            "lesson opening: no time line '**Time to complete:** about NN minutes.'",
        ),
        (
            _shape(opening=OPENING.replace("# 3.1 ", "# ")),
            "lesson opening: the first line is not a numbered title '# N.M Title'",
        ),
        (
            _shape(opening=OPENING.replace("# 3.1 ", "# 3.2 ")),
            "lesson opening: the title is numbered 3.2, the file is 3.1",
        ),
        (
            _shape(opening=OPENING.replace("- turn it into a duration.\n", "")),
            "lesson opening: 1 learning objectives, not 2 to 5",
        ),
        (
            _shape(closing=CLOSING.split("## Common mistakes")[1].join(["## Common mistakes", ""])),
            "lesson closing: the last cell has no '## Summary'",
        ),
        (
            _shape(closing=CLOSING.split("## Further reading")[0]),
            "lesson closing: the last cell has no '## Further reading'",
        ),
        (
            _shape()[:-1],
            "lesson closing: the last cell is not markdown",
        ),
        (
            _shape(task="### Try it\nCount the users."),
            "its heading is '### Try it'",
        ),
        (
            _shape(task="## Try it"),
            "no task statement under '## Try it'",
        ),
        (
            _shape(task="Some text first.\n\n## Try it\nCount the users."),
            "'## Try it' does not start its cell",
        ),
        (
            _shape(check="print('✅ right' if n == 3 else 'not yet')"),
            "never calls try_it(",
        ),
        (
            _shape(task="## Practice\nCount the users."),
            "lesson has no '## Try it' section",
        ),
    ],
    ids=[
        "objectives-renamed",
        "objectives-removed",
        "time-line-removed",
        "title-unnumbered",
        "title-misnumbered",
        "one-objective",
        "summary-removed",
        "further-reading-removed",
        "closing-not-last",
        "try-it-heading-level",
        "try-it-no-task",
        "try-it-mid-cell",
        "try-it-bypassed",
        "no-try-it",
    ],
)
def test_a_lesson_out_of_shape_says_which_lesson_what_and_the_shape(tmp_path, cells, expected):
    path = _lesson(tmp_path, cells)
    problems = notebook_problems(path, lesson=True)
    assert any(expected in p for p in problems), problems
    problem = next(p for p in problems if expected in p)
    assert problem.startswith(str(path)), problem  # which lesson
    # and how the shape looks
    assert any(shape in problem for shape in ["'# N.M Title'", "'## Summary'", "'## Try it'"])


def test_lessons_are_every_numbered_notebook_of_course():
    assert is_lesson("course/00-orientation/01-jupyterlab-basics.ipynb")
    assert is_lesson("course/03-ab-testing/04-cuped.ipynb")
    assert not is_lesson("course/index.ipynb")
    assert not is_lesson("exercises/03-ab-testing/ab_assignment.ipynb")
    assert sum(is_lesson(n) for n in NOTEBOOKS) >= 27


@pytest.mark.parametrize(
    ("source", "where", "flagged"),
    [
        ("df = pd.read_csv('datasets/users.csv')", "course/03-ab-testing/01-design.ipynb", True),
        ("db = sqlite3.connect('datasets/orbit.sqlite')", "course/05-x/01-y.ipynb", True),
        ("db = sqlite3.connect(':memory:')", "course/05-x/01-y.ipynb", False),
        ("with eng.connect() as conn:\n    conn.execute(q)", "course/05-x/01-y.ipynb", True),
        (
            "from tpmlab.sql import query\nquery('SELECT 1')",
            "course/03-ab-testing/01-a.ipynb",
            True,
        ),
        ("from tpmlab.sql import query\nquery('SELECT 1')", "course/01-sql-x/02-b.ipynb", False),
        ("%%sql\nSELECT 1", "course/04-apis/01-a.ipynb", True),
        (
            "users = pd.read_sql('SELECT * FROM users', engine())",
            "course/04-apis/01-a.ipynb",
            False,
        ),
    ],
)
def test_data_is_read_one_way_in_lessons(tmp_path, source, where, flagged):
    cells = _shape()
    cells.insert(1, code(source))
    problems = notebook_problems(_lesson(tmp_path, cells, where), lesson=True)
    hits = [p for p in problems if "lessons read Orbit's data with pd.read_sql" in p]
    assert bool(hits) == flagged, problems


def test_the_course_home_lists_each_lesson_with_its_own_title_and_time():
    """The course home repeats each lesson's title and time to complete: they must agree with
    the lesson's opening cell (the one place they are written)."""
    home = nbformat.read(str(REPO_ROOT / "course" / "index.ipynb"), as_version=4)
    text = "\n".join(c.source for c in home.cells if c.cell_type == "markdown")
    listed = {
        m.group(2): (m.group(1), m.group(3))
        for m in re.finditer(r"- \[(.+?)\]\(([^)]+\.ipynb)\) \((\d+) min\)", text)
    }
    for path in (n for n in NOTEBOOKS if is_lesson(n)):
        first = nbformat.read(str(REPO_ROOT / path), as_version=4).cells[0].source.splitlines()
        title = re.sub(r"^# \d+\.\d+ ", "", first[0])
        minutes = re.search(r"about (\d+) minutes", "\n".join(first[:3]))
        own = (title, minutes.group(1) if minutes else None)
        home_says = listed.get(path.removeprefix("course/"))
        assert home_says == own, (
            f"course/index.ipynb lists {path} as {home_says}, the lesson opens with {own}: "
            "copy the lesson's title and time into the course home."
        )
