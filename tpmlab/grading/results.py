"""One student's grading result (:class:`StudentResult`), and what an instructor sees of an
autograde run: the progress bar while it runs and the closing line (with the exit status of
``tpmlab-grade autograde``) when it ends."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field


@dataclass
class StudentResult:
    """What happened to one student's submission."""

    student: str
    status: str  # "graded", "skipped" (already graded), "failed"
    score: float = 0.0
    max_score: float = 0.0  # of the autograded items
    seconds: float = 0.0
    hand_max_score: float = 0.0  # the points a person grades, on top of max_score
    flags: list[str] = field(default_factory=list)
    reason: str = ""
    # hand-graded items whose grade and comment were kept (the answer did not change) and those
    # whose hand grading must be redone (the answer changed, so the old grade was cleared)
    hand_kept: list[str] = field(default_factory=list)
    manual_redo: list[str] = field(default_factory=list)
    # False when nothing at all was written to the gradebook for this student
    recorded: bool = True
    # for "skipped": the status of the run that graded it ("graded" or "failed")
    previous: str = ""

    @property
    def failed(self) -> bool:
        """Could not be graded: now, or in the run whose result was kept (an unchanged,
        skipped submission that failed before has still failed)."""
        return self.status == "failed" or (self.status == "skipped" and self.previous == "failed")


def summary(results: list[StudentResult]) -> tuple[str, int]:
    """The closing line of an autograde run and the exit status ``tpmlab-grade autograde``
    returns (documented in the grading guide):

    - 0: every student has a recorded result (a broken, hostile or refused submission is
      recorded as 0 with its reason and counts as failed: that is a result, not a failed run);
    - 3: some student has no recorded result at all (named, for example, with ``--student``
      but without a submission, or grading itself broke before the gradebook was written).
    """
    graded = sum(r.status == "graded" for r in results)
    unchanged = sum(r.status == "skipped" and not r.failed for r in results)
    failed = sum(r.failed and r.recorded for r in results)
    not_graded = sum(not r.recorded for r in results)
    line = (
        f"{len(results)} submissions: {graded} graded, {unchanged} unchanged, {failed} failed "
        f"(recorded as 0 with a reason), {not_graded} not graded"
    )
    redo = [r for r in results if r.manual_redo and r.status != "skipped"]
    if redo:
        line += "\nhand grading to redo (the answer changed since it was graded): " + "; ".join(
            f"{r.student} ({', '.join(r.manual_redo)})" for r in redo
        )
    return line, (3 if not_graded else 0)


class _NoBar:
    """What :func:`progress_bar` returns when there is nothing to show."""

    def update(self, n):
        pass

    def close(self):
        pass


def progress_bar(total: int, enabled: bool):
    """A progress bar of students on stderr, or one that shows nothing."""
    if not enabled or total == 0:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="student", desc="autograding", file=sys.stderr)
