"""Binder: postBuild turns a fresh clone into a ready course, and the README's badge opens it.

No conda or Docker here, so the test does what repo2docker does with the pieces that matter: a
fresh ``git clone`` of the repository (only committed files), a fresh virtual environment, then
the clone's ``postBuild`` run in it, and finally the clone's ``start``. The fresh environment gets
its third-party packages (the versions ``environment.yml``/pyproject pin, already installed in the
project's .venv) by links, offline; the course package is installed by postBuild itself from the
clone. postBuild's writes (Jupyter and IPython configuration under the environment's prefix,
the exchange, the data, assignments/) land in the fresh environment and the clone only.

Set ``TPMLAB_BINDER_WORKTREE=1`` to test uncommitted changes: the working tree's tracked and new
(not ignored) files are copied over the clone.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tpmlab.paths import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.binder]

VENV = Path(sys.prefix)
SITE = (
    Path(sys.prefix)
    / "lib"
    / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    / "site-packages"
)
# Not linked into the fresh environment: the course package must come from the clone.
OWN_PACKAGE = re.compile(r"^(tpmlab[-_.].*|__editable__.*tpmlab.*|_*editable_*_*tpmlab.*)$")


def _git(*args: str, cwd: Path = REPO_ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def fresh_clone(dest: Path) -> Path:
    if not _git("rev-parse", "--verify", "-q", "HEAD").strip():
        pytest.fail("the repository has no commit to clone")
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(dest)],
        check=True,
        capture_output=True,
    )
    if os.environ.get("TPMLAB_BINDER_WORKTREE") == "1":
        files = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
        for rel in filter(None, files):
            src = REPO_ROOT / rel
            if src.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / rel)
    return dest


def fresh_venv(dest: Path) -> Path:
    """A new virtual environment with the project's third-party packages linked in (offline)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(dest)], check=True)
    site = dest / SITE.relative_to(VENV)
    for entry in SITE.iterdir():
        if not OWN_PACKAGE.match(entry.name) and entry.name != "__pycache__":
            (site / entry.name).symlink_to(entry)
    # Data files pip puts under the prefix: configuration is copied (postBuild edits it), the
    # rest (lab assets, kernelspecs) is linked.
    shutil.copytree(VENV / "etc", dest / "etc", dirs_exist_ok=True)
    share = dest / "share" / "jupyter"
    share.mkdir(parents=True)
    for entry in (VENV / "share" / "jupyter").iterdir():
        (share / entry.name).symlink_to(entry)
    # Console scripts (jupyter, nbgrader...), pointing at the new environment's python.
    ours = f"#!{VENV / 'bin' / 'python'}"
    for script in (VENV / "bin").iterdir():
        target = dest / "bin" / script.name
        if target.exists() or not script.is_file():
            continue
        try:
            text = script.read_text()
        except UnicodeDecodeError:
            continue
        first, _, rest = text.partition("\n")
        if first.startswith(ours):
            target.write_text(f"#!{dest / 'bin' / 'python'}\n{rest}")
            target.chmod(0o755)
    return dest


def local_package_indexes() -> list[str]:
    """The package indexes on this machine's disk (``file://``) from pip's configuration: pip
    builds the course package from them offline (setuptools and wheel for the build step)."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    urls = []
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(("index-url", "extra-index-url")):
            urls += [u for u in value.strip("'\"").split() if u.startswith("file://")]
    return [u for u in urls if Path(u.removeprefix("file://")).is_dir()]


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def binder(tmp_path_factory):
    """Clone, make the environment, run postBuild; returns (clone, venv, env, postBuild output)."""
    tmp = tmp_path_factory.mktemp("binder")
    clone = fresh_clone(tmp / "clone")
    if not (clone / "postBuild").exists():
        pytest.fail(
            "postBuild is not committed: the clone has none (commit postBuild and start, or set "
            "TPMLAB_BINDER_WORKTREE=1 to test the working tree)"
        )
    indexes = local_package_indexes()
    if not indexes:
        pytest.skip(
            "no package index on this disk in pip's configuration: postBuild's `pip install -e .` "
            "would need the network to fetch its build tools (setuptools, wheel)"
        )
    venv = fresh_venv(tmp / "venv")
    home = tmp / "home"
    home.mkdir()
    keep = {"LANG", "LC_ALL", "TERM", "TMPDIR", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        HOME=str(home),
        VIRTUAL_ENV=str(venv),
        JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
        JUPYTER_DATA_DIR=str(home / ".local" / "share" / "jupyter"),
        IPYTHONDIR=str(home / ".ipython"),
        # Offline: pip may only read package indexes on this disk (for the build tools).
        PIP_INDEX_URL=indexes[0],
        PIP_EXTRA_INDEX_URL=" ".join(indexes[1:]),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    before = _tree_digest(VENV / "etc")
    proc = subprocess.run(
        ["bash", "postBuild"], cwd=clone, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"postBuild failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert _tree_digest(VENV / "etc") == before, "postBuild changed the project's own .venv"
    return clone, venv, env, proc.stdout + proc.stderr


def _run(venv_env, *cmd, cwd):
    clone, venv, env, _ = venv_env
    return subprocess.run(
        list(cmd), cwd=cwd or clone, env=env, capture_output=True, text=True, timeout=300
    )


def test_binder_files_are_where_repo2docker_reads_them():
    # A binder/ folder would make repo2docker ignore environment.yml at the root.
    assert not (REPO_ROOT / "binder").exists() and not (REPO_ROOT / ".binder").exists()
    for name in ("environment.yml", "postBuild", "start", "apt.txt"):
        assert (REPO_ROOT / name).is_file(), f"{name} is missing at the repository root"
    # the data-store lesson and assignment start a key-value server: Binder installs it
    assert "redis-server" in (REPO_ROOT / "apt.txt").read_text().split()
    for name in ("postBuild", "start"):
        assert os.access(REPO_ROOT / name, os.X_OK), f"{name} must be executable (chmod +x)"


def test_postbuild_installs_the_course_from_the_clone(binder):
    clone, venv, _, _ = binder
    proc = _run(
        binder,
        str(venv / "bin" / "python"),
        "-c",
        "import tpmlab; print(tpmlab.__file__)",
        cwd=venv,
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).is_relative_to(clone), proc.stdout


def test_postbuild_builds_the_data_and_the_learner_copies(binder):
    clone, _, _, _ = binder
    db = clone / "datasets" / "orbit.sqlite"
    assert db.is_file(), "postBuild did not build datasets/orbit.sqlite"
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM users").fetchone()[0] > 1000
        assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] > 10000
    released = sorted(p for p in (clone / "autograder" / "release").rglob("*.ipynb"))
    assert released, "the clone has no student versions in autograder/release"
    for src in released:
        copy = clone / "assignments" / src.relative_to(clone / "autograder" / "release")
        assert copy.is_file(), f"no learner copy {copy.relative_to(clone)}"
        assert filecmp.cmp(src, copy, shallow=False)
    assert (clone / "course" / "index.ipynb").is_file()


def test_postbuild_turns_off_the_instructor_tools(binder):
    """Binder's learner sees Validate and nothing else of nbgrader's: no instructor tools, no
    Assignments tab (its Submit would hand in to nobody), and no exchange folder is made."""
    clone, venv, env, _ = binder
    labext = _run(binder, str(venv / "bin" / "jupyter"), "labextension", "list", cwd=clone)
    text = labext.stdout + labext.stderr
    assert "@jupyter/nbgrader" in text, text
    disabled = set(re.findall(r"@jupyter/nbgrader:([\w-]+)", text.split("Disabled", 1)[-1]))
    assert {"formgrader", "create-assignment", "course-list", "assignment-list"} <= disabled, text
    assert "validate-assignment" not in disabled, text

    server = _run(binder, str(venv / "bin" / "jupyter"), "server", "extension", "list", cwd=clone)
    states = dict(
        re.findall(
            r"((?:nbgrader\.server_extensions|tpmlab)\.\w+)\s+(?:\x1b\[\d+m)?(enabled|disabled)",
            server.stdout + server.stderr,
        )
    )
    prefix = "nbgrader.server_extensions."
    for ext in ("formgrader", "course_list", "assignment_list", "validate_assignment"):
        assert states.get(prefix + ext) == "disabled", states
    assert states.get("tpmlab.validate_dialog") == "enabled", states
    assert not (Path(env["HOME"]) / ".tpmlab").exists(), "postBuild made an exchange folder"


def test_kernels_explain_common_errors(binder):
    clone, venv, _, _ = binder
    code = (
        "import nbformat\nfrom nbclient import NotebookClient\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("
        "'def q():\\n    raise NotImplementedError()\\nq()')])\n"
        "NotebookClient(nb, kernel_name='python3', allow_errors=True, timeout=60).execute()\n"
        "print(nb.cells[0].outputs[0]['traceback'][-1])\n"
    )
    proc = _run(binder, str(venv / "bin" / "python"), "-c", code, cwd=clone)
    assert proc.returncode == 0, proc.stderr
    assert "What to do:" in proc.stdout and "Replace that line" in proc.stdout, proc.stdout


def test_start_repairs_deleted_copies_keeps_the_learners_and_runs_the_command(binder):
    clone, _, _, _ = binder
    copies = sorted((clone / "assignments").rglob("*.ipynb"))
    deleted, edited = copies[0], copies[-1]
    deleted.unlink()
    if edited != deleted:
        edited.write_text(edited.read_text().replace("YOUR CODE HERE", "my answer"))
    proc = _run(
        binder, "bash", str(clone / "start"), "python", "-c", "print('server started')", cwd=clone
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("server started"), proc.stdout
    assert deleted.is_file(), "start did not restore the deleted assignment copy"
    if edited != deleted:
        assert "my answer" in edited.read_text(), "start overwrote the learner's work"


def test_readme_has_the_binder_badge_opening_the_course_home():
    readme = REPO_ROOT / "README.md"
    assert readme.is_file(), "README.md is missing"
    text = readme.read_text()
    match = re.search(r"\(https://mybinder\.org/v2/gh/[^)\s]+\)", text)
    assert match, "README.md has no Binder badge link (https://mybinder.org/v2/gh/...)"
    link = match.group(0)
    assert re.search(r"urlpath=(lab/tree/|lab%2Ftree%2F)course(/|%2F)index\.ipynb", link), (
        f"the Binder link must open the course home: add ?urlpath=lab/tree/course/index.ipynb ({link})"
    )
    assert "badge_logo.svg" in text
