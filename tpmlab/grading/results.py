"""One student's grading result (:class:`StudentResult`), and what an instructor sees of an
autograde run: its progress while it runs (students done, failed, flagged, an ETA) and the
closing line (with the exit status of ``tpmlab-grade autograde``) when it ends."""

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
    flagged = sum(bool(r.flags) and not r.failed and r.status == "graded" for r in results)
    if flagged:
        line += f"; {flagged} graded with review flags"
    redo = [r for r in results if r.manual_redo and r.status != "skipped"]
    if redo:
        line += "\nhand grading to redo (the answer changed since it was graded): " + "; ".join(
            f"{r.student} ({', '.join(r.manual_redo)})" for r in redo
        )
    return line, (3 if not_graded else 0)


class Progress:
    """Students done, failed and flagged, with an ETA, on ``stream`` (stderr) while a batch runs.

    On a terminal it is a redrawn bar (tqdm); elsewhere (a CI log, a file) it prints a plain line
    every ``every`` students (a tenth of the batch by default) or every ``seconds``, whichever
    comes first, and a last line when the batch ends."""

    def __init__(self, total: int, stream=None, every: int | None = None, seconds: float = 10.0):
        import time

        self.total, self.stream = total, stream or sys.stderr
        self.every = every or max(1, total // 10)
        self.seconds = seconds
        self.done = self.failed = self.flagged = 0
        self._clock = time.monotonic
        self.started = self._last = self._clock()
        self._printed_at = 0
        isatty = getattr(self.stream, "isatty", None)
        self._bar = None
        if isatty is not None and isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="student", desc="autograding", file=self.stream)

    def eta(self) -> str:
        if not self.done:
            return "?"
        left = (self._clock() - self.started) / self.done * (self.total - self.done)
        return _clock_text(left)

    def counts(self) -> str:
        return f"{self.done}/{self.total} done, {self.failed} failed, {self.flagged} flagged"

    def update(self, result: StudentResult | None = None) -> None:
        """One more student finished (``result``: its outcome, for the failed/flagged counts)."""
        self.done += 1
        if result is not None and result.failed:
            self.failed += 1
        elif result is not None and result.flags:
            self.flagged += 1
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.failed} failed, {self.flagged} flagged", False)
            self._bar.update(1)
            return
        now = self._clock()
        if self.done - self._printed_at >= self.every or now - self._last >= self.seconds:
            self._line(now)

    def _line(self, now: float) -> None:
        self._printed_at, self._last = self.done, now
        elapsed = _clock_text(now - self.started)
        print(
            f"autograding: {self.counts()}, {elapsed} elapsed, ETA {self.eta()}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.done != self._printed_at:
            self._line(self._clock())


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _NoBar:
    """What :func:`progress_bar` returns when there is nothing to show."""

    def update(self, result=None):
        pass

    def close(self):
        pass


def progress_bar(total: int, enabled: bool, stream=None):
    """Progress of a batch of ``total`` students on stderr (:class:`Progress`), or nothing."""
    if not enabled or total == 0:
        return _NoBar()
    return Progress(total, stream)
