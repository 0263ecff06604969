"""Grades where instructors keep them: Canvas's and Moodle's grade import files and the course
CSV, with a roster mapping course ids to LMS ids and the course's late policy applied, read back
with the csv module as the LMS reads them; the policy's lateness in the class report.

The formats' documented columns:

- Canvas gradebook import: the columns of Canvas's gradebook export, ``Student`` ("Last,
  First"), ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per
  assignment named ``Name (assignment id)``; a new name makes a new assignment; Canvas's export
  has a ``Points Possible`` row under the header. Documented at
  https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades
  (the required columns) and
  https://nemogb-dev.github.io/nemogb-r/articles/detailed-canvas-export-info.html (what each
  column holds, the ``Name (id)`` assignment columns).
- Moodle CSV grade import: any header; on upload the teacher maps the column that identifies
  users ("Map from") to a user field ("Map to": email address, ID number, username) and each
  grade column to a grade item. Documented at https://docs.moodle.org/311/en/Grade_import.

The fixture class is ps1 of tests/grading_fixtures.py (10 autograded points and a 4-point memo)
with a deadline of 2025-07-01 14:00 Paris time (12:00 UTC), 10% off per started day late, at
most 30%, and 0 after 2025-07-08 12:00 UTC.
"""

from __future__ import annotations

import csv
import json
import os
import zipfile
from datetime import UTC, datetime, timedelta

import nbformat
import pytest
from nbgrader.api import Gradebook

from tests.grading_fixtures import ASSIGNMENT, NOTEBOOK, RIGHT, make_course, student_notebook
from tpmlab.errors import TPMLabError
from tpmlab.grading.autograde import autograde
from tpmlab.grading.class_report import render
from tpmlab.grading.cli import main
from tpmlab.grading.collect import collect, read_roster
from tpmlab.grading.coursedir import Course
from tpmlab.grading.late import LatePolicy, judge, lateness, load_policy, parse_date
from tpmlab.grading.lms import export_lms

POLICY = """
c.LatePolicy.deadlines = {"ps1": "2025-07-01 14:00:00 Europe/Paris"}
c.LatePolicy.penalty_per_day = 10
c.LatePolicy.max_penalty = 30
c.LatePolicy.zero_after = {"ps1": "2025-07-08 12:00:00 UTC"}
"""
MEMO = "Signups fell by a third: check the Tuesday release."
# student -> (answers, collected time written by collect or the exchange)
CLASS = {
    "alice": ({**RIGHT, "memo": MEMO}, "2025-07-01 11:00:00.000000 UTC"),  # on time
    "bob": ("blank", "2025-07-01 11:30:00.000000 UTC"),  # graded, not on the roster
    "carol": ({**RIGHT, "q3": "growth = (120 - 80) / 80"}, "2025-07-02 13:00:00.000000 UTC"),
    "dave": ({**RIGHT, "q1": "signups = 120", "memo": MEMO}, "2025-07-05 12:00:01.000000 UTC"),
    "erin": (
        {**RIGHT, "q2": "def conversion(paid, users):\n    return 1 / 0"},
        "2025-07-09 08:00:00.000000 UTC",
    ),
}
ROSTER = """id,first_name,last_name,email,lms_id,sis_user_id,sis_login_id,section
alice,Alice,Smith,alice@uni.example,1001,S-001,asmith,Section A
carol,Carol,Nguyen,carol@uni.example,1003,S-003,cnguyen,Section B
dave,Dave,Okafor,dave@uni.example,1004,S-004,dokafor,Section B
erin,Erin,Rossi,erin@uni.example,1005,S-005,erossi,Section B
yan,Yan,Li,yan@uni.example,1006,S-006,yli,Section A
"""
# total points after the policy (max 14): alice 10 + 3 hand-graded, on time; bob 0; carol 5,
# 25 h late = 2 started days = -20%; dave 8 (memo not graded yet), 4 days and 1 s = 5 days,
# capped at -30%; erin 7, after the cut-off: 0


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class collected and autograded, alice's memo graded by hand (3 of 4)."""
    root = tmp_path_factory.mktemp("lms")
    course = Course(make_course(root))
    with (course.root / "nbgrader_config.py").open("a") as f:
        f.write(POLICY)
    for student, (answers, collected) in CLASS.items():
        if student == "carol":
            continue
        folder = course.submitted_dir(student, ASSIGNMENT)
        folder.mkdir(parents=True)
        nbformat.write(student_notebook(answers), str(folder / NOTEBOOK))
        (folder / "timestamp.txt").write_text(collected)  # as collect or the exchange writes it
    # carol hands in through collect a zip that says she was on time three ways (the notebook's
    # metadata and text, a timestamp.txt of her own, the manifest's date); the upload's time
    # (the zip's modification time, as an LMS download keeps it) says 25 hours late
    nb = student_notebook(CLASS["carol"][0])
    nb.metadata["submitted_at"] = "2025-07-01 09:00:00 UTC"
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("Handed in 2025-07-01 09:00 UTC."))
    uploads = root / "uploads"
    uploads.mkdir()
    upload = uploads / f"carol--{ASSIGNMENT}.zip"
    with zipfile.ZipFile(upload, "w") as zf:
        zf.writestr(f"{ASSIGNMENT}/{NOTEBOOK}", nbformat.writes(nb))
        zf.writestr(f"{ASSIGNMENT}/timestamp.txt", "2025-07-01 09:00:00.000000 UTC")
        manifest = {"student": "carol", "assignment": ASSIGNMENT}
        zf.writestr(
            f"{ASSIGNMENT}/tpmlab-handin.json",
            json.dumps({**manifest, "handed_in_at": "2025-07-01T09:00:00+00:00"}),
        )
    when = datetime(2025, 7, 2, 13, 0, tzinfo=UTC).timestamp()
    os.utime(upload, (when, when))
    collect(course, ASSIGNMENT, uploads, None)
    # sandboxed where bubblewrap runs (CI), else unsandboxed with a warning
    results = autograde(
        course, ASSIGNMENT, workers=2, cell_timeout=5, student_timeout=90, progress=False
    )
    scores = {r.student: r.score for r in results}
    assert scores == {"alice": 10, "bob": 0, "carol": 5, "dave": 8, "erin": 7}
    with Gradebook(course.db_url, course.course_id) as gb:
        grade = gb.find_grade("memo", NOTEBOOK.removesuffix(".ipynb"), ASSIGNMENT, "alice")
        grade.manual_score = 3  # as the formgrader records a hand grade
        grade.needs_manual_grade = False
        gb.db.commit()
    roster = root / "roster.csv"
    roster.write_text(ROSTER)
    return course, roster


def _rows(path):
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.mark.slow
def test_canvas_gradebook_csv_as_canvas_reads_it(graded, capsys):
    course, roster = graded
    status = main(
        [
            "--course",
            str(course.root),
            "export",
            ASSIGNMENT,
            "--format",
            "canvas",
            "--roster",
            str(roster),
            "--lms-column",
            "Problem set 1 (48213)",
        ]
    )
    out = capsys.readouterr().out
    rows = _rows(course.root / "exports" / "ps1-canvas.csv")
    assert rows[0] == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        "Problem set 1 (48213)",
    ]
    # the Points Possible row: the assignment's maximum, autograded and hand-graded
    assert rows[1][0].strip() == "Points Possible" and rows[1][1:] == ["", "", "", "", "14"]
    by_id = {r[1]: r for r in rows[2:]}
    assert set(by_id) == {"1001", "1003", "1004", "1005", "1006"}
    assert by_id["1001"] == ["Smith, Alice", "1001", "S-001", "asmith", "Section A", "13"]
    assert {r[3]: r[5] for r in rows[2:]} == {
        "asmith": "13",
        "cnguyen": "4",
        "dokafor": "5.6",
        "erossi": "0",
        "yli": "",  # on the roster, no submission: left blank, Canvas keeps what it has
    }
    for row in rows[2:]:
        assert len(row) == 6
        float(row[5]) if row[5] else None  # every grade cell is a number or empty
    # bob was graded but is not on the roster: named, not in the file, exit status 1
    assert status == 1
    assert "Jones, Bob" not in {r[0] for r in rows}
    assert "NOT in the file, not on the roster: bob" in out
    assert "no submission, left blank: yan" in out
    assert "hand grading not finished for: dave" in out
    assert "carol: 2 days late, -20% (5 -> 4)" in out and "erin: 8 days late, -100% (7 -> 0)" in out


@pytest.mark.slow
def test_moodle_grade_import_csv_maps_users_by_email(graded):
    course, roster = graded
    done = export_lms(course, ASSIGNMENT, "moodle", read_roster(roster))
    rows = _rows(done.paths[0])
    assert done.paths[0].name == "ps1-moodle.csv"
    assert rows[0] == ["First name", "Last name", "Email address", "ps1"]
    grades = {r[2]: r[3] for r in rows[1:]}
    assert grades == {
        "alice@uni.example": "13",
        "carol@uni.example": "4",
        "dave@uni.example": "5.6",
        "erin@uni.example": "0",
        "yan@uni.example": "",
    }
    assert done.left_out == ["bob"] and done.status == 1
    assert any("map from 'Email address'" in line for line in done.lines())


@pytest.mark.slow
def test_ids_the_lms_cannot_match_are_named_not_guessed(graded, tmp_path):
    course, _ = graded
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "id,first_name,last_name,idnumber,lms_id\n"
        "alice,Alice,Smith,20251,1001\nbob,Bob,Jones,20252,\ncarol,Carol,Nguyen,20253,1003\n"
        "dave,Dave,Okafor,20254,1004\nerin,Erin,Rossi,20255,1005\n"
    )
    canvas = export_lms(course, ASSIGNMENT, "canvas", read_roster(roster))
    assert canvas.left_out == [] and len(canvas.unmatched) == 1
    assert canvas.unmatched[0].startswith("bob (the roster gives no lms_id, sis_user_id")
    ids = {r[1]: r[5] for r in _rows(canvas.paths[0])[2:]}
    assert ids == {"1001": "13", "1003": "4", "1004": "5.6", "1005": "0"}
    moodle = export_lms(course, ASSIGNMENT, "moodle", read_roster(roster))
    rows = _rows(moodle.paths[0])
    assert rows[0][2] == "ID number" and moodle.status == 0  # every student has an idnumber
    assert {r[2]: r[3] for r in rows[1:]} == {
        "20251": "13",
        "20252": "0",
        "20253": "4",
        "20254": "5.6",
        "20255": "0",
    }


@pytest.mark.slow
def test_course_csv_has_the_late_columns(graded):
    course, _ = graded
    done = export_lms(course, ASSIGNMENT, "csv")
    assert [p.name for p in done.paths] == ["ps1-grades.csv", "ps1-questions.csv"]
    with done.paths[0].open(newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    expect = {  # days late, penalty %, points before and after
        "alice": ("0", "0.0", "13.0", "13.0"),
        "bob": ("0", "0.0", "0.0", "0.0"),
        "carol": ("2", "20.0", "5.0", "4.0"),
        "dave": ("5", "30.0", "8.0", "5.6"),
        "erin": ("8", "100.0", "7.0", "0.0"),
    }
    got = {
        s: (r["days_late"], r["late_penalty_percent"], r["score"], r["final_score"])
        for s, r in rows.items()
    }
    assert got == expect
    assert rows["carol"]["deadline"] == "2025-07-01 12:00:00"  # 14:00 in Paris, in UTC
    assert rows["carol"]["submitted_at"] == "2025-07-02 13:00:00"


@pytest.mark.slow
def test_lateness_is_the_collected_time_never_the_students(graded):
    course, _ = graded
    late = lateness(course, ASSIGNMENT)
    carol = late["carol"]
    # her notebook says 09:00 on the day; collect kept it, and wrote the upload's time
    folder = course.submitted_dir("carol", ASSIGNMENT)
    nb = nbformat.read(str(folder / NOTEBOOK), as_version=4)
    assert nb.metadata["submitted_at"].startswith("2025-07-01 09:00")
    assert (folder / "timestamp.txt").read_text().startswith("2025-07-02 13:00:00")
    assert carol.submitted == datetime(2025, 7, 2, 13, 0) and carol.source == "gradebook"
    assert (carol.days_late, carol.penalty_percent, carol.apply(5.0)) == (2, 20.0, 4.0)
    # autograde wrote the configured deadline into the gradebook for the formgrader
    with Gradebook(course.db_url, course.course_id) as gb:
        assert gb.find_assignment(ASSIGNMENT).duedate == datetime(2025, 7, 1, 12, 0)


@pytest.mark.slow
def test_class_report_shows_days_late_and_penalty(graded):
    course, _ = graded
    page = render(course, ASSIGNMENT)
    late = page[page.index('<h2 id="late">') : page.index('<h2 id="flagged">')]
    assert (
        "Late policy: 10% off per day late (a started day counts), at most 30%; 0 after "
        "2025-07-08 12:00 UTC." in late
    )
    assert '<th class="num">Days late</th>' in late and '<th class="num">Penalty</th>' in late
    carol = late[late.index('<td class="">carol</td>') :].split("</tr>")[0]
    assert "2025-07-02 13:00" in carol and "2025-07-01 12:00" in carol
    assert ">2<" in carol and "-20%" in carol and "5 → 4" in carol
    dave = late[late.index('<td class="">dave</td>') :].split("</tr>")[0]
    assert ">5<" in dave and "-30%" in dave and "8 → 5.6" in dave
    erin = late[late.index('<td class="">erin</td>') :].split("</tr>")[0]
    assert "0 (after the cut-off)" in erin and "7 → 0" in erin
    assert "alice</td>" not in late and "bob</td>" not in late  # on time
    students = page[page.index('<h2 id="students">') :]
    assert "Late (penalty)" in students and "-20%" in students


# ---- the policy itself (no grading) ----------------------------------------------------------
def _policy(**settings) -> LatePolicy:
    return LatePolicy(**settings)


DUE = datetime(2025, 7, 1, 12, 0)


@pytest.mark.parametrize(
    ("late_by", "days", "percent"),
    [
        (timedelta(0), 0, 0.0),  # at the deadline: on time
        (timedelta(seconds=-1), 0, 0.0),
        (timedelta(seconds=1), 1, 10.0),  # a started day counts whole
        (timedelta(hours=24), 1, 10.0),
        (timedelta(hours=24, seconds=1), 2, 20.0),
        (timedelta(days=3, hours=1), 4, 30.0),  # capped
        (timedelta(days=30), 30, 30.0),
    ],
)
def test_penalty_per_started_day_capped(late_by, days, percent):
    got = judge(_policy(penalty_per_day=10, max_penalty=30), "A", "s", DUE + late_by, DUE)
    assert (got.days_late, got.penalty_percent, got.zeroed) == (days, percent, False)
    assert got.apply(8.0) == round(8.0 * (1 - percent / 100), 2)


def test_zero_after_a_date_and_an_extension_moves_both():
    policy = _policy(penalty_per_day=5, zero_after={"A": "2025-07-03 12:00:00 UTC"})
    before = judge(policy, "A", "s", datetime(2025, 7, 3, 11, 59), DUE)
    assert (before.days_late, before.penalty_percent, before.apply(10)) == (2, 10.0, 9.0)
    after = judge(policy, "A", "s", datetime(2025, 7, 3, 12, 1), DUE)
    assert after.zeroed and after.apply(10) == 0.0
    extended = judge(policy, "A", "s", datetime(2025, 7, 3, 12, 1), DUE, extension=timedelta(3))
    assert (extended.days_late, extended.zeroed) == (0, False)
    none = judge(policy, "A", "s", None, DUE)  # no collected time: nothing to measure
    assert (none.days_late, none.zeroed) == (0, False)


def test_dates_and_percentages_are_checked_with_what_to_do(tmp_path):
    assert parse_date("2025-01-15 12:00:00 Europe/London", "d") == datetime(2025, 1, 15, 12, 0)
    with pytest.raises(TPMLabError, match="time zone 'Europe/Londn' does not exist"):
        parse_date("2025-01-15 12:00:00 Europe/Londn", "d")
    with pytest.raises(TPMLabError, match="(?s)not a date.*Write it as 2026-02-06"):
        parse_date("next friday-ish", "d")
    root = tmp_path / "autograder"
    root.mkdir()
    course = Course(root)
    assert load_policy(course).deadlines == {}  # no configuration: no deadlines
    config = root / "nbgrader_config.py"
    config.write_text("c = get_config()\nc.LatePolicy.penalty_per_day = 150\n")
    with pytest.raises(TPMLabError, match="(?s)penalty_per_day is 150.*between 0 and 100"):
        load_policy(course)
    config.write_text("c = get_config()\nc.LatePolicy.deadlines = {'ps1': 'soon'}\n")
    with pytest.raises(TPMLabError, match=r"deadlines\['ps1'\] is 'soon', which is not a date"):
        load_policy(course)


def test_an_unknown_format_says_which_exist(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "00-warmup", "--format", "blackboard"])
    assert exc.value.code == 2
    assert "invalid choice: 'blackboard' (choose from" in capsys.readouterr().err


@pytest.mark.slow
def test_a_missing_roster_or_a_broken_policy_stops_with_what_to_do(graded, tmp_path, capsys):
    course, _ = graded
    with pytest.raises(SystemExit, match="Cannot read the roster .*none.csv"):
        main(["--course", str(course.root), "export", ASSIGNMENT, "--roster", "none.csv"])
    config = course.root / "nbgrader_config.py"
    good = config.read_text()
    try:
        config.write_text(good + "c.LatePolicy.zero_after = {'ps1': '2025-13-45'}\n")
        with pytest.raises(SystemExit) as exc:
            main(["--course", str(course.root), "export", ASSIGNMENT, "--format", "canvas"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "zero_after['ps1'] is '2025-13-45', which is not a date" in err, err
    finally:
        config.write_text(good)
