"""The nbgrader course folder as the grading commands see it: paths, gradebook, assignments.

Wraps the few things every grading step needs: where submissions and autograded copies live,
which database holds the gradebook (``TPMLAB_GRADEBOOK_URL`` or ``--db``, SQLite by default), how
to register an assignment in it, and where review logs go.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.utils import parse_utc

from tpmlab.paths import REPO_ROOT

DEFAULT_ROOT = REPO_ROOT / "autograder"
COURSE_ID = "tpm-skills-lab"


class Course:
    """An nbgrader course directory (``autograder/`` unless told otherwise)."""

    def __init__(self, root: str | Path | None = None, db_url: str | None = None):
        self.root = Path(root or os.environ.get("TPMLAB_COURSE_ROOT", str(DEFAULT_ROOT))).resolve()
        self.course_id = COURSE_ID
        self.db_url = (
            db_url
            or os.environ.get("TPMLAB_GRADEBOOK_URL")
            or f"sqlite:///{self.root / 'gradebook.db'}"
        )
        self.source_root = (self.root / ".." / "exercises").resolve()

    # ---- paths -------------------------------------------------------------------------------
    def source_dir(self, assignment: str) -> Path:
        return self.source_root / assignment

    def submitted_dir(self, student: str, assignment: str) -> Path:
        return self.root / "submitted" / student / assignment

    def autograded_dir(self, student: str, assignment: str) -> Path:
        return self.root / "autograded" / student / assignment

    def feedback_dir(self, student: str, assignment: str) -> Path:
        return self.root / "feedback" / student / assignment

    def reports_dir(self) -> Path:
        path = self.root / "reports"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def source_notebooks(self, assignment: str) -> list[str]:
        folder = self.source_dir(assignment)
        if not folder.is_dir():
            raise SystemExit(
                f"There is no assignment called {assignment!r} in {self.source_root}. "
                f"Known: {', '.join(self.assignments()) or 'none'}."
            )
        return sorted(p.name for p in folder.glob("*.ipynb"))

    def assignments(self) -> list[str]:
        return sorted(p.name for p in self.source_root.iterdir() if any(p.glob("*.ipynb")))

    def submitted_students(self, assignment: str) -> list[str]:
        base = self.root / "submitted"
        if not base.exists():
            return []
        return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())

    def submission_timestamp(self, student: str, assignment: str) -> datetime | None:
        path = self.submitted_dir(student, assignment) / "timestamp.txt"
        try:
            return parse_utc(path.read_text().strip())
        except (OSError, ValueError):
            return None

    # ---- nbgrader ----------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        env["TPMLAB_GRADEBOOK_URL"] = self.db_url
        return env

    def nbgrader(self, *args: str, db_url: str | None = None, check: bool = True):
        """Run an nbgrader command in this course; raise with its output if it fails."""
        cmd = [sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"]
        if db_url:
            cmd.append(f"--CourseDirectory.db_url={db_url}")
        proc = subprocess.run(cmd, cwd=self.root, env=self.env(), capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise RuntimeError(f"`nbgrader {' '.join(args)}` failed:\n{proc.stdout}{proc.stderr}")
        return proc

    def source_hash(self, assignment: str) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.source_dir(assignment).rglob("*")):
            if path.is_file() and ".ipynb_checkpoints" not in path.parts:
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def ensure_assignment(self, assignment: str, db_url: str | None = None) -> None:
        """Register the assignment's notebooks and cells in a gradebook (the course's by
        default), as ``nbgrader generate_assignment`` does, without touching the release.
        Skipped when the course gradebook already holds this version of the source."""
        self.source_notebooks(assignment)
        target = db_url or self.db_url
        stamp = self.reports_dir() / f".{assignment}.registered"
        key = json.dumps([target, self.source_hash(assignment)])
        if target == self.db_url and stamp.exists() and stamp.read_text() == key:
            with Gradebook(target, self.course_id) as gb:
                if any(a.name == assignment for a in gb.assignments):
                    return
        with tempfile.TemporaryDirectory() as tmp:
            self.nbgrader(
                "generate_assignment",
                assignment,
                "--force",
                f"--CourseDirectory.release_directory={tmp}",
                db_url=target,
            )
        if target == self.db_url:
            stamp.write_text(key)

    def export_sqlite_snapshot(self, path: Path, assignment: str, students: list[str]) -> None:
        """A SQLite gradebook holding this assignment and these students: what each grading
        worker starts from. A copy of the course gradebook when that is SQLite (fast, and
        registered by :meth:`ensure_assignment`); otherwise a new one made by nbgrader."""
        url = f"sqlite:///{path}"
        main = self.db_url.removeprefix("sqlite:///")
        if self.db_url.startswith("sqlite:///") and Path(main).is_file():
            source = sqlite3.connect(main)
            target = sqlite3.connect(path)
            try:
                source.backup(target)  # a consistent copy even while others read it
            finally:
                target.close()
                source.close()
        else:
            self.ensure_assignment(assignment, db_url=url)
        with Gradebook(url, self.course_id) as gb:
            for student in students:
                gb.update_or_create_student(student)

    def write_review_log(self, assignment: str, rows: list[dict]) -> Path:
        path = self.reports_dir() / f"{assignment}-autograde.json"
        path.write_text(json.dumps(rows, indent=1, default=str))
        return path
