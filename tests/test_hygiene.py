"""Every committed notebook is clean, and lessons have their required sections.

A notebook committed with outputs, with editor metadata, with another kernel, with an absolute
path, or a lesson without objectives/summary/further reading fails here, naming file and cell.
"""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from tpmlab.authoring import code, md, notebook, save
from tpmlab.hygiene import notebook_problems
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
    lesson = path.startswith("course/") and not path.endswith("index.ipynb")
    problems = notebook_problems(REPO_ROOT / path, lesson=lesson)
    assert not problems, "\n".join(problems) + "\nFix: make format (or clear outputs and save)."


def test_lessons_sort_in_teaching_order():
    for path in NOTEBOOKS:
        parts = path.split("/")
        if parts[0] in {"course", "exercises"} and len(parts) == 3:
            assert parts[1][:2].isdigit() and parts[1][2] == "-", f"{path}: folder needs NN- prefix"
        if parts[0] == "course" and len(parts) == 3:
            assert parts[2][:2].isdigit(), f"{path}: lesson file name needs an NN- prefix"


def test_hygiene_catches_a_dirty_notebook(tmp_path):
    clean = save(
        notebook([md("# Learning objectives\n## Summary\n## Further reading"), code("print(1)")]),
        tmp_path / "ok.ipynb",
    )
    assert notebook_problems(clean, lesson=True) == []
    nb = nbformat.read(str(clean), as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb.cells[1].execution_count = 1
    nb.cells[1].metadata["scrolled"] = True
    nb.cells[1].source = "open('/home/alice/data.csv')"
    nb.metadata["kernelspec"] = {"name": "julia", "display_name": "Julia"}
    nb.cells[0].source = "# A lesson with no sections"
    dirty = tmp_path / "dirty.ipynb"
    nbformat.write(nb, str(dirty))
    problems = "\n".join(notebook_problems(dirty, lesson=True))
    for expected in [
        "cell 2 has outputs",
        "editor metadata",
        "absolute path",
        "kernelspec is 'julia'",
        "no 'learning objectives'",
        "no 'summary'",
        "no 'further reading'",
    ]:
        assert expected in problems
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')
    assert "not valid notebook JSON" in notebook_problems(broken)[0]


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


def test_a_try_it_whose_self_check_bypasses_try_it_is_a_problem(tmp_path):
    """A Try-it that prints its own tick cannot be caught by make test's strict mode, so the
    hygiene check asks every Try-it section to go through tpmlab.checks.try_it."""
    opening = "# L\n## Learning objectives\n- x\n"
    closing = "## Summary\n- x\n## Further reading\n- x"
    bad = save(
        notebook(
            [
                md(opening + "## Try it\nCount the users."),
                code("n = ..."),
                code("print('✅ right' if n == 3 else 'not yet')"),
                md(closing),
            ]
        ),
        tmp_path / "bad.ipynb",
    )
    good = save(
        notebook(
            [
                md(opening + "## Try it\nCount the users."),
                code("n = ..."),
                code(
                    "from tpmlab.checks import try_it\ntry_it('n', n, lambda v: v == 3, hint='h')"
                ),
                md(closing),
            ]
        ),
        tmp_path / "good.ipynb",
    )
    assert any("never calls try_it(" in p for p in notebook_problems(bad, lesson=True))
    assert notebook_problems(good, lesson=True) == []
