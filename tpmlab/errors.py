"""Errors a learner or instructor can meet, each saying what went wrong and what to do next.

Every error raised on purpose by ``tpmlab`` is a :class:`TPMLabError`. Its message is written for
someone who is not (yet) a programmer: one sentence on what is wrong, one on what to do.
"""

from __future__ import annotations


class TPMLabError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem}\nWhat to do: {fix}")


class DataNotFoundError(TPMLabError):
    """The Orbit dataset has not been built (or was deleted)."""


class DatabaseURLError(TPMLabError):
    """A database URL is malformed, points to an unknown driver, or cannot be reached."""


class CheckFailed(AssertionError):
    """A public check in an exercise failed; the message explains the likely mistake.

    It is an ``AssertionError`` so that nbgrader counts the test cell as failed.
    """
