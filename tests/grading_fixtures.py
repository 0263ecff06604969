"""A small course and a class of fixture submissions for the grading workflow tests.

The assignment ``ps1`` has three autograded questions (2, 3 and 5 points) and one hand-graded
memo (4 points). Each fixture student exercises one situation an instructor meets; ``EXPECTED``
holds the exact autograded score and the review flags each must get.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import nbformat

from tpmlab.authoring import answer, manual, md, notebook, save, tests
from tpmlab.grading import notebooks
from tpmlab.paths import REPO_ROOT

ASSIGNMENT = "ps1"
NOTEBOOK = "ps1.ipynb"
HIDDEN_SENTINEL = "hidden_check_sentinel_7f3a"

SOURCE = notebook(
    [
        md("# Problem set 1\nOrbit had 120 signups on Monday and 80 on Tuesday."),
        answer("q1", "### BEGIN SOLUTION\nsignups = 120 + 80\n### END SOLUTION"),
        tests(
            "q1-tests",
            2,
            "from tpmlab.checks import check_defined, check_range\n"
            "check_defined(globals(), 'signups')\n"
            "check_range(signups, 1, 10_000, 'signups', 'Add the two days.')\n"
            "### BEGIN HIDDEN TESTS\n"
            "from tpmlab.scoring import answer\n"
            f"{HIDDEN_SENTINEL} = signups\n"
            f"answer('signups', {HIDDEN_SENTINEL})\n"
            "### END HIDDEN TESTS",
        ),
        answer(
            "q2",
            "def conversion(paid, users):\n    ### BEGIN SOLUTION\n    return paid / users\n"
            "    ### END SOLUTION",
        ),
        tests(
            "q2-tests",
            3,
            "assert abs(conversion(1, 4) - 0.25) < 1e-9, 'conversion(1, 4) should be 0.25'\n"
            "### BEGIN HIDDEN TESTS\nfrom tpmlab.scoring import answer\n"
            "answer('3 of 4', conversion(3, 4))\n### END HIDDEN TESTS",
        ),
        answer("q3", "### BEGIN SOLUTION\ngrowth = (80 - 120) / 120\n### END SOLUTION"),
        tests(
            "q3-tests",
            5,
            "from tpmlab.checks import check_number\n"
            "check_number(growth, -1/3, 'growth', rel=1e-6, hint='(new - old) / old')\n"
            "### BEGIN HIDDEN TESTS\nfrom tpmlab.scoring import answer\n"
            "answer('growth', growth, rel=1e-6)\n### END HIDDEN TESTS",
        ),
        md("**Memo (4 points).** Write one sentence for the CEO."),
        manual("memo", 4, "Full marks: states the drop and a next step."),
    ]
)

RIGHT = {
    "q1": "signups = 120 + 80",
    "q2": "def conversion(paid, users):\n    return paid / users",
    "q3": "growth = (80 - 120) / 120",
}

LEAK = (
    "def _leak(lines):\n"
    "    if any('HIDDEN' in line for line in lines):\n"
    "        print(''.join(lines))\n"
    "    return lines\n"
    "get_ipython().input_transformers_post.append(_leak)"
)

# student -> (answers or a special kind, expected autograded score, expected flag substrings)
CLASS = {
    "alice": ({**RIGHT, "memo": "Signups fell by a third: check the Tuesday release."}, 10, []),
    "bob": ("blank", 0, []),
    "carol": ({**RIGHT, "q3": "growth = (120 - 80) / 80"}, 5, []),  # wrong direction
    "dave": ({**RIGHT, "q1": "signups = 120"}, 8, []),  # passes public, fails hidden
    "erin": ({**RIGHT, "q2": "def conversion(paid, users):\n    return 1 / 0"}, 7, []),
    "frank": ({**RIGHT, "q3": "while True:\n    pass"}, 5, []),  # cell timeout
    "gina": ({**RIGHT, "q2": "import sys\nsys.exit(1)"}, 7, ["suspicious code: os._exit"]),
    "henry": ("edited-tests", 10 - 2, ["edited test cell: q1-tests"]),
    "ivan": ("deleted-test", 10 - 5, ["deleted test cell: q3-tests"]),
    "judy": ("corrupt", 0, ["error", "corrupt notebook"]),
    "kim": ("missing", 0, ["missing notebook"]),
    "leo": ("extra-file", 10, ["extra file: notes.txt"]),
    "mia": ({**RIGHT, "q1": "import os\nos._exit(0)"}, 0, ["suspicious code: os._exit"]),
    "nina": ("symlink", 0, ["unsafe file"]),  # a full solution beside a link out of the folder
    "oscar": ("oversized", 0, ["oversized file"]),  # a full solution beside a 21 MiB file
    # right answers, and prints the hidden tests' code as they run (it must not reach feedback)
    "pat": ({**RIGHT, "q1": RIGHT["q1"] + "\n" + LEAK}, 10, ["input transformers"]),
}


def make_course(root: Path) -> Path:
    """A course folder like autograder/ with the ps1 source assignment; returns the course
    root (``root/autograder``)."""
    course = root / "autograder"
    course.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "autograder" / "nbgrader_config.py", course / "nbgrader_config.py")
    save(SOURCE, root / "exercises" / ASSIGNMENT / NOTEBOOK)
    return course


def student_notebook(answers: dict[str, str] | str):
    """The student version of ps1 with answer cells filled in."""
    nb = notebooks.release(SOURCE)
    if answers == "blank":
        return nb
    return notebooks.substitute(nb, answers)


def write_submissions(course: Path) -> None:
    """Write every fixture student's submission into ``course/submitted``."""
    for student, (kind, _, _) in CLASS.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text("2025-07-01 12:00:00.000000 UTC")
        path = folder / NOTEBOOK
        if isinstance(kind, dict) or kind == "blank":
            nbformat.write(student_notebook(kind), str(path))
        elif kind == "edited-tests":
            nb = student_notebook({**RIGHT, "q1": "signups = 1"})
            for cell in nb.cells:
                if cell.metadata.get("nbgrader", {}).get("grade_id") == "q1-tests":
                    cell.source = "pass  # all good"
            nbformat.write(nb, str(path))
        elif kind == "deleted-test":
            nb = student_notebook({**RIGHT, "q3": "growth = 0"})
            nb.cells = [
                c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "q3-tests"
            ]
            nbformat.write(nb, str(path))
        elif kind == "corrupt":
            path.write_text('{"cells": [ this is not json')
        elif kind == "missing":
            (folder / "notes.txt").write_text("I forgot the notebook")
        elif kind == "symlink":
            nbformat.write(student_notebook(RIGHT), str(path))
            (folder / "answers.txt").symlink_to("/etc/hostname")
        elif kind == "oversized":
            nbformat.write(student_notebook(RIGHT), str(path))
            (folder / "data.csv").write_bytes(b"0" * (21 * 1024 * 1024))
        elif kind == "extra-file":
            nbformat.write(student_notebook(RIGHT), str(path))
            (folder / "notes.txt").write_text("extra")


def handin_zip(folder: Path, student: str, answers) -> Path:
    """A zip as ``python -m tpmlab.handin`` makes it."""
    from tpmlab.handin import handin

    work = folder / f"work-{student}"
    work.mkdir(parents=True)
    nbformat.write(student_notebook(answers), str(work / NOTEBOOK))
    return handin(ASSIGNMENT, student, folder=work, out_dir=folder / "zips")


def read_manifest(zip_path: Path) -> dict:
    with zipfile.ZipFile(zip_path) as zf:
        return json.loads(zf.read(f"{ASSIGNMENT}/tpmlab-handin.json"))
