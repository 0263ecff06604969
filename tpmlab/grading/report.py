"""Export grades: the gradebook read as tables, and the CSV files an instructor downloads.

- ``grades_table``: one row per student and question (assignment, notebook, question, score,
  max score, needs manual grade), read from the gradebook;
- ``export``: ``<assignment>-grades.csv`` (per student: total, max, percent, flags, reason, and
  for the LMS: user id, submission id, late marker, upload and collect times; and the late
  policy's: deadline, collected time, days late, penalty and the score after it) and
  ``<assignment>-questions.csv`` (per student and question).

The HTML class report built from these is :mod:`tpmlab.grading.class_report`'s; the LMS's own
import files (Canvas, Moodle) are :mod:`tpmlab.grading.lms`'s.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from nbgrader.api import Gradebook

from tpmlab.grading.coursedir import Course


def grades_table(course: Course, assignment: str) -> pd.DataFrame:
    """Per-student, per-question scores from the gradebook."""
    rows = []
    with Gradebook(course.db_url, course.course_id) as gb:
        for sub in gb.assignment_submissions(assignment):
            for nb in sub.notebooks:
                for grade in nb.grades:
                    rows.append(
                        {
                            "student": sub.student_id,
                            "assignment": assignment,
                            "notebook": nb.name,
                            "question": grade.name,
                            "score": float(grade.score or 0.0),
                            "max_score": float(grade.max_score or 0.0),
                            "needs_manual_grade": bool(grade.needs_manual_grade),
                            "autograded": grade.cell.cell_type == "code",
                        }
                    )
    columns = [
        "student",
        "assignment",
        "notebook",
        "question",
        "title",
        "score",
        "max_score",
        "needs_manual_grade",
        "autograded",
    ]
    from tpmlab.grading.questions import natural_key, readable_id, titles

    names = titles(course, assignment)
    for row in rows:
        row["title"] = names.get(row["question"], readable_id(row["question"]))
    # q1, q2, ..., q10 (not q1, q10, q2)
    return pd.DataFrame(rows, columns=columns).sort_values(
        ["student", "question"], key=lambda s: s.map(natural_key), kind="stable"
    )


def review_log(course: Course, assignment: str) -> dict[str, dict]:
    """The last autograde run's per-student status, flags and reasons (may be empty)."""
    path = course.reports_dir() / f"{assignment}-autograde.json"
    try:
        return {row["student"]: row for row in json.loads(path.read_text())}
    except (OSError, ValueError):
        return {}


def student_totals(course: Course, assignment: str) -> pd.DataFrame:
    table = grades_table(course, assignment)
    log = review_log(course, assignment)
    totals = table.groupby("student", as_index=False).agg(
        score=("score", "sum"),
        max_score=("max_score", "sum"),
        needs_manual_grade=("needs_manual_grade", "any"),
    )
    totals["percent"] = (100 * totals["score"] / totals["max_score"]).round(1)
    totals["flags"] = totals["student"].map(lambda s: "; ".join(log.get(s, {}).get("flags", [])))
    totals["reason"] = totals["student"].map(lambda s: log.get(s, {}).get("reason", ""))
    return totals


LMS_COLUMNS = ["lms_user_id", "submission_id", "late", "uploaded_at", "collected_at"]


def lms_details(course: Course, assignment: str, students) -> pd.DataFrame:
    """Per student, what an LMS matches grades with: the LMS user id and submission id from the
    bulk-download file name, its ``_LATE`` marker, the upload time and when it was collected
    (collect's sidecar, ``submitted/<student>/<assignment>.collect.json``); the user id falls
    back to the gradebook's student record (a roster's ``lms_id``). Empty where unknown."""
    from tpmlab.grading.collect import collect_record

    known = {}
    with Gradebook(course.db_url, course.course_id) as gb:
        for student in gb.students:
            known[student.id] = student.lms_user_id or ""
    rows = []
    for student in students:
        record = collect_record(course, student, assignment)
        rows.append(
            {
                "student": student,
                "lms_user_id": str(record.get("lms_user_id") or known.get(student, "")),
                "submission_id": str(record.get("submission_id") or ""),
                "late": bool(record.get("late", False)),
                "uploaded_at": str(record.get("uploaded_at") or ""),
                "collected_at": str(record.get("collected_at") or ""),
            }
        )
    return pd.DataFrame(rows, columns=["student", *LMS_COLUMNS])


def export(course: Course, assignment: str, out_dir: str | Path | None = None) -> list[Path]:
    """Write the per-student and per-question grade CSVs; return their paths.

    The per-student CSV carries, besides the scores, flags and reason, the columns of
    :func:`lms_details` (LMS user id, submission id, late marker, upload and collect times)."""
    out = Path(out_dir) if out_dir else course.root / "exports"
    out.mkdir(parents=True, exist_ok=True)
    per_question = out / f"{assignment}-questions.csv"
    per_student = out / f"{assignment}-grades.csv"
    grades_table(course, assignment).to_csv(per_question, index=False)
    totals = student_totals(course, assignment)
    details = lms_details(course, assignment, totals["student"].tolist())
    table = totals.merge(details, on="student", how="left")
    table.merge(late_columns(course, assignment, table), on="student", how="left").to_csv(
        per_student, index=False
    )
    return [per_student, per_question]


LATE_COLUMNS = ["deadline", "submitted_at", "days_late", "late_penalty_percent", "final_score"]


def late_columns(course: Course, assignment: str, totals: pd.DataFrame) -> pd.DataFrame:
    """Per student, the deadline, when the submission was collected (UTC), days late, the
    penalty in percent and the score after it (:mod:`tpmlab.grading.late`)."""
    from tpmlab.grading.late import lateness

    late = lateness(course, assignment)
    rows = []
    for row in totals.itertuples():
        info = late.get(str(row.student))
        rows.append(
            {
                "student": row.student,
                "deadline": f"{info.deadline:%Y-%m-%d %H:%M:%S}" if info and info.deadline else "",
                "submitted_at": f"{info.submitted:%Y-%m-%d %H:%M:%S}"
                if info and info.submitted
                else "",
                "days_late": info.days_late if info else 0,
                "late_penalty_percent": info.penalty_percent if info else 0.0,
                "final_score": info.apply(float(row.score)) if info else float(row.score),
            }
        )
    return pd.DataFrame(rows, columns=["student", *LATE_COLUMNS])


def question_summary(course: Course, assignment: str) -> pd.DataFrame:
    """Per autograded question: pass rate, mean score, max; hardest first."""
    table = grades_table(course, assignment)
    auto = table[table["autograded"]]
    summary = auto.groupby("question", as_index=False).agg(
        max_score=("max_score", "max"),
        mean_score=("score", "mean"),
        pass_rate=("score", lambda s: float((s >= auto.loc[s.index, "max_score"]).mean())),
        students=("student", "nunique"),
    )
    return summary.sort_values(["pass_rate", "question"]).reset_index(drop=True)
