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


@pytest.mark.server
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


@pytest.mark.server
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


LEARNER_OFF = {"formgrader", "create-assignment", "course-list", "assignment-list"}


def test_learner_setup_for_make_lab(tmp_path):
    """`make lab` and Binder give a learner kernels that explain errors, nbgrader's Validate
    answered by tpmlab.validate_dialog (message first), no instructor tools and no Assignments tab,
    and no exchange folder at all (nothing world-writable). Running it again changes nothing,
    and the local exchange config of earlier versions is removed."""
    from tpmlab.course import OLD_NBGRADER_CONFIG_HEADER, learner_setup

    prefix = tmp_path / "prefix"
    old = prefix / "etc" / "jupyter" / "nbgrader_config.py"
    old.parent.mkdir(parents=True)
    old.write_text(OLD_NBGRADER_CONFIG_HEADER + " side of nbgrader.\nc.Exchange.root = '/x'\n")
    home = tmp_path / "home"
    env_home = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        written = learner_setup(prefix=prefix)
    finally:
        os.environ["HOME"] = env_home or ""
    assert not old.exists(), "the old local-exchange configuration was left in place"
    assert not home.exists(), "learner-setup wrote into the learner's home (an exchange?)"
    kernel_config = prefix / "etc" / "ipython" / "ipython_kernel_config.py"
    assert kernel_config in written
    assert '["tpmlab.errors"]' in kernel_config.read_text()
    page = json.loads((prefix / "etc" / "jupyter" / "labconfig" / "page_config.json").read_text())
    disabled = {k.split(":")[1] for k, v in page["disabledExtensions"].items() if v}
    assert disabled == LEARNER_OFF
    server = json.loads(
        (prefix / "etc" / "jupyter" / "jupyter_server_config.d" / "tpmlab.json").read_text()
    )["ServerApp"]["jpserver_extensions"]
    assert server["tpmlab.validate_dialog"] is True
    assert (
        json.loads((prefix / "etc" / "jupyter" / "jupyter_server_config.json").read_text())[
            "ServerApp"
        ]["contents_manager_class"]
        == "tpmlab.lab_contents.CourseContentsManager"
    )
    assert not any(v for k, v in server.items() if k.startswith("nbgrader."))
    before = {p: p.stat().st_mtime_ns for p in written}
    learner_setup(prefix=prefix)
    assert {p: p.stat().st_mtime_ns for p in written} == before


def _disabled_plugins(page: str) -> set[str]:
    import re

    data = json.loads(
        re.search(
            r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S
        )[1]
    )
    return {name.split(":")[1] for name in data["disabledExtensions"] if "nbgrader" in name}


def _post_json(url: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


@pytest.mark.server
def test_a_learners_lab_has_validate_message_first_and_no_instructor_tools(tmp_path):
    """The learner's JupyterLab as `make lab` configures it: nbgrader's instructor tools and
    Assignments tab are not loaded, the formgrader does not answer, and Validate lists each
    failing check with its message first (the check's source comes after)."""
    import shutil

    from tpmlab.course import RELEASE, learner_setup
    from tpmlab.lab_contents import kernel_language_info

    prefix = tmp_path / "prefix"
    learner_setup(prefix=prefix)
    root = tmp_path / "learner"
    shutil.copytree(RELEASE / "00-warmup", root / "assignments" / "00-warmup")
    env = dict(
        os.environ,
        JUPYTER_CONFIG_PATH=str(prefix / "etc" / "jupyter"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "user-config"),
    )
    with running_lab(tmp_path, [f"--ServerApp.root_dir={root}"], env) as (base, token, _log):
        status, page = get(f"{base}/lab?token={token}")
        assert status == 200
        assert _disabled_plugins(page) == LEARNER_OFF
        assert get(f"{base}/formgrader?token={token}")[0] == 404
        # the notebook is handed out with the kernel's language_info, so the kernel's report on
        # start does not mark it modified (tpmlab.lab_contents); the file itself is untouched
        on_disk = (root / "assignments" / "00-warmup" / "warmup.ipynb").read_bytes()
        status, served = get(
            f"{base}/api/contents/assignments/00-warmup/warmup.ipynb?token={token}"
        )
        assert status == 200
        assert json.loads(served)["content"]["metadata"]["language_info"] == kernel_language_info()
        assert (root / "assignments" / "00-warmup" / "warmup.ipynb").read_bytes() == on_disk
        result = _post_json(
            f"{base}/assignments/validate", token, {"path": "assignments/00-warmup/warmup.ipynb"}
        )
    assert result["success"], result
    failed = result["value"]["failed"]
    assert failed, result
    first = failed[0]
    # the dialog shows `source` first: now the learner's message, not a screen of check code
    assert first["source"].startswith(("CheckFailed", "NotImplementedError")), first["source"]
    assert "What to do" in first["source"] or "not written yet" in first["source"], first
    assert "check_defined" in first["error"], "the check's code should follow, as details"
    assert first["error"].index("The check that failed") < first["error"].index("Full error")


@pytest.mark.server
def test_make_instructor_starts_the_formgrader_on_the_course(tmp_path):
    """`make instructor` (lab --instructor): JupyterLab in autograder/ with the formgrader and
    create-assignment on (and the learner's Assignments tab and course list off), the
    formgrader lists every assignment of the course, and nbgrader has an exchange to use (no
    "Unwritable directory" warning)."""
    from tpmlab.course import assignment_ids

    with running_lab(tmp_path, ["--instructor"]) as (base, token, log):
        status, page = get(f"{base}/lab?token={token}", timeout=60)
        assert status == 200
        assert _disabled_plugins(page) == {"assignment-list", "course-list"}
        # the formgrader's first answer opens the gradebook: slow on a busy machine
        status, body = get(f"{base}/formgrader/api/assignments?token={token}", timeout=120)
        assert status == 200, body[:500]
        names = {a["name"] for a in json.loads(body)}
        assert set(assignment_ids()) <= names, names
    text = log.read_text()
    assert "Formgrader" in text and "autograder/" in text
    assert "Unwritable directory" not in text, text[-2000:]


def test_a_notebook_is_handed_out_with_the_language_info_its_kernel_reports():
    """What JupyterLab compares when the kernel starts: the kernel's kernel_info_reply (a real
    kernel of this environment) against what the contents manager gave it."""
    from jupyter_client.manager import start_new_kernel

    from tpmlab.lab_contents import kernel_language_info, with_kernel_language_info

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        reply = client.kernel_info(reply=True, timeout=60)["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply["language_info"] == kernel_language_info()
    committed = {
        "metadata": {
            "kernelspec": {"language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        }
    }
    assert with_kernel_language_info(committed) is True
    assert committed["metadata"]["language_info"] == reply["language_info"]
    assert with_kernel_language_info(committed) is False  # already the kernel's
    r_notebook = {"metadata": {"kernelspec": {"language": "R"}, "language_info": {"name": "R"}}}
    assert with_kernel_language_info(r_notebook) is False
    assert r_notebook["metadata"]["language_info"] == {"name": "R"}
