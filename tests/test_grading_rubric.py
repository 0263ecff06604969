"""Rubric-graded answers: the graders' per-criterion scores (one ``criterion: score`` line each in
the formgrader's comment box) are read back from the gradebook, checked against the rubric and the
score given, and shown per criterion in the class report."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from tpmlab.grading.class_report import _rubric_section
from tpmlab.grading.demo import make_course
from tpmlab.grading.rubric import CAPSTONE, as_markdown, declared, parse_scores, rubric_results

ASSIGNMENT, NOTEBOOK = "08-capstone", "capstone"


def comment(**scores) -> str:
    return "Good memo overall.\n" + "\n".join(f"{k}: {v}" for k, v in scores.items())


FULL = dict.fromkeys(CAPSTONE.names, 4)


def test_a_comment_in_the_format_is_read_and_checked():
    ok = parse_scores(comment(**FULL), CAPSTONE, total=28)
    assert ok.ok and ok.scores == dict.fromkeys(CAPSTONE.names, 4.0)
    # case, bullets and '=' are fine; other lines are notes
    loose = "- Framing = 2\n" + "\n".join(f"{n}: 2" for n in CAPSTONE.names[1:]) + "\nnice\n"
    assert parse_scores(loose, CAPSTONE, total=14).ok
    wrong_sum = parse_scores(comment(**FULL), CAPSTONE, total=20)
    assert wrong_sum.problems == ["the criteria add up to 28, but the score given is 20"]
    missing = parse_scores(comment(framing=4, evidence=2), CAPSTONE, total=6)
    assert missing.problems[0].startswith("not scored: alternatives, impact")
    bad_level = parse_scores(comment(**{**FULL, "clarity": 3}), CAPSTONE)
    assert bad_level.problems == ["clarity: 3 is not a level of the rubric (0/2/4)"]
    twice = parse_scores(comment(**FULL) + "\nframing: 2", CAPSTONE)
    assert twice.problems == ["framing is scored twice"]
    empty = parse_scores(None, CAPSTONE, total=10)
    assert "no per-criterion scores" in empty.problems[0] and "framing: 4" in empty.problems[0]


def test_the_declaration_round_trips_and_the_table_has_every_level():
    found = declared("Mark scheme\n\n" + CAPSTONE.declaration() + "\n\nmore text")
    assert found is not None
    assert (found.names, found.levels, found.total) == (CAPSTONE.names, (0, 2, 4), 28)
    assert declared("no rubric here") is None
    table = as_markdown(CAPSTONE).splitlines()
    assert table[0] == "| criterion | 0 points | 2 points | 4 points |"
    assert len(table) == 2 + len(CAPSTONE.names)


@pytest.fixture
def graded(tmp_path, monkeypatch):
    """The capstone's course with four memos in the gradebook: two graded in the format, one
    whose comment misses criteria and does not add up, one not graded yet."""
    # a new gradebook is migrated by nbgrader's `alembic` command, from this environment
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    course = make_course(tmp_path / "course", ASSIGNMENT)
    with Gradebook(course.db_url, course.course_id) as gb:
        gb.update_or_create_assignment(ASSIGNMENT)
        gb.update_or_create_notebook(NOTEBOOK, ASSIGNMENT)
        gb.update_or_create_grade_cell(
            "memo", NOTEBOOK, ASSIGNMENT, max_score=CAPSTONE.total, cell_type="markdown"
        )
        gb.update_or_create_solution_cell("memo", NOTEBOOK, ASSIGNMENT)
        marks = {
            "alice": (26, comment(**{**FULL, "risks": 2})),
            "bob": (6, comment(framing=2, evidence=0, alternatives=0, impact=2,
                               recommendation=0, risks=0, clarity=2)),
            "carol": (12, "framing: 4\nevidence: 4"),
            "dan": (None, None),
        }  # fmt: skip
        for student, (score, text) in marks.items():
            gb.update_or_create_student(student)
            gb.add_submission(ASSIGNMENT, student)
            if score is None:
                continue
            gb.find_grade("memo", NOTEBOOK, ASSIGNMENT, student).manual_score = score
            gb.find_comment("memo", NOTEBOOK, ASSIGNMENT, student).manual_comment = text
        gb.db.commit()
    return course


@pytest.mark.slow  # a new gradebook is migrated by alembic: 10-35 s
@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's add_submission
def test_per_criterion_results_come_from_the_gradebook(graded):
    [entry] = rubric_results(graded, ASSIGNMENT)
    assert entry["question"] == "memo" and entry["rubric"].names == CAPSTONE.names
    assert sorted(entry["scores"]) == ["alice", "bob", "carol"]
    assert entry["scores"]["alice"]["risks"] == 2 and entry["scores"]["bob"]["framing"] == 2
    assert [s for s, _ in entry["problems"]] == ["carol"]
    assert "not scored: alternatives" in entry["problems"][0][1]

    html = "\n".join(_rubric_section(graded, ASSIGNMENT))
    assert "Rubric: memo" in html and "3 answers scored per criterion" in html
    # framing: alice 4, bob 2, carol 4 -> mean 3.33, levels 0/2/4 counted 0, 1, 2
    row = html[html.index('<td class="">framing</td>') :].split("</tr>")[0]
    assert row.count("<td") == 6
    assert (
        '"num">3<' in row
        and "3.33" in row
        and row.endswith('"num">0</td><td class="num">1</td><td class="num">2</td>')
    )
    # risks: alice 2, bob 0 (carol did not score it) -> scored 2, mean 1, levels 1, 1, 0
    row = html[html.index('<td class="">risks</td>') :].split("</tr>")[0]
    cells = [c.split(">")[-1] for c in row.split("</td>")[:-1]]
    assert cells == ["risks", "2", "1", "1", "1", "0"]
    assert "carol" in html and "Comments to fix" in html


def test_an_assignment_without_a_rubric_shows_nothing(tmp_path):
    course = make_course(tmp_path / "course", "06-data-pipelines")
    assert rubric_results(course, "06-data-pipelines") == []
    assert _rubric_section(course, "06-data-pipelines") == []
