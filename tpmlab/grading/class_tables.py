"""The class report's numbers, read from the gradebook, the autograded notebooks and the
autograde log: per student, per question (with the commonest failure messages), hand
grading, late submissions, and progress across assignments. :mod:`tpmlab.grading.class_report`
renders them."""

from __future__ import annotations

from collections import Counter

import nbformat
import pandas as pd
from nbgrader.api import Gradebook

from tpmlab.grading.coursedir import Course
from tpmlab.grading.questions import natural_key, readable_id, titles

NOT_GRADED = {"failed", "missing"}


def graded_assignments(course: Course) -> list[str]:
    """Assignments with at least one submission in the gradebook, in the course's order."""
    with Gradebook(course.db_url, course.course_id) as gb:
        names = [a.name for a in gb.assignments if gb.assignment_submissions(a.name)]
    return sorted(names, key=natural_key)


def late_submissions(course: Course, assignment: str) -> dict[str, dict]:
    """student -> collected time, deadline, seconds and days late and the penalty in percent,
    for late submissions, under the course's late policy (:mod:`tpmlab.grading.late`)."""
    from tpmlab.grading.late import lateness

    out = {}
    for student, info in lateness(course, assignment).items():
        if info.seconds_late > 0 or info.zeroed:
            out[student] = {
                "timestamp": info.submitted,
                "duedate": info.deadline,
                "seconds": info.seconds_late,
                "days": info.days_late,
                "penalty": info.penalty_percent,
                "zeroed": info.zeroed,
            }
    return out


def variant_labels(course: Course, assignment: str):
    """student -> the variant the student was graded on (``"3 of 8"``; empty for an assignment
    without per-learner variants, :mod:`tpmlab.variants`)."""
    from tpmlab.grading.ipynb import read
    from tpmlab.variants import parse

    found = []
    for name in course.source_notebooks(assignment):
        params = parse(read(course.source_dir(assignment) / name))
        if params is not None:
            found.append(params)

    def label(student: str) -> str:
        return "; ".join(f"{p.number_of(student)} of {p.count}" for p in found)

    return label


def student_table(course: Course, assignment: str) -> pd.DataFrame:
    """One row per student: status, autograded score and maximum (the percentage divides by
    the autograded maximum only), hand-graded score, maximum and answers waiting, flags,
    reason, lateness (seconds and days late, the late policy's penalty in percent) and the
    variant graded (on an assignment with per-learner variants)."""
    from tpmlab.grading.report import grades_table, review_log

    table = grades_table(course, assignment)
    log = review_log(course, assignment)
    late = late_submissions(course, assignment)
    variant = variant_labels(course, assignment)
    rows = []
    for student, rows_of in table.groupby("student"):
        auto = rows_of[rows_of["autograded"]]
        hand = rows_of[~rows_of["autograded"]]
        entry = log.get(student, {})
        status = entry.get("status", "graded")
        if status == "skipped":
            status = "failed" if entry.get("previous") == "failed" else "graded"
        if "missing" in entry.get("flags", []):
            status = "missing"
        waiting = int(hand["needs_manual_grade"].sum())
        auto_max = float(auto["max_score"].sum())
        rows.append(
            {
                "student": student,
                "status": status,
                "auto_score": float(auto["score"].sum()),
                "auto_max": auto_max,
                "percent": round(100 * float(auto["score"].sum()) / auto_max, 1)
                if auto_max
                else None,
                "hand_score": float(hand.loc[~hand["needs_manual_grade"], "score"].sum()),
                "hand_max": float(hand["max_score"].sum()),
                "hand_waiting": waiting,
                "flags": list(entry.get("flags", [])),
                "reason": entry.get("reason", ""),
                "late_seconds": late.get(student, {}).get("seconds", 0.0),
                "late_days": late.get(student, {}).get("days", 0),
                "late_penalty": late.get(student, {}).get("penalty", 0.0),
                "variant": variant(student),
            }
        )
    # students the last run tried but could not record (no submission at all)
    for student, entry in log.items():
        if student not in set(table["student"]):
            rows.append(
                {
                    "student": student,
                    "status": "missing",
                    "auto_score": 0.0,
                    "auto_max": 0.0,
                    "percent": None,
                    "hand_score": 0.0,
                    "hand_max": 0.0,
                    "hand_waiting": 0,
                    "flags": list(entry.get("flags", [])),
                    "reason": entry.get("reason", ""),
                    "late_seconds": 0.0,
                    "late_days": 0,
                    "late_penalty": 0.0,
                    "variant": variant(student),
                }
            )
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.sort_values("student", key=lambda s: s.map(natural_key)).reset_index(
            drop=True
        )
    return frame


def _failure_messages(course: Course, assignment: str, students: list[str]) -> dict[str, Counter]:
    """grade id -> Counter of failure messages seen in the autograded test cells: the public
    checks' errors and the judge's verdicts; an error raised inside the hidden block is named
    by its type only."""
    from tpmlab.grading.feedback import failing_line
    from tpmlab.grading.ipynb import hidden_line_range, is_autograded_test
    from tpmlab.grading.judge import HIDDEN_ENAME

    out: dict[str, Counter] = {}
    for student in students:
        folder = course.autograded_dir(student, assignment)
        for path in sorted(folder.glob("*.ipynb")):
            try:
                nb = nbformat.read(str(path), as_version=4)
            except Exception:  # an unreadable copy: its student is listed as failed
                continue
            for cell in nb.cells:
                if not is_autograded_test(cell):
                    continue
                gid = cell.metadata["nbgrader"]["grade_id"]
                hidden = hidden_line_range(cell.source)
                for output in cell.get("outputs", []):
                    if output.get("output_type") != "error":
                        continue
                    ename = str(output.get("ename", "Error"))
                    evalue = str(output.get("evalue", ""))
                    line = failing_line(output.get("traceback", []))
                    if ename == HIDDEN_ENAME:
                        message = f"hidden test: {evalue}"
                    elif hidden and line is not None and hidden[0] <= line <= hidden[1]:
                        message = f"a hidden test raised {ename}"
                    else:
                        message = f"{ename}: {evalue}"
                    out.setdefault(gid, Counter())[message[:240]] += 1
                    break
    return out


def question_table(course: Course, assignment: str, graded: list[str]) -> pd.DataFrame:
    """One row per question (natural order): title, kind, points, pass rate (autograded) or
    mean score (hand-graded, over graded answers), answers graded and waiting, and the most
    common failure message with its count. Only graded submissions count."""
    from tpmlab.grading.report import grades_table

    table = grades_table(course, assignment)
    table = table[table["student"].isin(graded)]
    names = titles(course, assignment)
    failures = _failure_messages(course, assignment, graded)
    rows = []
    for gid, rows_of in table.groupby("question"):
        autograded = bool(rows_of["autograded"].iloc[0])
        max_score = float(rows_of["max_score"].max())
        done = rows_of[~rows_of["needs_manual_grade"]]
        common = failures.get(gid, Counter()).most_common(2)
        rows.append(
            {
                "question": gid,
                "title": names.get(gid, readable_id(gid)),
                "kind": "autograded" if autograded else "hand-graded",
                "max_score": max_score,
                "students": len(rows_of),
                "pass_rate": float((rows_of["score"] >= max_score).mean()) if autograded else None,
                "mean_score": float(done["score"].mean()) if len(done) else None,
                "graded": len(done),
                "waiting": int(rows_of["needs_manual_grade"].sum()),
                # the two most common messages, with how many students got each
                "failures": common,
            }
        )
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.sort_values("question", key=lambda s: s.map(natural_key)).reset_index(
            drop=True
        )
    return frame


def _hand_states(course: Course, assignment: str) -> list[dict]:
    """Every hand-graded item of every submission: "graded" (a person gave a score),
    "waiting" (for a person), or "zero" (nothing to read: a blank answer, or a submission that
    could not be graded, scored 0 without a person)."""
    rows = []
    with Gradebook(course.db_url, course.course_id) as gb:
        for sub in gb.assignment_submissions(assignment):
            for nb in sub.notebooks:
                for grade in nb.grades:
                    if grade.cell.cell_type == "code":
                        continue
                    if grade.needs_manual_grade:
                        state = "waiting"
                    elif grade.manual_score is not None:
                        state = "graded"
                    else:
                        state = "zero"
                    rows.append({"student": sub.student_id, "question": grade.name, "state": state})
    return rows


def hand_grading(course: Course, assignment: str) -> tuple[list[dict], dict[str, list[str]]]:
    """Per hand-graded question: answers graded by a person, waiting (and who waits), scored 0
    without a person; and student -> questions whose hand grade was cleared by a changed
    resubmission and is still to do."""
    from tpmlab.grading.report import review_log

    names = titles(course, assignment)
    states = _hand_states(course, assignment)
    by_question: dict[str, list[dict]] = {}
    for row in states:
        by_question.setdefault(row["question"], []).append(row)
    rows = []
    for gid in sorted(by_question, key=natural_key):
        items = by_question[gid]
        count = Counter(r["state"] for r in items)
        rows.append(
            {
                "question": gid,
                "title": names.get(gid, readable_id(gid)),
                "graded": count["graded"],
                "to_grade": count["graded"] + count["waiting"],
                "zero": count["zero"],
                "waiting": sorted(
                    (r["student"] for r in items if r["state"] == "waiting"), key=natural_key
                ),
            }
        )
    still = {(r["student"], r["question"]) for r in states if r["state"] == "waiting"}
    redo = {}
    for student, entry in review_log(course, assignment).items():
        todo = [q for q in entry.get("manual_redo", []) if (student, q) in still]
        if todo:
            redo[student] = todo
    return rows, redo


def progress_table(course: Course) -> pd.DataFrame:
    """Student x assignment: % of autograded points (None where not graded), for every
    assignment with submissions in the gradebook."""
    columns = {}
    for assignment in graded_assignments(course):
        frame = student_table(course, assignment)
        if not len(frame):
            continue
        columns[assignment] = {
            row.student: (row.percent if row.status not in NOT_GRADED else None)
            for row in frame.itertuples()
        }
    return pd.DataFrame(columns)
