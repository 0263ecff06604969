"""Deadlines and the late policy: how late each submission was, and what that costs.

The course configuration, ``autograder/nbgrader_config.py``, holds them as the settings of
:class:`LatePolicy` (read with traitlets, as nbgrader reads the same file)::

    c.LatePolicy.deadlines = {"01-sql-analytics": "2026-02-06 23:59:00 Europe/London"}
    c.LatePolicy.penalty_per_day = 10      # % of the score, per day or part of a day late
    c.LatePolicy.max_penalty = 50          # % at most
    c.LatePolicy.zero_after = {"01-sql-analytics": "2026-02-13 23:59:00 Europe/London"}

An assignment without a deadline here falls back to the due date in the gradebook (``nbgrader db
assignment add NAME --duedate ...``); an nbgrader extension given to a student moves their
deadline. The penalty is applied on export (every format) and shown in the class report; the
gradebook keeps the scores before it (so a changed policy needs no regrading).

How late is measured from the time the submission was *collected*, never from anything a student
wrote: the gradebook's submission timestamp (nbgrader reads it from ``timestamp.txt`` when it
grades the submission: the one graded) or else the submission's ``timestamp.txt`` (written by
``tpmlab-grade collect`` from the LMS's upload time, or by nbgrader's exchange at submit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import dateutil.tz  # type: ignore[import-untyped]  # no stubs in the environment
from nbgrader.api import Gradebook
from nbgrader.utils import parse_utc
from traitlets import Dict, Float, Unicode
from traitlets.config import Configurable
from traitlets.config.loader import PyFileConfigLoader

from tpmlab.errors import TPMLabError
from tpmlab.grading.coursedir import Course

DAY = 86400.0
DATE_FORM = "2026-02-06 23:59:00 Europe/London (or UTC, or +0100)"


class LatePolicy(Configurable):
    """The course's deadlines and late policy (settings ``c.LatePolicy.*`` in nbgrader_config.py)."""

    deadlines = Dict(
        value_trait=Unicode(),
        help="assignment -> deadline, 'YYYY-MM-DD HH:MM:SS ZONE'; without one, the gradebook's "
        "due date counts",
    ).tag(config=True)
    penalty_per_day = Float(
        0.0, help="percent of the score taken off per day late, a started day counting whole"
    ).tag(config=True)
    max_penalty = Float(100.0, help="the most taken off for lateness, in percent").tag(config=True)
    zero_after = Dict(
        value_trait=Unicode(),
        help="assignment -> a date after which a submission scores 0",
    ).tag(config=True)


def parse_date(text: str, what: str) -> datetime:
    """A date of the course configuration as naive UTC (nbgrader's convention); a clear error
    for anything else, including a time zone name that does not exist (which nbgrader's own
    parser would silently read as UTC)."""
    parts = str(text).split(" ")
    if (
        len(parts) == 3
        and not parts[2].lstrip("+-").isdigit()
        and dateutil.tz.gettz(parts[2]) is None
    ):
        raise TPMLabError(
            f"{what} is {text!r}, whose time zone {parts[2]!r} does not exist.",
            f"Write it as {DATE_FORM}.",
        )
    try:
        return parse_utc(text)
    except (ValueError, OverflowError, TypeError):
        raise TPMLabError(
            f"{what} is {text!r}, which is not a date.", f"Write it as {DATE_FORM}."
        ) from None


def load_policy(course: Course) -> LatePolicy:
    """The late policy in the course's ``nbgrader_config.py`` (an empty one without that file),
    checked: every date parses, the percentages are between 0 and 100."""
    path = Path(course.root) / "nbgrader_config.py"
    config = None
    if path.is_file():
        try:
            config = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
        except Exception as exc:
            raise TPMLabError(
                f"Cannot read the course configuration {path}: {exc}.",
                "Fix the file (it is Python) and run the command again.",
            ) from None
    policy = LatePolicy(config=config) if config is not None else LatePolicy()
    where = f"In {path.name}, c.LatePolicy"
    for name in ("penalty_per_day", "max_penalty"):
        value = getattr(policy, name)
        if not 0 <= value <= 100:
            raise TPMLabError(
                f"{where}.{name} is {value:g}.", "Give a percentage between 0 and 100."
            )
    for name in ("deadlines", "zero_after"):
        for assignment, text in getattr(policy, name).items():
            parse_date(text, f"{where}.{name}[{assignment!r}]")
    return policy


def describe(policy: LatePolicy, assignment: str) -> str:
    """The policy for one assignment in words, for the report and the export's summary."""
    rules = []
    if policy.penalty_per_day:
        rule = f"{policy.penalty_per_day:g}% off per day late (a started day counts)"
        if policy.max_penalty < 100:
            rule += f", at most {policy.max_penalty:g}%"
        rules.append(rule)
    if assignment in policy.zero_after:
        cutoff = parse_date(policy.zero_after[assignment], "zero_after")
        rules.append(f"0 after {cutoff:%Y-%m-%d %H:%M} UTC")
    return "; ".join(rules) or "no penalty for lateness"


@dataclass
class Lateness:
    """One submission against its deadline: when it was collected (and where that time was
    read), the deadline, how late, the penalty in percent and whether it scores 0."""

    student: str
    submitted: datetime | None
    source: str
    deadline: datetime | None
    seconds_late: float
    days_late: int
    penalty_percent: float
    zeroed: bool

    def apply(self, score: float) -> float:
        """The score after the penalty (rounded to hundredths, as LMS grade cells are)."""
        if self.zeroed:
            return 0.0
        return round(score * (1 - self.penalty_percent / 100), 2)


def judge(
    policy: LatePolicy,
    assignment: str,
    student: str,
    submitted: datetime | None,
    deadline: datetime | None,
    source: str = "",
    extension: timedelta | None = None,
) -> Lateness:
    """The lateness of one submission under ``policy``."""
    if deadline is not None and extension:
        deadline = deadline + extension
    seconds = 0.0
    if submitted is not None and deadline is not None:
        seconds = max(0.0, (submitted - deadline).total_seconds())
    days = math.ceil(seconds / DAY) if seconds > 0 else 0
    percent = min(days * policy.penalty_per_day, policy.max_penalty) if days else 0.0
    zeroed = False
    if assignment in policy.zero_after and submitted is not None:
        cutoff = parse_date(policy.zero_after[assignment], "zero_after")
        if extension:
            cutoff += extension
        zeroed = submitted > cutoff
    if zeroed:
        percent = 100.0
    return Lateness(student, submitted, source, deadline, seconds, days, float(percent), zeroed)


def lateness(
    course: Course, assignment: str, policy: LatePolicy | None = None
) -> dict[str, Lateness]:
    """student -> :class:`Lateness`, for every submission of ``assignment`` in the gradebook."""
    policy = policy or load_policy(course)
    configured = policy.deadlines.get(assignment)
    deadline = parse_date(configured, "deadline") if configured else None
    out = {}
    with Gradebook(course.db_url, course.course_id) as gb:
        for sub in gb.assignment_submissions(assignment):
            submitted, source = sub.timestamp, "gradebook"
            if submitted is None:
                submitted = course.submission_timestamp(sub.student_id, assignment)
                source = "timestamp.txt" if submitted is not None else ""
            due = deadline if deadline is not None else sub.assignment.duedate
            out[sub.student_id] = judge(
                policy, assignment, sub.student_id, submitted, due, source, sub.extension
            )
    return out


def record_deadline(course: Course, assignment: str) -> None:
    """Write the configured deadline into the gradebook as the assignment's due date, so that
    nbgrader's formgrader shows the same lateness (nothing is written without one)."""
    configured = load_policy(course).deadlines.get(assignment)
    if not configured:
        return
    due = parse_date(configured, "deadline")
    with Gradebook(course.db_url, course.course_id) as gb:
        if gb.find_assignment(assignment).duedate != due:
            gb.update_or_create_assignment(assignment, duedate=due)
