"""Run acceptance tests (a pytest file) against a practice API server, as CI would (lesson 7.2).

:func:`run_tests` writes the test source to a temporary folder and runs pytest on it in a new
Python process, with the server's address and demo tokens in environment variables
(:data:`URL_VARIABLE`, :data:`READ_VARIABLE`, :data:`WRITE_VARIABLE`), so the tests read them
the way a real suite reads its target environment. It returns a :class:`TestRun`: one row per
test with its outcome and, for a failure, the first line of its assertion message. Nothing
leaves the machine: the server listens on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tpmlab.errors import TPMLabError

URL_VARIABLE = "ORBIT_API_URL"
READ_VARIABLE = "ORBIT_READ_TOKEN"
WRITE_VARIABLE = "ORBIT_WRITE_TOKEN"

#: The lines a test file starts with to reach the server it is run against.
PREAMBLE = f'''import os

import requests

URL = os.environ["{URL_VARIABLE}"]
READ = {{"Authorization": "Bearer " + os.environ["{READ_VARIABLE}"]}}
WRITE = {{"Authorization": "Bearer " + os.environ["{WRITE_VARIABLE}"]}}
'''


class PytestMissing(TPMLabError):
    """pytest is not installed in this Python."""


@dataclass
class TestRun:
    """The outcome of one pytest run: ``table`` (test, outcome, message) and pytest's summary."""

    __test__ = False  # not a pytest test class, whatever its name

    table: pd.DataFrame
    summary: str
    exit_code: int

    @property
    def passed(self) -> bool:
        """Whether every test passed (and there was at least one)."""
        return self.exit_code == 0 and len(self.table) > 0

    def __repr__(self) -> str:
        return f"TestRun({self.summary!r})"


def _first_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


def run_tests(source: str, server, *, timeout: float = 120) -> TestRun:
    """Run the pytest file ``source`` against ``server`` (a running practice API) in a new
    process and return what happened to each test."""
    if importlib.util.find_spec("pytest") is None:
        raise PytestMissing(
            "pytest is not installed in the Python this notebook runs on.",
            f"Install it with `{sys.executable} -m pip install pytest`, restart the kernel and "
            "run the notebook again.",
        )
    with tempfile.TemporaryDirectory(prefix="orbit-acceptance-") as folder:
        test_file = Path(folder) / "test_acceptance.py"
        test_file.write_text(source, encoding="utf-8")
        report = Path(folder) / "report.xml"
        env = dict(os.environ)
        env.update(
            {
                URL_VARIABLE: server.url,
                READ_VARIABLE: server.read_token,
                WRITE_VARIABLE: server.write_token,
                "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # only pytest itself: fast and predictable
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        try:
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "--color=no", "-p", "no:cacheprovider"]
                + ["--junitxml", str(report), "-o", "junit_family=xunit1", test_file.name],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise TPMLabError(
                f"The tests did not finish within {timeout:g} seconds.",
                "Look for a loop that never ends (following `next_cursor` without stopping at "
                "null?) or a request without a timeout.",
            ) from exc
        rows = []
        if report.exists():
            for case in ET.parse(report).getroot().iter("testcase"):
                outcome, message = "passed", ""
                for kind in ("failure", "error", "skipped"):
                    found = case.find(kind)
                    if found is not None:
                        outcome = {"failure": "failed"}.get(kind, kind)
                        message = _first_line(found.get("message") or found.text)
                rows.append((case.get("name"), outcome, message))
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else done.stderr.strip()
    if done.returncode not in (0, 1, 5):  # 5: no test collected, an empty table says so
        errors = [line for line in done.stdout.splitlines() if line.startswith("E ")]
        raise TPMLabError(
            f"pytest could not run the tests (exit code {done.returncode}): {summary}",
            "Check the test code for a syntax error or a failing import"
            + (f": {errors[-1][1:].strip()}" if errors else "."),
        )
    table = pd.DataFrame(rows, columns=["test", "outcome", "message"])
    return TestRun(table, summary, done.returncode)


def check_catches(source: str, good, bad, *, bad_is: str) -> bool:
    """True if the pytest file ``source`` passes against the server ``good`` and fails against
    the server ``bad`` (one that breaks the criterion, described by ``bad_is``); otherwise raise
    AssertionError saying which of the two is not so. This is mutation testing in miniature:
    a test that cannot fail on a broken server protects nothing."""
    on_good = run_tests(source, good)
    if on_good.table.empty:
        raise AssertionError(
            "pytest found no test: the function's name must start with `test_`"
            + (f" ({on_good.summary})" if on_good.summary else "")
        )
    if not on_good.passed:
        failed = on_good.table[on_good.table["outcome"] != "passed"].iloc[0]
        raise AssertionError(
            f"your test fails against the correct server: {failed['message'] or failed['outcome']}"
        )
    if run_tests(source, bad).passed:
        raise AssertionError(
            f"your test also passes against a server that {bad_is}: it does not check the "
            "criterion's Then"
        )
    return True
