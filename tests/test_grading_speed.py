"""Grading speed: the kernels' bytecode caches and the autograde progress lines (issue 22)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tpmlab.grading.bytecode import compile_kernel_packages, package_paths, stack_packages


def test_bytecode_caches_are_written_for_the_named_packages(tmp_path, monkeypatch):
    pkg = tmp_path / "kernelpkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("X = 1\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "mod.py").write_text("Y = 2\n")
    (tmp_path / "single.py").write_text("Z = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    names = ("kernelpkg", "single", "not_installed_anywhere")
    assert package_paths(names) == sorted([pkg, tmp_path / "single.py"])
    assert not list(tmp_path.rglob("*.pyc"))
    assert compile_kernel_packages(names) is True
    tag = sys.implementation.cache_tag
    for cached in (
        pkg / "__pycache__" / f"__init__.{tag}.pyc",
        pkg / "sub" / "__pycache__" / f"mod.{tag}.pyc",
        tmp_path / "__pycache__" / f"single.{tag}.pyc",
    ):
        assert cached.exists(), cached
    # up to date: nothing is rewritten
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.pyc")}
    assert compile_kernel_packages(names) is True
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.pyc")} == before


def test_module_6s_dbt_stack_is_compiled_for_the_kernels_too():
    """dbt and what it requires (found through the installed distributions' metadata), not the
    standard library's ``test`` package that one of them names as its own."""
    names = stack_packages()
    assert {"dbt", "dbt_common", "jinja2", "mashumaro", "agate", "networkx", "duckdb"} <= set(names)
    assert "test" not in names and "pandas" not in names
    assert stack_packages(["no-such-distribution"]) == []


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_prints_plain_lines_when_stderr_is_not_a_terminal():
    import io

    from tpmlab.grading.results import Progress, StudentResult

    out = io.StringIO()  # not a terminal: no redrawn bar, plain lines
    clock = _Clock()
    progress = Progress(10, out, every=4, seconds=30)
    progress._clock = clock
    progress.started = progress._last = 0.0
    outcomes = [
        StudentResult("a", "graded", score=1),
        StudentResult("b", "failed", flags=["error"]),
        StudentResult("c", "graded", flags=["extra file: notes.txt"]),
        StudentResult("d", "graded"),
        StudentResult("e", "graded"),
    ]
    for result in outcomes:
        clock.now += 2.0
        progress.update(result)
    assert out.getvalue().splitlines() == [
        "autograding: 4/10 done, 1 failed, 1 flagged, 0:08 elapsed, ETA 0:12"
    ]
    clock.now += 40.0  # a slow student: a line after `seconds` even before `every` students
    progress.update(StudentResult("f", "graded"))
    assert out.getvalue().splitlines()[-1] == (
        "autograding: 6/10 done, 1 failed, 1 flagged, 0:50 elapsed, ETA 0:33"
    )
    progress.update(StudentResult("g", "graded"))
    progress.close()  # the last count is always printed
    assert out.getvalue().splitlines()[-1].startswith("autograding: 7/10 done, 1 failed")
    assert "\r" not in out.getvalue()


def test_autograde_command_reports_progress_and_a_summary_in_a_log(tmp_path, capsys, orbit_db):
    import nbformat
    from grading_fixtures import ASSIGNMENT, NOTEBOOK, RIGHT, make_course, student_notebook

    from tpmlab.grading.cli import main

    course = make_course(tmp_path)
    submissions = {
        "alice": student_notebook(RIGHT),
        "bob": '{"cells": [ this is not json',  # fails
        "carol": student_notebook(RIGHT),  # flagged: an extra file
    }
    for student, nb in submissions.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text("2025-07-01 12:00:00.000000 UTC")
        if isinstance(nb, str):
            (folder / NOTEBOOK).write_text(nb)
        else:
            nbformat.write(nb, str(folder / NOTEBOOK))
    (course / "submitted" / "carol" / ASSIGNMENT / "notes.txt").write_text("extra")
    status = main(["--course", str(course), "autograde", ASSIGNMENT, "--unsafe", "--workers", "2"])
    captured = capsys.readouterr()
    assert status == 0, captured
    progress = [line for line in captured.err.splitlines() if line.startswith("autograding:")]
    assert progress, captured.err
    assert progress[-1].startswith("autograding: 3/3 done, 1 failed, 1 flagged, "), progress
    assert "ETA 0:00" in progress[-1]
    summary = captured.out.strip().splitlines()[-1]
    assert summary == (
        "3 submissions: 2 graded, 0 unchanged, 1 failed (recorded as 0 with a reason), "
        "0 not graded; 1 graded with review flags"
    ), captured.out


def test_a_grading_process_imports_nbgrader_without_the_iri_grammar():
    """jsonschema builds rfc3987_syntax's grammar when it is importable (1.6 s of CPU per
    process); ``tpmlab.grading`` keeps it out, and notebooks still validate."""
    import subprocess

    code = (
        "import sys, tpmlab.grading, nbgrader.converters, nbformat\n"
        "nbformat.validate(nbformat.v4.new_notebook())\n"
        "print(sys.modules.get('rfc3987_syntax') is None, 'jsonschema' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"], out.stdout + out.stderr


def test_opening_a_reseeded_copy_does_not_import_the_generator(orbit_db):
    """Hidden tests open re-seeded copies of Orbit in every grading kernel: once the copy is
    built, opening it reads the generator's version only, not the generator (which imports
    scipy's statistics: 1.4 s of a kernel's cell)."""
    import subprocess
    import sys

    from tpmlab import data

    data.reseeded_engine(2031).dispose()  # built (or found) here, as the grader does
    code = (
        "import sys\n"
        "from tpmlab.data import reseeded_engine\n"
        "reseeded_engine(2031).dispose()\n"
        "print(sorted(m for m in ('scipy', 'tpmlab.data.generate', 'tpmlab.data.builder')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_worker_keeps_one_gradebook_engine_and_each_job_writes_its_own_file(
    tmp_path, monkeypatch
):
    """The worker's shared engine: statements compiled for one student's gradebook serve the
    next, each job's writes land in its own file, not the previous student's, and nbgrader's own
    engines are back once the worker's block ends (the coordinator opens two gradebooks at once:
    a benchmark that graded in its own process first gave wrong scores when it did not undo it)."""
    import nbgrader.api as api
    from sqlalchemy import text

    from tpmlab.grading import worker

    # nbgrader stamps a new gradebook by running `alembic`, installed beside this interpreter
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    original = api.create_engine
    compiled, engines = [], set()
    with worker.shared_gradebook_engine():
        for student in ("ada", "bo"):
            url = f"sqlite:///{tmp_path / student}.db"
            with api.Gradebook(url) as gb:
                gb.update_or_create_student(student)
                engines.add(id(gb.engine))
                assert gb.db.execute(text("PRAGMA synchronous")).scalar() == 0
            with api.Gradebook(url) as gb:
                assert [s.id for s in gb.students] == [student]
                compiled.append(len(gb.engine._compiled_cache))
        other = api.create_engine("sqlite://")
        assert id(other) not in engines
    assert len(engines) == 1
    assert compiled[0] > 0 and compiled[1] == compiled[0]  # nothing compiled again for "bo"
    assert api.create_engine is original
    # after the block two gradebooks open at once each keep their own file
    ada, bo = (f"sqlite:///{tmp_path / name}.db" for name in ("ada", "bo"))
    with api.Gradebook(ada) as first, api.Gradebook(bo) as second:
        assert [s.id for s in first.students] == ["ada"]
        assert [s.id for s in second.students] == ["bo"]
