"""The instructor's day after autograding (issue 28): mark schemes where graders score, hand
grades that survive an unchanged resubmission, a summary and exit status that count failures,
plain errors for a wrong assignment name, reasons that say something, question titles, feedback
that reads in order, and the class report (also in the real browser).

One small class of a fixture assignment (three autograded questions numbered 1, 2 and 10, one
hand-graded memo) is graded once for the module; the resubmission test, which changes it, runs
last.
"""

from __future__ import annotations

import copy
import html
import os
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbgrader.api import Gradebook

from tpmlab.authoring import answer, manual, md, notebook, save
from tpmlab.authoring import tests as graded_tests
from tpmlab.grading import notebooks
from tpmlab.grading.autograde import autograde
from tpmlab.grading.coursedir import Course
from tpmlab.grading.results import summary
from tpmlab.paths import REPO_ROOT

ASSIGNMENT, SECOND = "ps1", "ps2"
SCHEME = "Full marks: states the drop by a third and names one next step for the team."
DUE = "2025-07-01 12:00:00 UTC"
ON_TIME, LATE = "2025-07-01 11:00:00.000000 UTC", "2025-07-02 15:30:00.000000 UTC"
XSS = "<script>alert(1)</script><b>bold</b>"

SOURCE = notebook(
    [
        md("# Problem set 1\nOrbit had 120 signups on Monday and 80 on Tuesday."),
        md("## Question 1 (2 points): total signups"),
        answer("q1", "### BEGIN SOLUTION\nsignups = 120 + 80\n### END SOLUTION"),
        graded_tests(
            "q1-tests",
            2,
            "from tpmlab.checks import check_defined, check_range, passed\n"
            "check_defined(globals(), 'signups')\n"
            "check_range(signups, 1, 10_000, 'signups', 'Add the two days.')\n"
            "passed('Question 1')\n"
            "### BEGIN HIDDEN TESTS\nfrom tpmlab.scoring import answer\n"
            "answer('signups', signups)\n### END HIDDEN TESTS",
        ),
        md("## Question 2 (3 points): conversion"),
        answer(
            "q2",
            "def conversion(paid, users):\n    ### BEGIN SOLUTION\n    return paid / users\n"
            "    ### END SOLUTION",
        ),
        graded_tests(
            "q2-tests",
            3,
            "assert abs(conversion(1, 4) - 0.25) < 1e-9, 'conversion(1, 4) should be 0.25'\n"
            "### BEGIN HIDDEN TESTS\nfrom tpmlab.scoring import answer\n"
            "answer('3 of 4', conversion(3, 4))\n### END HIDDEN TESTS",
        ),
        md("## Question 10 (5 points): growth"),
        answer("q10", "### BEGIN SOLUTION\ngrowth = (80 - 120) / 120\n### END SOLUTION"),
        graded_tests(
            "q10-tests",
            5,
            "from tpmlab.checks import check_number\n"
            "check_number(growth, -1/3, 'growth', rel=1e-6, hint='(new - old) / old')\n"
            "### BEGIN HIDDEN TESTS\nfrom tpmlab.scoring import answer\n"
            "answer('growth', growth, rel=1e-6)\n### END HIDDEN TESTS",
        ),
        md("## Question 11 (4 points, graded by hand): the memo\nOne sentence for the CEO."),
        manual("q11", 4, SCHEME),
    ]
)
RIGHT = {
    "q1": "signups = 120 + 80",
    "q2": "def conversion(paid, users):\n    return paid / users",
    "q10": "growth = (80 - 120) / 120",
}
MEMO = "Signups fell by a third on Tuesday: check what the release changed."
# student -> (answers, notebook file name, timestamp)
CLASS = {
    "alice": ({**RIGHT, "q11": MEMO}, "ps1.ipynb", ON_TIME),
    "bob": ({}, "ps1.ipynb", ON_TIME),  # the blank student version
    "dave": ({**RIGHT, "q1": "signups = 120", "q11": MEMO}, "ps1.ipynb", LATE),
    "erin": ({**RIGHT, "q11": ""}, "ps1.ipynb", ON_TIME),  # cleared the memo: nothing to read
    "mallory": (
        {**RIGHT, "q2": f"def conversion(paid, users):\n    raise ValueError({XSS!r})"},
        "ps1.ipynb",
        ON_TIME,
    ),
    "zed": ({**RIGHT, "q11": MEMO}, "ps1-Copy1.ipynb", ON_TIME),  # misnamed by Jupyter
}


def _submit(course: Course, student: str, answers: dict, name: str, stamp: str, assignment=None):
    assignment = assignment or ASSIGNMENT
    folder = course.submitted_dir(student, assignment)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    nb = notebooks.release(SOURCE)
    if answers:
        nb = notebooks.substitute(nb, answers)
    nbformat.write(nb, str(folder / name))
    (folder / "timestamp.txt").write_text(stamp)


def _grade(course: Course, assignment: str = ASSIGNMENT, students=None):
    return {
        r.student: r
        for r in autograde(
            course,
            assignment,
            workers=2,
            cell_timeout=10,
            student_timeout=120,
            students=students,
            progress=False,
        )
    }


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """The class graded once: ps1 for six students (dave late), ps2 for two."""
    root = tmp_path_factory.mktemp("instructor")
    (root / "autograder").mkdir()
    shutil.copy(REPO_ROOT / "autograder" / "nbgrader_config.py", root / "autograder")
    for name in (ASSIGNMENT, SECOND):
        save(SOURCE, root / "exercises" / name / f"{name}.ipynb")
    course = Course(root / "autograder")
    course.ensure_assignment(ASSIGNMENT)
    with Gradebook(course.db_url, course.course_id) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=DUE)
    for student, (answers, name, stamp) in CLASS.items():
        _submit(course, student, answers, name, stamp)
    results = _grade(course)
    for student in ("alice", "bob"):
        answers = {**RIGHT, "q10": "growth = 0"} if student == "bob" else CLASS[student][0]
        folder = course.submitted_dir(student, SECOND)
        folder.mkdir(parents=True)
        nb = notebooks.substitute(notebooks.release(SOURCE), answers)
        nbformat.write(nb, str(folder / f"{SECOND}.ipynb"))
    second = _grade(course, SECOND)
    return course, results, second


@pytest.fixture(scope="module")
def feedback(day):
    """Every student's feedback page (nbgrader generate_feedback with the course's config)."""
    from tpmlab.grading.feedback import generate_feedback

    course, _, _ = day
    return {p.parts[-3]: p.read_text() for p in generate_feedback(course, ASSIGNMENT)}


def _manual_grade(course: Course, student: str, gid: str = "q11", assignment=ASSIGNMENT):
    with Gradebook(course.db_url, course.course_id) as gb:
        return gb.find_grade(gid, assignment, assignment, student)


def _text(page_html: str) -> str:
    """The visible text of an HTML page, whitespace collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page_html, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _formgrader_page(course: Course, student: str, assignment: str = ASSIGNMENT) -> str:
    """The formgrader's manual-grading page of a submission, rendered exactly as nbgrader's
    SubmissionHandler renders it (its HTMLExporter with the ``formgrade`` template)."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    path = course.autograded_dir(student, assignment) / f"{assignment}.ipynb"
    resources = {
        "assignment_id": assignment,
        "notebook_id": assignment,
        "submission_id": "x",
        "index": 0,
        "total": 1,
        "base_url": "",
        "student": student,
        "last_name": None,
        "first_name": None,
        "notebook_path": str(path),
    }
    page, _ = HTMLExporter(config=config).from_filename(str(path), resources=resources)
    return page


def _formgrade_render(nb) -> str:
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {"index": 0, "total": 1, "base_url": "", "student": "s", "notebook_id": "n"}
    page, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=resources)
    return page


def _feedback_render(nb) -> str:
    """Feedback as ``nbgrader generate_feedback`` renders it (its preprocessors and template)."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    from tpmlab.grading.preprocessors.hide_hidden_tests import HideHiddenTests

    nb = copy.deepcopy(nb)
    for cell in nb.cells:  # what nbgrader's GetGrades puts there before this preprocessor
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            meta["score"] = 0.0
    info = {"notebook": "n", "score": 0.0, "max_score": 1.0, "late_penalty": 0.0}
    nb, resources = HideHiddenTests().preprocess(nb, {"nbgrader": info})
    config = Config()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    config.HTMLExporter.extra_template_paths = [
        str(Path(handlers.template_path).parent / "static/node_modules/bootstrap/dist/css")
    ]
    page, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=resources)
    return page


# ---- 1. mark schemes ----------------------------------------------------------------------------
def _hand_graded_sources():
    out = []
    for path in sorted((REPO_ROOT / "exercises").glob("*/*.ipynb")):
        nb = notebooks.read(path)
        gids = [
            c.metadata["nbgrader"]["grade_id"]
            for c in nb.cells
            if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")
        ]
        out += [(path, gid) for gid in gids]
    return out


@pytest.mark.parametrize(
    "path,gid", _hand_graded_sources(), ids=lambda x: x.parent.name if isinstance(x, Path) else x
)
@pytest.mark.slow
def test_every_hand_graded_item_shows_its_scheme_to_graders_and_never_in_feedback(path, gid):
    from nbconvert.filters import markdown2html

    from tpmlab.grading.markscheme import add_mark_schemes, schemes

    source = notebooks.read(path)
    scheme = schemes(source)[gid]
    expected = _text(markdown2html(scheme))
    assert len(expected) > 40, f"{path.name} {gid}: no mark scheme in the solution block"
    student = notebooks.substitute(notebooks.release(source), {gid: "My answer to the memo."})
    graded = add_mark_schemes(student, source)
    page = _text(_formgrade_render(graded))
    assert expected in page, f"{path.name} {gid}: the scheme is not on the formgrader's page"
    # right under the student's answer
    assert page.index("My answer to the memo.") < page.index(expected)
    feedback = _text(_feedback_render(graded))
    assert "My answer to the memo." in feedback
    assert expected[:60] not in feedback, f"{path.name} {gid}: the scheme leaked into feedback"


@pytest.mark.slow
def test_formgrader_page_of_a_graded_submission_shows_the_scheme_feedback_does_not(day, feedback):
    course, _, _ = day
    page = _text(_formgrader_page(course, "alice"))
    assert MEMO in page and SCHEME in page
    assert page.index(MEMO) < page.index(SCHEME)
    files = feedback
    assert MEMO in _text(files["alice"])
    assert SCHEME not in _text(files["alice"]) and "Mark scheme" not in files["alice"]


# ---- 8. reasons and what waits for a person ---------------------------------------------------
@pytest.mark.slow
def test_reasons_say_something_and_only_real_answers_wait_for_a_person(day):
    course, results, _ = day
    zed = results["zed"]
    assert zed.status == "failed"
    assert "ps1-Copy1.ipynb" in zed.reason and "must be named ps1.ipynb" in zed.reason
    assert "above traceback" not in zed.reason
    waiting = {s: _manual_grade(course, s).needs_manual_grade for s in CLASS}
    # a written memo waits; a blank, cleared or ungradable one scores 0 at once
    assert waiting == {
        "alice": True,
        "bob": False,
        "dave": True,
        "erin": False,
        "mallory": False,  # left the memo as released
        "zed": False,
    }
    assert _manual_grade(course, "erin").score == 0


# ---- 5, 10. the autograde command's lines, summary and exit status -----------------------------
@pytest.mark.slow
def test_rerun_counts_failures_as_failures_and_exit_status(day, capsys):
    from tpmlab.grading.cli import main

    course, _, _ = day
    status = main(["--course", str(course.root), "autograde", ASSIGNMENT, "--unsafe"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert (
        "6 submissions: 0 graded, 5 unchanged, 1 failed (recorded as 0 with a reason), 0 not graded"
        in out
    )
    alice = next(line for line in out.splitlines() if line.startswith("alice"))
    assert "10/10 (autograded; 14 total with 4 hand-graded points)" in alice
    zed = next(line for line in out.splitlines() if line.startswith("zed"))
    assert "failed" in zed and "must be named ps1.ipynb" in zed
    status = main(
        ["--course", str(course.root), "autograde", ASSIGNMENT, "--unsafe", "--student", "ghost"]
    )
    out = capsys.readouterr().out
    assert status == 3, out
    assert "1 not graded" in out and "ghost" in out


# ---- 7. a wrong assignment name ----------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("command", ["report", "feedback", "export"])
def test_a_wrong_assignment_name_says_what_exists(day, command, capsys):
    from tpmlab.grading.cli import main

    course, _, _ = day
    before = sorted(p for p in course.root.rglob("*") if p.is_file())
    with pytest.raises(SystemExit) as exit_info:
        main(["--course", str(course.root), command, "ps-one"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "'ps-one'" in err and "ps1" in err and "ps2" in err and "Traceback" not in err
    assert sorted(p for p in course.root.rglob("*") if p.is_file()) == before, "files written"


# ---- 10. titles and natural order --------------------------------------------------------------
@pytest.mark.slow
def test_questions_have_titles_in_natural_order_in_the_csv(day, tmp_path):
    from tpmlab.grading.questions import natural_key, titles
    from tpmlab.grading.report import export

    course, _, _ = day
    _, per_question = export(course, ASSIGNMENT, tmp_path)
    alice = pd.read_csv(per_question).query("student == 'alice'")
    assert list(alice["question"]) == ["q1-tests", "q2-tests", "q10-tests", "q11"]
    assert list(alice["title"]) == [
        "Question 1: total signups",
        "Question 2: conversion",
        "Question 10: growth",
        "Question 11: the memo",
    ]
    sql = titles(Course(), "01-sql-analytics")
    ordered = sorted(sql, key=natural_key)
    assert ordered[:2] == ["q1-tests", "q2-tests"] and ordered[-2:] == ["q10-tests", "q11"]
    assert sql["q11"] == "Question 11: answer the stakeholder"


# ---- 11. feedback ------------------------------------------------------------------------------
@pytest.mark.slow
def test_feedback_reads_in_order_wraps_and_names_questions(feedback):
    dave = feedback["dave"]
    text = _text(dave)
    # q1: the public check passed, then the judge's verdict, in that order
    assert text.index("Question 1: public checks passed") < text.index("A hidden test failed")
    assert "white-space: pre-wrap" in dave
    contents = text.split("Your questions")[1]
    for title in ("Question 1: total signups", "Question 10: growth", "Question 11: the memo"):
        assert title in contents
    assert 'href="#q10-tests"' in dave
    assert "Question 1: total signups autograded 0 / 2" in contents


# ---- 6 and the class report --------------------------------------------------------------------
@pytest.mark.slow
def test_class_report_counts_what_it_says(day):
    from tpmlab.grading.class_report import class_report

    course, _, _ = day
    page = class_report(course, ASSIGNMENT).read_text()
    text = _text(page)
    rows = {
        r.split("</td>")[0].split(">")[-1]: _text(r)
        for r in page.split('<h2 id="students">')[1].split("Progress across")[0].split("<tr>")[2:]
    }
    assert "10 / 10 100.0%" in rows["alice"]  # of the autograded points, not of 14
    assert "8 / 10 80.0%" in rows["dave"]
    # alice 100, bob 0, dave 80, erin 100, mallory 70: zed (failed) is shown apart
    assert "mean 70.0%, median 80.0%" in text
    failed = _text(page.split('id="flagged"')[1].split('id="students"')[0])
    assert "zed" in failed and "must be named ps1.ipynb" in failed
    questions = _text(page.split('id="questions"')[1].split('id="hand"')[0])
    order = [
        questions.index(t) for t in ("Question 1:", "Question 2:", "Question 10:", "Question 11:")
    ]
    assert order == sorted(order)
    assert "0 of 2 graded by hand" in questions  # alice and dave wrote a memo
    assert "Question 1: total signups (60% pass)" in questions  # bob (blank) and dave failed
    assert "NameError: name 'growth' is not defined (1×)" in questions  # bob's q10
    # dave's q1 failed in the hidden tests: the judge's verdict, never the hidden code
    from tpmlab.grading.class_tables import _failure_messages

    dave = _failure_messages(course, ASSIGNMENT, ["dave"])
    assert list(dave) == ["q1-tests"]
    assert next(iter(dave["q1-tests"])).startswith("hidden test: ")
    assert "answer(" not in str(dave) and "BEGIN HIDDEN" not in page
    hand = _text(page.split('id="hand"')[1].split('id="late"')[0])
    assert "alice, dave" in hand and "mallory" not in hand
    late = _text(page.split('id="late"')[1].split('id="flagged"')[0])
    assert "dave" in late and "alice" not in late
    progress = _text(page.split("Progress across assignments")[1])
    assert "ps1" in progress and "ps2" in progress
    # students control their error messages: nothing of theirs becomes markup
    assert "<script>" not in page and "<b>bold</b>" not in page
    assert html.escape(XSS) in page
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(https?:)?//', page), "the report must not reach the network"


@pytest.mark.slow
@pytest.mark.browser
def test_class_report_in_the_browser(day):
    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, _missing_browser

    reason = _missing_browser()
    if reason:
        if os.environ.get("TPMLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"TPMLAB_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    from tpmlab.grading.class_report import class_report

    course, _, _ = day
    path = class_report(course, ASSIGNMENT)
    shots = REPO_ROOT / "test-output" / "instructor"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(path.as_uri())
            expect(page.locator("h1")).to_have_text("Class report: ps1")
            for heading in (
                "Score distribution",
                "Questions",
                "Hand grading",
                "Late submissions",
                "Flagged for review",
                "All students",
                "Progress across assignments",
            ):
                expect(page.locator("h2", has_text=heading)).to_be_visible()
            plot = page.locator("img.plot").first
            expect(plot).to_be_visible()
            assert page.evaluate(
                "img => img.naturalWidth > 100 && img.complete", plot.element_handle()
            )
            page.screenshot(path=str(shots / "class-report.png"), full_page=True)
            page.emulate_media(media="print")
            expect(page.locator("nav.toc")).to_be_hidden()
            expect(page.locator("h2", has_text="Score distribution")).to_be_visible()
        finally:
            browser.close()


# ---- 2. resubmissions (changes the class: runs last) ------------------------------------------
@pytest.mark.slow
def test_resubmission_keeps_hand_grades_of_unchanged_answers(day, capsys):
    from tpmlab.grading.class_report import class_report

    course, _, _ = day
    with Gradebook(course.db_url, course.course_id) as gb:
        # the roster's names (the collect step fills them) survive re-grading
        gb.update_or_create_student("alice", first_name="Alice", last_name="Liddell")
        grade = gb.find_grade("q11", ASSIGNMENT, ASSIGNMENT, "alice")
        grade.manual_score = 3
        grade.needs_manual_grade = False
        gb.find_comment("q11", ASSIGNMENT, ASSIGNMENT, "alice").manual_comment = "Name the fix."
        gb.db.commit()
    # an autograded answer changed, the memo did not: the hand grade stays
    _submit(course, "alice", {**CLASS["alice"][0], "q10": "growth = 0"}, "ps1.ipynb", ON_TIME)
    results = _grade(course, students=["alice"])
    assert results["alice"].status == "graded" and results["alice"].score == 5
    assert results["alice"].hand_kept == ["q11"] and results["alice"].manual_redo == []
    grade = _manual_grade(course, "alice")
    assert (grade.manual_score, grade.needs_manual_grade, grade.score) == (3, False, 3)
    with Gradebook(course.db_url, course.course_id) as gb:
        assert gb.find_comment("q11", ASSIGNMENT, ASSIGNMENT, "alice").manual_comment == (
            "Name the fix."
        )
    # the memo changed: its grade is cleared, and alice is named
    _submit(course, "alice", {**RIGHT, "q11": MEMO + " Also roll back."}, "ps1.ipynb", ON_TIME)
    results = _grade(course, students=["alice"])
    assert results["alice"].manual_redo == ["q11"]
    grade = _manual_grade(course, "alice")
    assert grade.manual_score is None and grade.needs_manual_grade
    line, status = summary(list(results.values()))
    assert status == 0 and "hand grading to redo" in line and "alice (q11)" in line
    page = class_report(course, ASSIGNMENT).read_text()
    hand = _text(page.split('id="hand"')[1].split('id="late"')[0])
    assert "Hand grading to redo" in hand and "alice q11" in hand
    with Gradebook(course.db_url, course.course_id) as gb:
        alice = gb.find_student("alice")
        assert (alice.first_name, alice.last_name) == ("Alice", "Liddell")


# ---- 12. the grading demo ----------------------------------------------------------------------
@pytest.mark.slow
def test_grade_demo_has_an_answer_to_grade_by_hand_and_a_late_submission(tmp_path, capsys):
    from tpmlab.grading import demo

    root = tmp_path / "demo"
    assert demo.main(["00-warmup", "--students", "3", "--workers", "2", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "student003 (half, late): graded" in out
    assert (
        "hand grading, Question 6: your first question for Orbit: student001, student003 waiting"
        in out
    )
    course = Course(root / "autograder")
    with Gradebook(course.db_url, course.course_id) as gb:
        assert gb.find_submission("00-warmup", "student003").total_seconds_late > 0
        assert gb.find_submission("00-warmup", "student001").total_seconds_late == 0
        grade = gb.find_grade("q6_first_question", "warmup", "00-warmup", "student001")
        assert grade.needs_manual_grade
    page = (course.reports_dir() / "00-warmup-report.html").read_text()
    assert "student003" in _text(page.split('id="late"')[1].split('id="flagged"')[0])
