"""The course gradebook, written one student at a time: grades, comments and kept hand grades.

:func:`record_grades` is the only writer of the course gradebook during autograding
(:mod:`tpmlab.grading.autograde` calls it from its coordinating process): it replaces one
student's submission by the grades of the worker's private gradebook (or 0 on every item when
grading failed), in one transaction, and keeps a person's hand grade of an answer that did not
change since it was graded (:func:`hand_graded_answers` reads those answers).

A run records many students through one :class:`CourseGradebook`: the course gradebook is opened
once (one engine and session, so SQLAlchemy compiles each statement once per run instead of once
per student) and the assignment's notebooks and cells are read once. Opening nbgrader's
``Gradebook`` per student (it inspects the schema and runs ``create_all`` each time), compiling
every statement again and loading each cell's relationships lazily took most of the
coordinator's time per student (profiled with ``bench/bench_cluster.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from nbgrader.api import (
    Comment,
    Grade,
    Gradebook,
    Student,
    SubmittedAssignment,
    SubmittedNotebook,
)
from sqlalchemy import Boolean, DateTime, Float, String, column, create_engine, text
from sqlalchemy.orm import selectinload
from sqlalchemy.pool import NullPool

from tpmlab.grading.coursedir import Course
from tpmlab.grading.ipynb import TEXT_STUB, read
from tpmlab.grading.markscheme import is_hand_graded


@dataclass
class Recorded:
    """What :func:`record_grades` wrote: the autograded score and maximum, and the hand-graded items
    whose grades were kept or cleared."""

    score: float
    max_score: float
    hand_max_score: float = 0.0
    hand_kept: list[str] = field(default_factory=list)
    manual_redo: list[str] = field(default_factory=list)


class PrivateGrades(NamedTuple):
    """What :func:`private_grades` reads from a worker's private gradebook of one student (a
    cluster worker reads it there and sends this instead of the whole database)."""

    grades: dict  # (notebook, grade id) -> (auto score, needs a hand grade)
    comments: dict  # (notebook, cell) -> automatic comment
    graded_at: datetime | None


@dataclass(frozen=True)
class _Cell:
    id: str
    name: str
    autograded: bool  # a code test cell (a graded solution cell is a written answer)
    max_score: float


@dataclass(frozen=True)
class _Notebook:
    id: str
    name: str
    grade_cells: tuple[_Cell, ...]
    comment_cells: tuple[tuple[str, str], ...]  # (id, name) of the solution and task cells
    task_cells: tuple[str, ...]  # ids of the task cells (one hand grade each)


class CourseGradebook:
    """The course gradebook, open for a whole run of one assignment: what
    :func:`record_grades` writes through (pass it as ``book``). Used from one thread."""

    def __init__(self, course: Course, assignment: str):
        self.course = course
        self.assignment = assignment
        self.gb = Gradebook(course.db_url, course.course_id)
        try:
            found = self.gb.find_assignment(assignment)
            self.assignment_id = found.id
            notebooks = []
            for nb in found.notebooks:
                solutions = {c.name for c in nb.solution_cells}
                notebooks.append(
                    _Notebook(
                        nb.id,
                        nb.name,
                        tuple(
                            _Cell(
                                c.id,
                                c.name,
                                c.cell_type == "code" and c.name not in solutions,
                                c.max_score,
                            )
                            for c in nb.grade_cells
                        ),
                        tuple((c.id, c.name) for c in [*nb.solution_cells, *nb.task_cells]),
                        tuple(c.id for c in nb.task_cells),
                    )
                )
            self.notebooks = tuple(notebooks)
            self.gb.db.commit()  # ends the reading transaction: nothing stays locked between
        except Exception:
            self.gb.close()
            raise
        self.cell_names = {c.id: c.name for nb in self.notebooks for c in nb.grade_cells}
        self.cell_names.update(
            {cell_id: name for nb in self.notebooks for cell_id, name in nb.comment_cells}
        )
        self.notebook_names = {nb.id: nb.name for nb in self.notebooks}

    def close(self) -> None:
        self.gb.close()
        self.gb.engine.dispose()

    def __enter__(self) -> CourseGradebook:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record(
        self,
        student: str,
        private_db: Path | PrivateGrades | None,
        flags: list[str],
        timestamp,
        answers: dict[tuple[str, str], str],
        previous_answers: dict[tuple[str, str], str],
    ) -> Recorded:
        """:func:`record_grades` on this open gradebook."""
        private: dict[tuple[str, str], tuple] = {}
        comments: dict[tuple[str, str], str | None] = {}
        if private_db is not None:
            if not isinstance(private_db, PrivateGrades):
                private_db = private_grades(private_db, self.assignment, student)
            private, comments, graded_at = private_db
            timestamp = graded_at or timestamp
        out = Recorded(0.0, 0.0)
        db = self.gb.db
        try:
            if db.get(Student, student) is None:  # no names given: the roster's stay
                db.add(Student(id=student))
            old = (
                db.query(SubmittedAssignment)
                .options(
                    selectinload(SubmittedAssignment.notebooks).selectinload(
                        SubmittedNotebook.grades
                    ),
                    selectinload(SubmittedAssignment.notebooks).selectinload(
                        SubmittedNotebook.comments
                    ),
                )
                .filter(
                    SubmittedAssignment.assignment_id == self.assignment_id,
                    SubmittedAssignment.student_id == student,
                )
                .one_or_none()
            )
            hand_grades: dict[tuple[str, str], dict] = {}
            if old is not None:
                hand_grades = self._hand_grades(old)
                for snb in list(old.notebooks):
                    for row in list(snb.grades) + list(snb.comments):
                        db.delete(row)
                    db.delete(snb)
                db.delete(old)
                db.flush()
            submission = SubmittedAssignment(
                assignment_id=self.assignment_id, student_id=student, timestamp=timestamp
            )
            with db.no_autoflush:
                for notebook in self.notebooks:
                    snb = SubmittedNotebook(
                        notebook_id=notebook.id, assignment=submission, flagged=bool(flags)
                    )
                    kept_comments: dict[str, str] = {}
                    for cell in notebook.grade_cells:
                        where = (notebook.name, cell.name)
                        auto, needs_manual = private.get(where, (None, True))
                        manual = extra = None
                        if (
                            private_db is None
                            or where not in private
                            or (cell.autograded and auto is None)
                        ):
                            # not graded (a failure, or the notebook was missing): 0
                            auto, needs_manual = 0.0, False
                        elif not cell.autograded and _blank_answer(answers.get(where)):
                            auto, needs_manual = 0.0, False  # nothing written: nothing to read
                        old_hand = hand_grades.get(where)
                        if old_hand and not cell.autograded:
                            same = where in answers and answers[where] == previous_answers.get(
                                where
                            )
                            if same and private_db is not None:
                                manual, extra = old_hand["manual_score"], old_hand["extra_credit"]
                                needs_manual = manual is None and bool(needs_manual)
                                if old_hand["comment"]:
                                    kept_comments[cell.name] = old_hand["comment"]
                                out.hand_kept.append(cell.name)
                            else:
                                out.manual_redo.append(cell.name)
                        Grade(
                            cell_id=cell.id,
                            notebook=snb,
                            auto_score=auto,
                            manual_score=manual,
                            extra_credit=extra,
                            needs_manual_grade=bool(needs_manual),
                        )
                        if cell.autograded:
                            out.score += auto or 0.0
                            out.max_score += cell.max_score
                        else:
                            out.hand_max_score += cell.max_score
                    for cell_id, name in notebook.comment_cells:
                        Comment(
                            cell_id=cell_id,
                            notebook=snb,
                            auto_comment=comments.get((notebook.name, name)),
                            manual_comment=kept_comments.get(name),
                        )
                    for cell_id in notebook.task_cells:
                        Grade(cell_id=cell_id, notebook=snb, needs_manual_grade=True)
            # added last, as nbgrader's own add_submission does: the cascade then walks the
            # finished tree of notebooks, grades and comments
            db.add(submission)
            db.commit()
        except Exception:
            db.rollback()
            raise
        return out

    def _hand_grades(self, submission) -> dict[tuple[str, str], dict]:
        """(notebook, grade id) -> the hand grade (score, extra credit, comment) a person gave
        in a submission already in the gradebook, for every item a person graded or commented
        on."""
        out = {}
        for snb in submission.notebooks:
            notebook = self.notebook_names.get(snb.notebook_id)
            comments = {self.cell_names.get(c.cell_id): c.manual_comment for c in snb.comments}
            for grade in snb.grades:
                name = self.cell_names.get(grade.cell_id)
                if notebook is None or name is None:
                    continue  # a cell the assignment no longer has
                comment = comments.get(name)
                if grade.manual_score is not None or grade.extra_credit or comment:
                    out[(notebook, name)] = {
                        "manual_score": grade.manual_score,
                        "extra_credit": grade.extra_credit,
                        "comment": comment,
                    }
        return out


def record_grades(
    course: Course,
    assignment: str,
    student: str,
    private_db: Path | PrivateGrades | None,
    flags: list[str],
    timestamp,
    answers: dict[tuple[str, str], str] | None = None,
    previous_answers: dict[tuple[str, str], str] | None = None,
    book: CourseGradebook | None = None,
) -> Recorded:
    """Write one student's grades into the course gradebook in one transaction.

    Grades come from the worker's private gradebook (``private_db``: its path, or what
    :func:`private_grades` read from it); when grading failed (``private_db`` is None) every
    autograded item gets 0, and so does every hand-graded item (there is no readable answer for
    a person to grade; the failure and its reason are reported instead).

    ``answers`` and ``previous_answers`` hold the text of each hand-graded answer ((notebook,
    grade id) -> source) in this submission and in the one graded before. A hand grade (score,
    extra credit, comment) given to the previous submission is kept when the answer is the
    same, and cleared, to be graded again, when it changed (listed in ``manual_redo``). A
    hand-graded answer that is blank or still the "YOUR ANSWER HERE" stub scores 0 without
    waiting for a person.

    ``book``: the run's open :class:`CourseGradebook` of ``assignment`` (without one, the
    gradebook is opened and closed for this student alone).
    """
    if book is None:
        with CourseGradebook(course, assignment) as own:
            return own.record(
                student, private_db, flags, timestamp, answers or {}, previous_answers or {}
            )
    return book.record(student, private_db, flags, timestamp, answers or {}, previous_answers or {})


_SUBMISSION = text(
    "SELECT sa.id, sa.timestamp FROM submitted_assignment sa "
    "JOIN assignment a ON a.id = sa.assignment_id "
    "WHERE a.name = :assignment AND sa.student_id = :student"
).columns(id=String(), timestamp=DateTime())
_GRADES = text(
    "SELECT n.name AS notebook, c.name AS cell, g.auto_score, g.needs_manual_grade FROM grade g "
    "JOIN submitted_notebook sn ON sn.id = g.notebook_id "
    "JOIN notebook n ON n.id = sn.notebook_id JOIN base_cell c ON c.id = g.cell_id "
    "WHERE sn.assignment_id = :submission"
).columns(
    column("notebook", String),
    column("cell", String),
    column("auto_score", Float),
    column("needs_manual_grade", Boolean),
)
_COMMENTS = text(
    "SELECT n.name AS notebook, c.name AS cell, m.auto_comment FROM comment m "
    "JOIN submitted_notebook sn ON sn.id = m.notebook_id "
    "JOIN notebook n ON n.id = sn.notebook_id JOIN base_cell c ON c.id = m.cell_id "
    "WHERE sn.assignment_id = :submission"
).columns(column("notebook", String), column("cell", String), column("auto_comment", String))


def private_grades(private_db: Path, assignment: str, student: str) -> PrivateGrades:
    """A worker's private gradebook of one student: ((notebook, grade id) -> (auto score, needs
    a hand grade)), ((notebook, cell) -> automatic comment) and the submission's timestamp.
    Three plain queries (nbgrader's ``Gradebook`` would inspect and create the schema first)."""
    engine = create_engine(f"sqlite:///{private_db}", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            params = {"assignment": assignment, "student": student}
            row = conn.execute(_SUBMISSION, params).one_or_none()
            if row is None:
                raise LookupError(
                    f"the grading worker recorded no submission of {assignment} for {student}"
                )
            grades = {
                (nb, cell): (auto, needs)
                for nb, cell, auto, needs in conn.execute(_GRADES, {"submission": row.id})
            }
            comments = {
                (nb, cell): comment
                for nb, cell, comment in conn.execute(_COMMENTS, {"submission": row.id})
            }
    finally:
        engine.dispose()
    return PrivateGrades(grades, comments, row.timestamp)


def _blank_answer(text: str | None) -> bool:
    """A written answer with nothing in it: empty, or still the student version's stub."""
    return text is not None and text.strip() in ("", TEXT_STUB)


def hand_graded_answers(folder: Path) -> dict[tuple[str, str], str]:
    """(notebook name, grade id) -> the text of every hand-graded answer in the notebooks of
    ``folder`` (a submission or its autograded copy); unreadable notebooks give nothing."""
    out = {}
    for path in sorted(Path(folder).glob("*.ipynb")):
        try:
            nb = read(path)
        except Exception:  # a corrupt notebook is flagged and explained elsewhere
            continue
        for cell in nb.cells:
            if is_hand_graded(cell):
                out[(path.stem, cell.metadata["nbgrader"]["grade_id"])] = cell.source.strip()
    return out
