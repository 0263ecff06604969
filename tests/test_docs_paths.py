"""Every file, folder and ``tpmlab`` name that CONTRIBUTING.md and docs/*.md mention exists.

(A path git ignores, such as ``autograder/.jupyter``, is made by a command and counts as existing.)

The authors' guide once sent readers to a test file that did not exist (``tests/test_stats.py``)
and to a course design kept outside the repository. Here every repository path in those pages
(in backticks, in prose, or as a relative link) must be in the repository, and every dotted
``tpmlab.`` name must import; placeholders such as ``course/NN-module/NN-topic.ipynb`` are skipped.
"""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest

from tpmlab.paths import REPO_ROOT

PAGES = [REPO_ROOT / "CONTRIBUTING.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
TOP = ("tpmlab", "tests", "course", "exercises", "autograder", "datasets", "docs", "bench", ".ci")
PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(map(re.escape, TOP)) + r")/[\w./<>*-]*)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
NAME = re.compile(r"`(?:python -m )?(tpmlab(?:\.\w+)+)")
PLACEHOLDER = re.compile(r"NN|<|>|\*|\.\.\.")


def mentioned_paths(text: str, page: Path) -> set[Path]:
    """The repository paths ``text`` (the content of ``page``) mentions, placeholders left out."""
    found = {REPO_ROOT / m.rstrip(".,;:") for m in PATH.findall(text) if not PLACEHOLDER.search(m)}
    for link in LINK.findall(text):
        if "://" not in link and not link.startswith("mailto:"):
            found.add((page.parent / link).resolve())
    return found


def generated(path: Path) -> bool:
    """Whether git ignores ``path``: made by a command (``make lab``, ``make instructor``), never
    committed, so a page may name it without the file being in a fresh clone."""
    for name in (str(path), f"{path}/"):  # a folder pattern ("x/") only matches with the slash
        proc = subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO_ROOT, check=False)
        if proc.returncode == 0:
            return True
    return False


def missing_names(text: str) -> list[str]:
    """Dotted ``tpmlab.`` names in backticks that are neither a module nor an attribute of one."""
    missing = []
    for name in sorted(set(NAME.findall(text))):
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
                break
            except ModuleNotFoundError:
                continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            missing.append(name)
    return missing


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_a_page_mentions_exists(page):
    missing = sorted(
        str(p.relative_to(REPO_ROOT)) if p.is_relative_to(REPO_ROOT) else str(p)
        for p in mentioned_paths(page.read_text(encoding="utf-8"), page)
        if not p.exists() and not generated(p)
    )
    assert not missing, (
        f"{page.name} mentions {missing}, which are not in the repository: fix the name, or add "
        "the file (the course design lives in docs/, not outside the repository)."
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_tpmlab_name_a_page_mentions_imports(page):
    missing = missing_names(page.read_text(encoding="utf-8"))
    assert not missing, f"{page.name} names {missing}, which tpmlab does not have: update the page."


def test_contributing_points_to_the_course_design_in_the_repository():
    text = (REPO_ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert "](docs/course-design.md)" in text
    assert (REPO_ROOT / "docs" / "course-design.md").exists()


def test_a_page_naming_a_missing_test_file_or_name_is_caught():
    page = REPO_ROOT / "CONTRIBUTING.md"
    text = (
        "Tests live in `tests/test_stats.py` and tests/test_hygiene.py; see [the design]"
        "(docs/nowhere.md), `course/NN-module/NN-topic.ipynb`, `tpmlab.checks.try_it` and "
        "`tpmlab.checks.no_such_check`."
    )
    absent = {
        p.relative_to(REPO_ROOT).as_posix() for p in mentioned_paths(text, page) if not p.exists()
    }
    assert absent == {"tests/test_stats.py", "docs/nowhere.md"}
    assert missing_names(text) == ["tpmlab.checks.no_such_check"]
