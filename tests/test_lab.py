"""`python -m tpmlab.course lab` starts a JupyterLab that serves the course home.

This is what `make lab` runs after setting up: the test starts it on a free localhost port with a
temporary token (passed through to JupyterLab), then checks over HTTP that the lab page answers,
that the course folder is listed with the course home in it, and that the default URL is the
course home.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.lab_server import running_lab
from tpmlab.paths import REPO_ROOT


def get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


@pytest.fixture
def lab_server(tmp_path: Path):
    with running_lab(tmp_path) as server:
        yield server


def test_lab_serves_the_course_home(lab_server):
    base, token, log = lab_server
    status, page = get(f"{base}/lab?token={token}")
    assert status == 200, page[:500]
    assert "JupyterLab" in page or "jupyter-config-data" in page

    status, body = get(f"{base}/api/contents/course?token={token}")
    assert status == 200, body[:500]
    listing = json.loads(body)
    names = {item["name"] for item in listing["content"]}
    assert "index.ipynb" in names
    assert "00-orientation" in names

    status, body = get(f"{base}/api/contents/course/index.ipynb?token={token}")
    assert status == 200
    home = json.loads(body)["content"]
    assert "TPM Skills Lab" in "".join(c["source"] for c in home["cells"])

    # The printed URL (the server root) opens the course home.
    with urllib.request.urlopen(f"{base}/?token={token}", timeout=10) as response:
        assert response.status == 200
        assert response.geturl().split("?")[0] == f"{base}/lab/tree/course/index.ipynb"
    # The learner is told what to open, and the printed link is the course home.
    printed = log.read_text()
    assert "course home" in printed
    assert f"{base}/lab/tree/course/index.ipynb?token=" in printed


def test_lab_without_the_token_refuses_access(lab_server):
    base, _token, _log = lab_server
    status, _ = get(f"{base}/api/contents/course")
    assert status == 403


def test_lab_rejects_unknown_options_for_other_commands():
    proc = subprocess.run(
        [sys.executable, "-m", "tpmlab.course", "sync-assignments", "--bogus"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "unrecognized arguments: --bogus" in proc.stderr


def _home_links() -> list[str]:
    import re

    import nbformat

    home = nbformat.read(str(REPO_ROOT / "course" / "index.ipynb"), as_version=4)
    text = "\n".join(c.source for c in home.cells if c.cell_type == "markdown")
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_every_link_on_the_course_home_leads_somewhere():
    """Relative links resolve from course/; learners' assignment copies (assignments/, made by
    `make lab` and postBuild) are checked against the student versions they are copied from."""
    broken = []
    for link in _home_links():
        if link.startswith(("http://", "https://", "#")):
            continue
        target = (REPO_ROOT / "course" / link.split("#")[0]).resolve()
        rel = target.relative_to(REPO_ROOT)
        if rel.parts[0] == "assignments":
            target = REPO_ROOT / "autograder" / "release" / Path(*rel.parts[1:])
        if not target.exists():
            broken.append(link)
    assert not broken, f"course/index.ipynb links to missing files: {broken}"


def test_the_course_home_lists_every_lesson_and_assignment():
    links = {Path(link).as_posix().removeprefix("../") for link in _home_links()}
    lessons = sorted(
        p.relative_to(REPO_ROOT / "course").as_posix()
        for p in (REPO_ROOT / "course").glob("[0-9][0-9]-*/*.ipynb")
    )
    assignments = sorted(
        "assignments/" + p.relative_to(REPO_ROOT / "autograder" / "release").as_posix()
        for p in (REPO_ROOT / "autograder" / "release").glob("*/*.ipynb")
    )
    missing = [f for f in lessons + assignments if f not in links]
    assert not missing, (
        f"course/index.ipynb (the course home) does not link to {missing}: add them to the "
        "module map so learners can find them"
    )


def test_learner_setup_for_make_lab(tmp_path):
    """`make lab` gives a local learner what Binder's postBuild gives: kernels that explain
    errors, and an exchange whose Assignments tab lists every assignment (instructor tools stay
    on: the instructor may use this environment too). Running it again changes nothing."""
    import subprocess
    import sys

    from tpmlab.course import RELEASE, learner_setup

    prefix, exchange = tmp_path / "prefix", tmp_path / "exchange"
    written = learner_setup(prefix=prefix, exchange=exchange)
    kernel_config = prefix / "etc" / "ipython" / "ipython_kernel_config.py"
    assert kernel_config in written
    assert '["tpmlab.errors"]' in kernel_config.read_text()
    released = sorted(p.name for p in RELEASE.iterdir() if p.is_dir())
    outbound = exchange / "tpm-skills-lab" / "outbound"
    assert sorted(p.name for p in outbound.iterdir()) == released
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(prefix / "etc" / "jupyter")}
    listing = subprocess.run(
        [sys.executable, "-m", "nbgrader", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    for assignment in released:
        assert f"tpm-skills-lab {assignment}" in listing.stdout + listing.stderr, listing
    files = [*written, *(p for p in outbound.rglob("*") if p.is_file())]
    before = {p: p.stat().st_mtime_ns for p in files}
    learner_setup(prefix=prefix, exchange=exchange)
    assert {p: p.stat().st_mtime_ns for p in files} == before
