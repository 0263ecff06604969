"""The instructor loop end to end on a fixture class: collect, autograde in parallel, re-run,
feedback, export, report; exact scores and flags for every student."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from tests.grading_fixtures import (
    ASSIGNMENT,
    CLASS,
    HIDDEN_SENTINEL,
    NOTEBOOK,
    RIGHT,
    handin_zip,
    make_course,
    read_manifest,
    student_notebook,
    write_submissions,
)
from tpmlab.grading.autograde import autograde
from tpmlab.grading.class_report import class_report
from tpmlab.grading.collect import collect
from tpmlab.grading.coursedir import Course
from tpmlab.grading.feedback import generate_feedback
from tpmlab.grading.report import export, grades_table

CELL_TIMEOUT = 5


def _grade(course: Course, workers: int):
    return {
        r.student: r
        for r in autograde(
            course,
            ASSIGNMENT,
            workers=workers,
            cell_timeout=CELL_TIMEOUT,
            student_timeout=90,
            progress=False,
        )
    }


def _assert_class(results):
    for student, (_, expected_score, expected_flags) in CLASS.items():
        r = results[student]
        assert r.score == expected_score, f"{student}: {r.score} != {expected_score} ({r})"
        assert r.max_score == 10, f"{student}: max {r.max_score}"
        for flag in expected_flags:
            assert any(flag in f for f in r.flags), f"{student}: no flag {flag!r} in {r.flags}"
    honest = {"alice", "bob", "carol", "dave", "erin", "frank"}
    for student in honest:
        assert not results[student].flags, f"{student} flagged: {results[student].flags}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The fixture class graded with 1 worker and with 2 workers, in two course copies."""
    out = {}
    for workers in (1, 2):
        root = tmp_path_factory.mktemp(f"course-{workers}")
        course = Course(make_course(root))
        write_submissions(course.root)
        out[workers] = (course, _grade(course, workers))
    return out


@pytest.mark.slow
def test_exact_scores_and_flags(graded):
    _, results = graded[2]
    _assert_class(results)
    assert results["judy"].status == "failed" and "corrupt" in " ".join(results["judy"].flags)
    table = grades_table(graded[2][0], ASSIGNMENT)
    memo = table[table["question"] == "memo"].set_index("student")
    # nbgrader's rule: a written answer waits for a human; an untouched one scores 0 at once
    assert memo.loc["alice", "needs_manual_grade"], "alice's memo must wait for a human grader"
    assert not memo.loc["bob", "needs_manual_grade"] and memo.loc["bob", "score"] == 0


@pytest.mark.slow
def test_one_worker_and_two_workers_agree(graded):
    a = grades_table(graded[1][0], ASSIGNMENT).reset_index(drop=True)
    b = grades_table(graded[2][0], ASSIGNMENT).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    _assert_class(graded[1][1])


@pytest.mark.slow
def test_rerun_is_idempotent_and_regrades_changed_submissions(graded):
    course, _ = graded[2]
    before = grades_table(course, ASSIGNMENT).reset_index(drop=True)
    again = _grade(course, 2)
    # unchanged submissions are skipped; refused ones (a link, an oversized file) are refused again
    assert {s: r.status for s, r in again.items() if r.status != "skipped"} == {
        "nina": "failed",
        "oscar": "failed",
    }
    pd.testing.assert_frame_equal(before, grades_table(course, ASSIGNMENT).reset_index(drop=True))
    # bob resubmits a full solution: only he is graded again, once
    import nbformat

    path = course.submitted_dir("bob", ASSIGNMENT) / NOTEBOOK
    nbformat.write(student_notebook(RIGHT), str(path))
    third = _grade(course, 2)
    assert third["bob"].status == "graded" and third["bob"].score == 10
    assert {s for s, r in third.items() if r.status != "skipped"} == {"bob", "nina", "oscar"}
    table = grades_table(course, ASSIGNMENT)
    assert len(table) == len(before), "re-grading must not duplicate rows"


@pytest.mark.slow
def test_feedback_shows_public_checks_not_hidden_tests(graded):
    course, _ = graded[2]
    files = generate_feedback(course, ASSIGNMENT)
    by_student = {p.parts[-3]: p.read_text() for p in files}
    assert {"alice", "dave"} <= set(by_student)
    for student, text in by_student.items():
        assert HIDDEN_SENTINEL not in text, f"hidden test code leaked into {student}'s feedback"
        assert "BEGIN HIDDEN TESTS" not in text
    # pat's code printed the hidden tests while they ran: the instructor sees it, pat does not
    autograded = (course.autograded_dir("pat", ASSIGNMENT) / NOTEBOOK).read_text()
    assert HIDDEN_SENTINEL in autograded and "pat" in by_student
    assert "A hidden test failed" in by_student["dave"]
    assert "CheckFailed" not in by_student["alice"]  # passing checks show no error
    assert "CheckFailed" in by_student["carol"]  # a public check's message is shown
    assert "which is not the expected value" in by_student["carol"]


@pytest.mark.slow
def test_export_and_class_report(graded, tmp_path):
    course, _ = graded[2]
    per_student, per_question = export(course, ASSIGNMENT, tmp_path)
    totals = pd.read_csv(per_student).set_index("student")
    for student, (_, score, _) in CLASS.items():
        expected = 10 if student == "bob" else score  # bob resubmitted a full solution above
        assert totals.loc[student, "score"] == expected, student
    questions = pd.read_csv(per_question)
    assert set(questions["question"]) == {"q1-tests", "q2-tests", "q3-tests", "memo"}
    html = class_report(course, ASSIGNMENT, tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html
    for student in ("judy", "kim", "henry", "mia", "nina", "oscar"):
        assert student in html.split("Flagged for review")[1].split("All students")[0]


@pytest.mark.slow
def test_collect_from_handins_and_lms_download(tmp_path):
    course = Course(make_course(tmp_path / "c"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    z1 = handin_zip(tmp_path, "alice", RIGHT)
    assert read_manifest(z1)["student"] == "alice"
    shutil.copy(z1, inbox / "alice-upload.zip")
    import nbformat

    # Canvas-style names: login_userid_submissionid_originalname
    nbformat.write(student_notebook(RIGHT), str(inbox / "bob_101_9001_ps1.ipynb"))
    nbformat.write(student_notebook("blank"), str(inbox / "carol_LATE_102_9002_ps1-1.ipynb"))
    older = inbox / "dave_103_9003_ps1.ipynb"
    newer = inbox / "dave_103_9004_ps1.ipynb"
    nbformat.write(student_notebook("blank"), str(older))
    nbformat.write(student_notebook(RIGHT), str(newer))
    os.utime(older, (1_700_000_000, 1_700_000_000))
    (inbox / "random.pdf").write_text("not a notebook")
    (inbox / "broken.zip").write_text("not a zip")
    report = collect(course, ASSIGNMENT, inbox, roster=["alice", "bob", "carol", "dave", "zoe"])
    assert sorted(report.collected) == ["alice", "bob", "carol", "dave"]
    assert report.missing == ["zoe"]
    assert any(d.startswith("dave: kept dave_103_9004") for d in report.duplicates)
    assert report.renamed == ["carol: ps1-1.ipynb -> ps1.ipynb"]
    assert any("random.pdf" in p for p in report.problems)
    assert any("broken.zip" in p for p in report.problems)
    for student in report.collected:
        folder = course.submitted_dir(student, ASSIGNMENT)
        assert (folder / NOTEBOOK).exists() and (folder / "timestamp.txt").exists()
    results = {r.student: r for r in autograde(course, ASSIGNMENT, workers=2, progress=False)}
    assert {s: r.score for s, r in results.items()} == {
        "alice": 10,
        "bob": 10,
        "carol": 0,
        "dave": 10,
    }


def test_handin_errors_are_plain(tmp_path):
    from tpmlab.errors import TPMLabError
    from tpmlab.handin import handin

    with pytest.raises(TPMLabError, match="No notebooks found"):
        handin("ps1", "alice", folder=tmp_path / "nothing", out_dir=tmp_path)
    with pytest.raises(TPMLabError, match="cannot be used as a student id"):
        handin("ps1", "../../etc", folder=tmp_path, out_dir=tmp_path)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_gradebook_gives_the_same_grades(graded, tmp_path, pg_database_url):
    course = Course(make_course(tmp_path), db_url=pg_database_url)
    write_submissions(course.root)
    results = _grade(course, 2)
    _assert_class(results)
    # the one-worker SQLite course was not touched by the re-grading test
    a = grades_table(graded[1][0], ASSIGNMENT).reset_index(drop=True)
    b = grades_table(course, ASSIGNMENT).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow
def test_grader_killed_mid_batch_loses_and_duplicates_nothing(tmp_path):
    """kill -9 of `tpmlab-grade autograde` after its first student; the re-run finishes the
    batch, each student has exactly one graded submission with the exact score."""
    import signal
    import subprocess
    import sys
    import time

    import tests.grading_fixtures as fx

    course = Course(make_course(tmp_path))
    honest = {s: CLASS[s] for s in ("alice", "bob", "carol", "dave", "erin")}
    original = fx.CLASS
    fx.CLASS = honest
    try:
        write_submissions(course.root)
    finally:
        fx.CLASS = original
    cmd = [
        sys.executable,
        "-m",
        "tpmlab.grading",
        "--course",
        str(course.root),
        "autograde",
        ASSIGNMENT,
        "--workers",
        "1",
        "--unsafe",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    markers = lambda: list((course.root / "autograded").glob("*/ps1/.tpmlab-graded.json"))  # noqa: E731
    deadline = time.monotonic() + 240
    while not markers() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the grader finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(markers())
    assert 1 <= done_before < len(honest)

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    table = grades_table(course, ASSIGNMENT)
    assert len(table) == len(honest) * 4, "each student graded exactly once"
    totals = table[table["autograded"]].groupby("student")["score"].sum().to_dict()
    assert totals == {s: float(v[1]) for s, v in honest.items()}
    assert rerun.stdout.count("skipped") == done_before
