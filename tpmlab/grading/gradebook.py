"""The course gradebook, written one student at a time: grades, comments and kept hand grades.

:func:`record_grades` is the only writer of the course gradebook during autograding
(:mod:`tpmlab.grading.autograde` calls it from its coordinating process): it replaces one
student's submission by the grades of the worker's private gradebook (or 0 on every item when
grading failed), in one transaction, and keeps a person's hand grade of an answer that did not
change since it was graded (:func:`hand_graded_answers` reads those answers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Comment, Grade, Gradebook, SubmittedAssignment, SubmittedNotebook

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


def record_grades(
    course: Course,
    assignment: str,
    student: str,
    private_db: Path | None,
    flags: list[str],
    timestamp,
    answers: dict[tuple[str, str], str] | None = None,
    previous_answers: dict[tuple[str, str], str] | None = None,
) -> Recorded:
    """Write one student's grades into the course gradebook in one transaction.

    Grades come from the worker's private gradebook; when grading failed (``private_db`` is
    None) every autograded item gets 0, and so does every hand-graded item (there is no readable
    answer for a person to grade; the failure and its reason are reported instead).

    ``answers`` and ``previous_answers`` hold the text of each hand-graded answer ((notebook,
    grade id) -> source) in this submission and in the one graded before. A hand grade (score,
    extra credit, comment) given to the previous submission is kept when the answer is the
    same, and cleared, to be graded again, when it changed (listed in ``manual_redo``). A
    hand-graded answer that is blank or still the "YOUR ANSWER HERE" stub scores 0 without
    waiting for a person.
    """
    answers = answers or {}
    previous_answers = previous_answers or {}
    private: dict[tuple[str, str], tuple] = {}
    comments: dict[tuple[str, str], str | None] = {}
    if private_db is not None:
        with Gradebook(f"sqlite:///{private_db}", course.course_id) as pgb:
            sub = pgb.find_submission(assignment, student)
            timestamp = sub.timestamp or timestamp
            for nb in sub.notebooks:
                for grade in nb.grades:
                    private[(nb.name, grade.name)] = (grade.auto_score, grade.needs_manual_grade)
                for comment in nb.comments:
                    comments[(nb.name, comment.name)] = comment.auto_comment
    out = Recorded(0.0, 0.0)
    with Gradebook(course.db_url, course.course_id) as gb:
        db = gb.db
        try:
            gb.update_or_create_student(student)  # no names given: the roster's stay
            old = (
                db.query(SubmittedAssignment)
                .filter(
                    SubmittedAssignment.assignment == gb.find_assignment(assignment),
                    SubmittedAssignment.student_id == student,
                )
                .one_or_none()
            )
            hand_grades: dict[tuple[str, str], dict] = {}
            if old is not None:
                hand_grades = _hand_grades(old)
                for nb in list(old.notebooks):
                    for row in list(nb.grades) + list(nb.comments):
                        db.delete(row)
                    db.delete(nb)
                db.delete(old)
                db.flush()
            submission = SubmittedAssignment(
                assignment=gb.find_assignment(assignment),
                student=gb.find_student(student),
                timestamp=timestamp,
            )
            with db.no_autoflush:
                for notebook in submission.assignment.notebooks:
                    snb = SubmittedNotebook(notebook=notebook, assignment=submission)
                    snb.flagged = bool(flags)
                    kept_comments: dict[str, str] = {}
                    for cell in notebook.grade_cells:
                        where = (notebook.name, cell.name)
                        auto, needs_manual = private.get(where, (None, True))
                        autograded = cell.cell_type == "code" and not _is_solution(notebook, cell)
                        manual = extra = None
                        if (
                            private_db is None
                            or where not in private
                            or (autograded and auto is None)
                        ):
                            # not graded (a failure, or the notebook was missing): 0
                            auto, needs_manual = 0.0, False
                        elif not autograded and _blank_answer(answers.get(where)):
                            auto, needs_manual = 0.0, False  # nothing written: nothing to read
                        old_hand = hand_grades.get(where)
                        if old_hand and not autograded:
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
                        if autograded:
                            out.score += auto or 0.0
                            out.max_score += cell.max_score
                        else:
                            out.hand_max_score += cell.max_score
                    for cell in list(notebook.solution_cells) + list(notebook.task_cells):
                        Comment(
                            cell_id=cell.id,
                            notebook=snb,
                            auto_comment=comments.get((notebook.name, cell.name)),
                            manual_comment=kept_comments.get(cell.name),
                        )
                    for cell in notebook.task_cells:
                        Grade(cell_id=cell.id, notebook=snb, needs_manual_grade=True)
            # added last, as nbgrader's own add_submission does: the cascade then walks the
            # finished tree of notebooks, grades and comments
            db.add(submission)
            db.commit()
        except Exception:
            db.rollback()
            raise
    return out


def _hand_grades(submission) -> dict[tuple[str, str], dict]:
    """(notebook, grade id) -> the hand grade (score, extra credit, comment) a person gave in
    a submission already in the gradebook, for every item a person graded or commented on."""
    out = {}
    for nb in submission.notebooks:
        comments = {c.name: c.manual_comment for c in nb.comments}
        for grade in nb.grades:
            comment = comments.get(grade.name)
            if grade.manual_score is not None or grade.extra_credit or comment:
                out[(nb.name, grade.name)] = {
                    "manual_score": grade.manual_score,
                    "extra_credit": grade.extra_credit,
                    "comment": comment,
                }
    return out


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


def _is_solution(notebook, cell) -> bool:
    """A graded cell that is also a solution cell is graded by hand (written answers)."""
    return any(sc.name == cell.name for sc in notebook.solution_cells)
