"""A throwaway git repository for lesson 7.1, driven through the git command line.

:class:`DemoRepo` makes a repository in a temporary folder and runs ``git`` in it with a fixed
author, committer, e-mail and clock (one minute per commit from a fixed start), and with the
user's own git configuration shut out, so every run of the lesson prints the same commit ids.
Nothing touches the network. :func:`run_ci` plays a CI server: it runs the repository's tests
(``python -m unittest``) on a commit and says whether the change may merge.

Lesson 7.1 also shows a percentage feature flag (:func:`flag_bucket`, :func:`flag_on`): a
user's bucket is a stable hash of the flag's name and the user's id, so raising the percentage
only ever adds users and never reshuffles them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tpmlab.errors import TPMLabError

if TYPE_CHECKING:
    import pandas as pd

AUTHOR = ("Orbit Developer", "dev@orbit.example")
REVIEWER = ("Orbit Reviewer", "review@orbit.example")
START = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)


class GitMissing(TPMLabError):
    """The ``git`` program is not installed, or too old for the lesson."""


def git_program() -> str:
    """The path of ``git``, or :class:`GitMissing` saying how to install it."""
    program = shutil.which("git")
    if program is None:
        raise GitMissing(
            "The `git` command was not found on this computer, so the lesson cannot make its "
            "practice repository.",
            "Install git (Debian/Ubuntu: `sudo apt-get install git`; macOS: `xcode-select "
            "--install` or `brew install git`; Windows: https://git-scm.com/download/win), "
            "restart the kernel and run the notebook again.",
        )
    return program


@dataclass
class CiResult:
    """What the CI run of one commit found."""

    commit: str
    passed: bool
    tests_run: int
    output: str

    def __str__(self) -> str:
        verdict = "PASSED: may merge" if self.passed else "FAILED: blocks the merge"
        return f"CI on {self.commit}: {self.tests_run} test(s), {verdict}"


class DemoRepo:
    """A git repository in a temporary folder, with a deterministic author and clock.

    ``repo.git("log", "--oneline")`` runs a git command and returns what it printed;
    ``repo.write(path, text)`` writes a file; ``repo.commit(message)`` stages everything and
    commits it one minute after the previous commit. ``repo.close()`` deletes the folder.
    """

    def __init__(self, branch: str = "main"):
        self.program = git_program()
        self._tmp = tempfile.TemporaryDirectory(prefix="orbit-git-")
        self.path = Path(self._tmp.name) / "orbit-app"
        self.path.mkdir()
        self.commits = 0
        self.git("init", "--quiet")
        self.git("symbolic-ref", "HEAD", f"refs/heads/{branch}")  # works on every git version

    def _env(self, who: tuple[str, str] = AUTHOR) -> dict[str, str]:
        when = (START + dt.timedelta(minutes=self.commits)).isoformat()
        home = str(self.path.parent)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": home,  # no ~/.gitconfig of the learner's
            "XDG_CONFIG_HOME": home,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "LC_ALL": "C",
            "GIT_AUTHOR_NAME": who[0],
            "GIT_AUTHOR_EMAIL": who[1],
            "GIT_COMMITTER_NAME": who[0],
            "GIT_COMMITTER_EMAIL": who[1],
            "GIT_AUTHOR_DATE": when,
            "GIT_COMMITTER_DATE": when,
        }
        if os.name == "nt":  # pragma: no cover - git on Windows needs its system folders
            env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "")
        return env

    def git(self, *args: str, who: tuple[str, str] = AUTHOR, check: bool = True) -> str:
        """Run ``git ARGS`` in the repository and return its output (stdout and stderr)."""
        done = subprocess.run(
            [self.program, "-c", "init.defaultBranch=main", "-c", "core.autocrlf=false", *args],
            cwd=self.path,
            env=self._env(who),
            capture_output=True,
            text=True,
        )
        output = (done.stdout + done.stderr).strip()
        if check and done.returncode != 0:
            raise TPMLabError(
                f"`git {' '.join(args)}` failed (exit code {done.returncode}): {output}",
                "Read git's message above; `repo.git('status')` shows where the repository is.",
            )
        if any(a in ("commit", "merge", "revert") for a in args[:1]):
            self.commits += 1
        return output

    def write(self, name: str, text: str) -> None:
        """Write ``text`` to the file ``name`` of the working tree."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def read(self, name: str) -> str:
        """The text of the file ``name`` in the working tree."""
        return (self.path / name).read_text(encoding="utf-8")

    def commit(self, message: str, who: tuple[str, str] = AUTHOR) -> str:
        """Stage every change and commit it; return the new commit's short id."""
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message, who=who)
        return self.head()

    def head(self, ref: str = "HEAD") -> str:
        """The short id of ``ref``."""
        return self.git("rev-parse", "--short", ref)

    def subject(self, ref: str = "HEAD") -> str:
        """The first line of the message of commit ``ref``."""
        return self.git("log", "-1", "--format=%s", ref)

    def close(self) -> None:
        """Delete the repository and its folder."""
        self._tmp.cleanup()

    def __enter__(self) -> DemoRepo:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def load(repo: DemoRepo, ref: str, name: str) -> dict:
    """Run the Python file ``name`` as it is in commit ``ref`` and return its names (what a
    server running that version would run)."""
    namespace: dict = {"__name__": f"orbit_{ref}"}
    exec(compile(repo.git("show", f"{ref}:{name}"), f"{ref}:{name}", "exec"), namespace)
    return namespace


def run_ci(repo: DemoRepo, ref: str = "HEAD") -> CiResult:
    """Check out ``ref`` in a clean copy of ``repo`` and run its tests, as a CI server would.

    The copy is a ``git worktree`` in a folder of its own, so uncommitted files of the working
    tree never make CI pass (CI sees only what was committed)."""
    commit = repo.head(ref)
    with tempfile.TemporaryDirectory(prefix="orbit-ci-") as folder:
        where = Path(folder) / "checkout"
        repo.git("worktree", "add", "--quiet", "--detach", str(where), commit)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "unittest", "discover", "-q", "-s", "."],
                cwd=where,
                capture_output=True,
                text=True,
                env={"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"},
                timeout=60,
            )
        finally:
            repo.git("worktree", "remove", "--force", str(where))
    output = (done.stdout + done.stderr).strip()
    ran = [line for line in output.splitlines() if line.startswith("Ran ")]
    tests_run = int(ran[-1].split()[1]) if ran else 0
    return CiResult(commit, done.returncode == 0 and tests_run > 0, tests_run, output)


def flag_bucket(flag: str, user_id: int) -> int:
    """The user's bucket, 0 to 99, for ``flag``: the same every time, different per flag."""
    digest = hashlib.sha256(f"{flag}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def flag_on(flag: str, user_id: int, percent: float) -> bool:
    """Whether ``flag`` is on for ``user_id`` when it is rolled out to ``percent`` % of users."""
    if not 0 <= percent <= 100:
        raise TPMLabError(
            f"A rollout percentage must be between 0 and 100, not {percent}.",
            "Pass the share of users who should get the feature, e.g. 5 for 5%.",
        )
    return flag_bucket(flag, user_id) < percent


# ---- the files of Orbit's task-card code, version by version (lesson 7.1) -----------------------

_CARD_TITLE = '''"""Orbit's task cards."""


def card_title(title, priority):
    """The title on a task card; high-priority tasks get a marker."""
    return f"{marker} {{title}}" if priority == "high" else title
'''

_ASSIGNEE_LONG = '''

def assignee_label(assignee_id):
    """Who a task card says the task is assigned to."""
    if assignee_id is None:
        return "{nobody}"
    return f"Assigned to user {{assignee_id}}"
'''

_ASSIGNEE_SHORT = '''

def assignee_label(assignee_id):
    """Who a task card says the task is assigned to, in short: @u0007."""
    return f"@u{assignee_id:04d}"
'''

_TEST_CARD_TITLE = """import unittest

from tasks import card_title


class CardTitle(unittest.TestCase):
    def test_high_priority_gets_a_marker(self):
        self.assertEqual(card_title("Fix login", "high"), "[!] Fix login")

    def test_other_priorities_do_not(self):
        self.assertEqual(card_title("Fix login", "low"), "Fix login")
"""

_TEST_ASSIGNEE_LONG = """

class AssigneeLabel(unittest.TestCase):
    def test_assigned(self):
        self.assertEqual(assignee_label(7), "Assigned to user 7")

    def test_unassigned(self):
        self.assertEqual(assignee_label(None), "Unassigned")
"""

_TEST_ASSIGNEE_SHORT = """

class AssigneeLabel(unittest.TestCase):
    def test_short_label(self):
        self.assertEqual(assignee_label(7), "@u0007")

    def test_four_digits(self):
        self.assertEqual(assignee_label(1234), "@u1234")
"""

_BOTH = "from tasks import assignee_label, card_title"

#: Every version of ``tasks.py`` and ``test_tasks.py`` the lesson commits, by name.
FILES: dict[str, str] = {
    "tasks.py: card titles": _CARD_TITLE.format(marker="[!]"),
    "test_tasks.py: card titles": _TEST_CARD_TITLE,
    "tasks.py: assignee label, first try": _CARD_TITLE.format(marker="[!]")
    + _ASSIGNEE_LONG.format(nobody="unassigned"),
    "tasks.py: assignee label": _CARD_TITLE.format(marker="[!]")
    + _ASSIGNEE_LONG.format(nobody="Unassigned"),
    "test_tasks.py: assignee label": _TEST_CARD_TITLE.replace("from tasks import card_title", _BOTH)
    + _TEST_ASSIGNEE_LONG,
    "tasks.py: (!) marker": _CARD_TITLE.format(marker="(!)")
    + _ASSIGNEE_LONG.format(nobody="Unassigned"),
    "tasks.py: short labels": _CARD_TITLE.format(marker="[!]") + _ASSIGNEE_SHORT,
    "test_tasks.py: short labels": _TEST_CARD_TITLE.replace("from tasks import card_title", _BOTH)
    + _TEST_ASSIGNEE_SHORT,
}


def canary(assignees, stable, candidate, percent: float, flag: str = "canary") -> pd.DataFrame:
    """Serve one task card per item of ``assignees`` (an assignee id, or None when the task has
    no assignee), sending ``percent`` % of them to ``candidate`` and the rest to ``stable`` (by
    the stable bucket of the card's position); count the requests and the errors (exceptions)
    of each version. Returns one row per version: requests, errors, error_rate."""
    import pandas as pd

    counts = {"stable": [0, 0], "canary": [0, 0]}
    for i, assignee in enumerate(assignees):
        version = "canary" if flag_on(flag, i, percent) else "stable"
        serve = candidate if version == "canary" else stable
        counts[version][0] += 1
        try:
            serve(assignee)
        except Exception:
            counts[version][1] += 1
    table = pd.DataFrame(counts, index=["requests", "errors"]).T
    table["error_rate"] = table["errors"] / table["requests"].where(table["requests"] > 0)
    return table


def check_rolled_back(repo: DemoRepo, bad: str = "deploy-2", good: str = "deploy-1") -> bool:
    """True if ``repo``'s HEAD undoes ``bad`` with a revert commit (its code is ``good``'s again,
    ``bad`` is still in the history, CI passes); otherwise raise AssertionError saying what is
    not so."""
    full_bad = repo.git("rev-parse", f"{bad}^{{commit}}")
    if full_bad not in repo.git("rev-list", "HEAD").split():
        raise AssertionError(
            f"{bad}'s commit is no longer in the history of HEAD: that rewrote history (as "
            "`git reset` does) instead of adding a commit that undoes it; on a shared main "
            f"everyone else's copy would disagree. Run repo.git('reset', '--hard', '{bad}') to "
            "return, then undo the change with `git revert`"
        )
    changed = repo.git("diff", "--stat", good, "HEAD")
    if changed:
        raise AssertionError(f"HEAD's files still differ from {good}'s: {changed}")
    if not repo.subject().startswith("Revert"):
        raise AssertionError("HEAD is not a revert commit: use `git revert` on the bad commit")
    ci = run_ci(repo)
    if not ci.passed:
        raise AssertionError(str(ci))
    return True
