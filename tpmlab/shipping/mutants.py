"""Mutation grading of acceptance tests: run a learner's tests against the correct security-lab
server and against each planted-bug version of it (:data:`tpmlab.api.lab.MUTANTS`).

A test is a pytest-style function ``test_...(base_url, token)`` that raises (``assert``) when the
API misbehaves; ``base_url`` is a fresh lab server's URL and ``token`` a valid token of a member
of workspace 1. The server is reset to its starting data before each test (tests cannot leak
data into each other, and the order does not matter). A mutant is **killed** when at least one test fails against
it; a suite that fails against the correct server kills nothing (it would fail any server).
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from tpmlab.api import lab
from tpmlab.errors import TPMLabError

FIXTURES = ("base_url", "token")

#: What each mutant does, in a learner's words (used in feedback).
DESCRIPTIONS = {
    "off_by_one_pagination": "every page after the first starts one task late, so the task at "
    "each page boundary is never listed",
    "missing_404": "GET /v1/tasks/{id} of a task that does not exist answers 200 with null",
    "duplicate_create_status": "POST /v1/tasks with a title the workspace already has answers "
    "200 with the existing task instead of 409",
    "filter_ignored": "GET /v1/tasks?status=... ignores status and lists every task",
}


class SuiteError(TPMLabError):
    """The acceptance tests cannot be run as given."""


@dataclass
class SuiteResult:
    """Which tests failed against one server, and why (first line of the error)."""

    server: str
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class MutationReport:
    tests: list[str]
    correct: SuiteResult
    mutants: dict[str, SuiteResult]

    @property
    def passes_correct(self) -> bool:
        return bool(self.tests) and self.correct.passed

    def killed(self, mutant: str) -> bool:
        return self.passes_correct and not self.mutants[mutant].passed

    def score(self) -> dict[str, bool]:
        return {m: self.killed(m) for m in self.mutants}


def collect(namespace: Mapping[str, object]) -> list[Callable]:
    """The functions named ``test_*`` in ``namespace`` (a notebook's ``globals()``), by name."""
    tests = [f for name, f in sorted(namespace.items()) if name.startswith("test_") and callable(f)]
    for f in tests:
        params = list(inspect.signature(f).parameters)
        unknown = [p for p in params if p not in FIXTURES]
        if unknown:
            raise SuiteError(
                f"{f.__name__} asks for {', '.join(unknown)}, which the grader does not provide.",
                f"Give each test only the parameters it needs among: {', '.join(FIXTURES)}.",
            )
    return tests


def _first_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{text[0] if text else type(exc).__name__} (line {where.lineno})"


def run_suite(
    tests: Iterable[Callable], *, mutant: str | None = None, seed: int = 7
) -> SuiteResult:
    """Run each test against the lab server (the correct one, or ``mutant``), reset in between."""
    result = SuiteResult(mutant or "correct")
    with lab.start_lab(mutant=mutant, seed=seed) as api:
        fixtures = {"base_url": api.url, "token": api.token(api.member(1))}
        for test in tests:
            api.reset()  # each test starts from the same data, whatever the others created
            wanted = inspect.signature(test).parameters
            try:
                test(**{k: v for k, v in fixtures.items() if k in wanted})
            except Exception as exc:  # a failing test is the point of the exercise
                result.failures[test.__name__] = _first_line(exc)
    return result


_REPORTS: dict[tuple, MutationReport] = {}


def mutation_report(tests: Iterable[Callable], *, seed: int = 7) -> MutationReport:
    """The suite against the correct server and against every mutant.

    Kept for the same function objects and seed, so the several test cells of one question
    (one per mutant) run the suite once; a redefined test is a new object and runs again.
    """
    tests = list(tests)
    key = (tuple(tests), seed)
    if key not in _REPORTS:
        correct = run_suite(tests, seed=seed)
        mutants = {m: run_suite(tests, mutant=m, seed=seed) for m in lab.MUTANTS}
        _REPORTS[key] = MutationReport([t.__name__ for t in tests], correct, mutants)
    return _REPORTS[key]
