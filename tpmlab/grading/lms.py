"""Grade files an LMS imports: Canvas's gradebook CSV and Moodle's CSV grade import, from the
gradebook, with the late policy applied and the course's student ids mapped to the LMS's.

``tpmlab-grade export A --format canvas|moodle|csv [--roster roster.csv] [--lms-column NAME]``:

- **canvas** (``exports/<A>-canvas.csv``): the columns of Canvas's gradebook export, which its
  import reads back: ``Student`` ("Last, First"), ``ID`` (the Canvas user id), ``SIS User ID``,
  ``SIS Login ID``, ``Section``, then one column for the assignment, ``Name (assignment id)``
  for an existing Canvas assignment (``--lms-column``) or a plain name, which Canvas creates as a
  new assignment. The second row is Canvas's ``Points Possible`` row. Canvas matches a row by
  ``ID``, else ``SIS User ID``, else ``SIS Login ID``, so a student needs one of them.
- **moodle** (``exports/<A>-moodle.csv``): Moodle's CSV grade import takes any columns and asks,
  on upload, which column identifies users ("Map from" -> "Map to": email address, ID number or
  username) and which grade item each grade column goes to. The file has ``First name``,
  ``Last name``, one identifier column (``Email address``, ``ID number`` or ``Username``, the
  first the roster has for every student) and the grade column (``--lms-column``, default the
  assignment's name).
- **csv**: the course's own grade CSVs (:func:`tpmlab.grading.report.export`), with the late
  columns.

Grades are the total points (autograded and hand-graded) after the late penalty
(:mod:`tpmlab.grading.late`). A student on the roster without a submission gets an empty cell (the
LMS leaves their grade as it is); a graded student the roster does not name, or names without an
id the LMS can match, is left out of the file and named in the summary (exit status 1).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from nbgrader.api import Gradebook

from tpmlab.errors import TPMLabError
from tpmlab.grading.collect.roster import RosterEntry
from tpmlab.grading.coursedir import Course
from tpmlab.grading.late import describe, lateness, load_policy

FORMATS = ("csv", "canvas", "moodle")
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
# Canvas writes the label with four leading spaces in its own export; its import skips the row.
CANVAS_POINTS_ROW = "    Points Possible"
# Moodle's user fields a grade import can map to, in the order tried: roster field -> header
MOODLE_IDENTIFIERS = [
    ("email", "Email address"),
    ("idnumber", "ID number"),
    ("username", "Username"),
]


@dataclass
class LmsExport:
    """What an export wrote and whom it could not place."""

    paths: list[Path]
    fmt: str
    policy: str
    left_out: list[str] = field(default_factory=list)  # graded, not on the roster
    unmatched: list[str] = field(default_factory=list)  # on the roster without an LMS id
    blank: list[str] = field(default_factory=list)  # on the roster, no submission
    waiting: list[str] = field(default_factory=list)  # hand grading not finished
    late: list[str] = field(default_factory=list)  # "carol: 2 days late, -20%"
    identifier: str = ""

    @property
    def status(self) -> int:
        return 1 if self.left_out or self.unmatched else 0

    def lines(self) -> list[str]:
        out = [str(p) for p in self.paths]
        out.append(f"late policy: {self.policy}")
        if self.late:
            out.append("late: " + "; ".join(self.late))
        if self.identifier:
            out.append(
                f"In Moodle's import, map from '{self.identifier}' to the same user field, and "
                "the grade column to the assignment's grade item."
            )
        if self.waiting:
            out.append(
                "hand grading not finished for: "
                + ", ".join(self.waiting)
                + " (their hand-graded answers count 0 here: grade them in the formgrader and "
                "export again)"
            )
        if self.blank:
            out.append("no submission, left blank: " + ", ".join(self.blank))
        if self.left_out:
            out.append(
                "NOT in the file, not on the roster: "
                + ", ".join(self.left_out)
                + ". Add them to the roster (with their LMS id) and export again."
            )
        if self.unmatched:
            out.append("NOT in the file, no id the LMS can match: " + "; ".join(self.unmatched))
        return out


def final_grades(course: Course, assignment: str) -> pd.DataFrame:
    """One row per graded student: total points and maximum (autograded and hand-graded),
    hand-graded answers still waiting, the lateness and the score after the penalty."""
    from tpmlab.grading.report import grades_table

    policy = load_policy(course)
    late = lateness(course, assignment, policy)
    table = grades_table(course, assignment)
    rows = []
    for student, rows_of in table.groupby("student"):
        score = float(rows_of["score"].sum())
        info = late.get(str(student))
        rows.append(
            {
                "student": student,
                "score": score,
                "max_score": float(rows_of["max_score"].sum()),
                "hand_waiting": int(rows_of["needs_manual_grade"].sum()),
                "deadline": info.deadline if info else None,
                "submitted_at": info.submitted if info else None,
                "submitted_from": info.source if info else "",
                "days_late": info.days_late if info else 0,
                "late_penalty_percent": info.penalty_percent if info else 0.0,
                "final_score": info.apply(score) if info else score,
            }
        )
    return pd.DataFrame(rows)


def points(value: float) -> str:
    """A grade as an LMS cell: at most two decimals, no trailing zeros (``5.6``, ``13``)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def gradebook_roster(course: Course) -> list[RosterEntry]:
    """The students the gradebook knows, with the names, emails and LMS ids collect recorded."""
    with Gradebook(course.db_url, course.course_id) as gb:
        return [
            RosterEntry(
                s.id,
                s.first_name or "",
                s.last_name or "",
                s.email or "",
                s.lms_user_id or "",
            )
            for s in gb.students
        ]


def export_lms(
    course: Course,
    assignment: str,
    fmt: str,
    roster: Iterable[RosterEntry] | None = None,
    column: str | None = None,
    out_dir: str | Path | None = None,
) -> LmsExport:
    """Write ``assignment``'s grades for ``fmt`` (canvas, moodle or csv); see the module's
    docstring. ``roster`` maps course ids to LMS ids (default: the gradebook's students)."""
    if fmt not in FORMATS:
        raise TPMLabError(
            f"There is no export format {fmt!r}.", f"Use one of: {', '.join(FORMATS)}."
        )
    out = Path(out_dir) if out_dir else course.root / "exports"
    out.mkdir(parents=True, exist_ok=True)
    grades = final_grades(course, assignment)
    policy = describe(load_policy(course), assignment)
    result = LmsExport([], fmt, policy)
    for row in grades.itertuples():
        if row.days_late or row.late_penalty_percent:
            result.late.append(
                f"{row.student}: {row.days_late} day{'s' * (row.days_late != 1)} late, "
                f"-{row.late_penalty_percent:g}% ({points(row.score)} -> {points(row.final_score)})"
            )
    result.waiting = [str(s) for s in grades.loc[grades["hand_waiting"] > 0, "student"]]
    if fmt == "csv":
        from tpmlab.grading.report import export

        result.paths = export(course, assignment, out)
        return result
    entries = list(roster) if roster is not None else gradebook_roster(course)
    by_id = {e.id: e for e in entries}
    graded = {str(r.student): r for r in grades.itertuples()}
    result.left_out = sorted(s for s in graded if s not in by_id)
    result.blank = sorted(e.id for e in entries if e.id not in graded)
    max_points = float(grades["max_score"].max()) if len(grades) else 0.0
    name = column or assignment
    path = out / f"{assignment}-{fmt}.csv"
    if fmt == "canvas":
        header = [*CANVAS_COLUMNS, name]
        rows = [[CANVAS_POINTS_ROW, "", "", "", "", points(max_points)]]
        for entry in entries:
            if not (entry.lms_id or entry.sis_user_id or entry.sis_login_id):
                if entry.id in graded:
                    result.unmatched.append(
                        f"{entry.id} (the roster gives no lms_id, sis_user_id or sis_login_id, "
                        "which Canvas matches students by)"
                    )
                continue
            student = ", ".join(p for p in (entry.last_name, entry.first_name) if p) or entry.id
            grade = points(graded[entry.id].final_score) if entry.id in graded else ""
            rows.append(
                [student, entry.lms_id, entry.sis_user_id, entry.sis_login_id, entry.section, grade]
            )
    else:
        field_name, label = next(
            (
                (f, lab)
                for f, lab in MOODLE_IDENTIFIERS
                if entries and all(getattr(e, f) for e in entries)
            ),
            max(MOODLE_IDENTIFIERS, key=lambda fl: sum(bool(getattr(e, fl[0])) for e in entries)),
        )
        result.identifier = label
        header = ["First name", "Last name", label, name]
        rows = []
        for entry in entries:
            ident = getattr(entry, field_name)
            if not ident:
                if entry.id in graded:
                    result.unmatched.append(
                        f"{entry.id} (the roster gives no {field_name}, the column Moodle "
                        "matches users by in this file)"
                    )
                continue
            grade = points(graded[entry.id].final_score) if entry.id in graded else ""
            rows.append([entry.first_name, entry.last_name, ident, grade])
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    result.paths = [path]
    return result
