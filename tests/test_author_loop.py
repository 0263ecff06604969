"""The author's loop (CONTRIBUTING.md): `make test-fast` leaves out what needs a service, the
pre-commit hooks run the project's own tools offline, and git shows notebook diffs cell by cell
with nbdime once `make nbdime` has named its drivers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from tests.conftest import NOTEBOOK_MARKERS, REQUIRED_BY_MARKER
from tpmlab.authoring import code, md, notebook, save
from tpmlab.hygiene import notebook_problems
from tpmlab.paths import REPO_ROOT

MAKEFILE = (REPO_ROOT / "Makefile").read_text()
VENV_BIN = Path(sys.prefix) / "bin"


def _make_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:?=\s*(.+)$", MAKEFILE, re.M)
    assert match, f"the Makefile defines no {name}"
    return match.group(1).strip()


def _recipe(target: str) -> list[str]:
    """The command lines of a Makefile target (its tab-indented lines)."""
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", MAKEFILE, re.M)
    assert match, f"the Makefile has no recipe for {target}"
    return [line[1:] for line in match.group(1).splitlines()]


# ---- make test-fast --------------------------------------------------------------------------
def test_test_fast_leaves_out_every_service_marker_and_all_of_them_are_registered():
    registered = {
        m.split(":")[0]
        for m in tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["pytest"][
            "ini_options"
        ]["markers"]
    }
    left_out = set(re.findall(r"\w+", _make_variable("FAST_MARKERS"))) - {"not", "or", "and"}
    needed = set(REQUIRED_BY_MARKER) | {"binder", "server", "slow"}
    assert needed <= left_out, f"make test-fast runs tests marked {sorted(needed - left_out)}"
    assert left_out <= registered, f"unregistered markers {sorted(left_out - registered)}"
    assert '-m "$(FAST_MARKERS)"' in "\n".join(_recipe("test-fast"))


def test_test_fast_runs_the_notebooks_changed_since_main_and_new_ones(tmp_path):
    """In a clone on a branch: an edited lesson (committed), an edited assignment (not
    committed) and a new lesson are run; the untouched ones are not; NOTEBOOKS= overrides."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--local", str(REPO_ROOT), str(clone)], check=True)
    (clone / "Makefile").write_text(MAKEFILE)  # the Makefile under test, committed or not
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "checkout", "-q", "-B", "main"], check=True)
    subprocess.run([*git, "checkout", "-q", "-b", "lesson-work"], check=True)
    lesson = sorted((clone / "course").glob("01-*/02-*.ipynb"))[0]
    lesson.write_text(lesson.read_text() + "\n")
    subprocess.run([*git, "commit", "-qam", "edit a lesson"], check=True)
    exercise = sorted((clone / "exercises").glob("*/*.ipynb"))[0]
    exercise.write_text(exercise.read_text() + "\n")
    new = clone / "course" / "00-orientation" / "99-new.ipynb"
    new.write_text("{}")

    def dry_run(*args):
        out = subprocess.run(
            ["make", "-n", "-s", "test-fast", "BIN=.venv/bin", "STAMP=", "DATA=", *args],
            cwd=clone,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return next(line for line in out.splitlines() if '-m "' in line)

    line = dry_run()
    rel = [p.relative_to(clone).as_posix() for p in (lesson, exercise, new)]
    assert all(r in line.split() for r in rel), line
    others = [
        p.relative_to(clone).as_posix()
        for p in sorted((clone / "course").rglob("*.ipynb"))
        if p not in (lesson, new)
    ]
    assert not any(o in line.split() for o in others), line
    assert "course exercises" in dry_run("NOTEBOOKS=course exercises")


def test_test_and_test_fast_type_check_and_list_the_slowest_tests():
    pytest_cmd = _make_variable("PYTEST")
    assert "--durations=" in pytest_cmd and "-n $(WORKERS)" in pytest_cmd
    for target in ("test", "test-fast"):
        prerequisites = re.search(rf"^{target}: (\$\(STAMP\).*)$", MAKEFILE, re.M).group(1)
        assert "typecheck" in prerequisites.split() and "lint" in prerequisites.split(), target
        assert _recipe(target)[-1].startswith("$(PYTEST) "), target
    # whole folders, so a module added to (or split out into) tpmlab/grading is checked too
    assert _make_variable("TYPED").split() == ["tpmlab/grading", "tpmlab/scoring.py"]


def _starts_a_kv_server(path: Path) -> bool:
    nb = nbformat.read(str(path), as_version=4)
    return any("start_kv" in c.source for c in nb.cells if c.cell_type == "code")


def test_every_notebook_that_starts_a_key_value_server_is_marked_kv():
    notebooks = sorted(REPO_ROOT.glob("course/**/*.ipynb")) + sorted(
        REPO_ROOT.glob("exercises/**/*.ipynb")
    )
    starting = {p.relative_to(REPO_ROOT).as_posix() for p in notebooks if _starts_a_kv_server(p)}
    assert starting, "no notebook starts a key-value server: is the check still looking right?"
    marked = {path for path, markers in NOTEBOOK_MARKERS.items() if "kv" in markers}
    assert starting <= marked, f"not marked kv in tests/conftest.py: {sorted(starting - marked)}"
    assert all((REPO_ROOT / path).exists() for path in NOTEBOOK_MARKERS), "a marked path is gone"


# ---- pre-commit ------------------------------------------------------------------------------
CONFIG = REPO_ROOT / ".pre-commit-config.yaml"


def _hooks() -> dict[str, dict]:
    config = yaml.safe_load(CONFIG.read_text())
    return {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}


def test_pre_commit_config_is_valid_and_needs_no_network():
    result = subprocess.run(
        [str(VENV_BIN / "pre-commit"), "validate-config", str(CONFIG)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(CONFIG.read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"], "a hook would be cloned"
    hooks = _hooks()
    assert {"ruff-check", "ruff-format", "notebook-clean", "notebook-hygiene"} <= set(hooks)
    assert {hook["language"] for hook in hooks.values()} == {"system"}


@pytest.fixture
def venv_tools():
    if not (REPO_ROOT / ".venv" / "bin").is_dir():
        pytest.skip("the hooks run the tools of .venv in the repository; `make venv` makes it")


def test_every_hook_runs_a_program_or_module_that_exists(venv_tools):
    import importlib.util

    for hook_id, hook in _hooks().items():
        argv = hook["entry"].split()
        program = REPO_ROOT / argv[0]
        assert program.is_file(), f"{hook_id}: {argv[0]} does not exist"
        if argv[1:2] == ["-m"]:
            spec = importlib.util.find_spec(argv[2])
            assert spec and spec.origin, f"{hook_id}: no module {argv[2]}"
            assert 'if __name__ == "__main__":' in Path(spec.origin).read_text(), hook_id


def _dirty_notebook(path: Path) -> Path:
    nb = notebook([md("# A lesson"), code("x = 1\nx")])
    save(nb, path)
    raw = json.loads(path.read_text())
    raw["metadata"]["widgets"] = {"state": {}}
    raw["cells"][1]["execution_count"] = 3
    raw["cells"][1]["outputs"] = [
        {"output_type": "execute_result", "execution_count": 3, "data": {"text/plain": "1"},
         "metadata": {}}
    ]  # fmt: skip
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.slow
def test_notebook_hooks_clean_and_check_the_notebooks_they_are_given(venv_tools, tmp_path):
    hooks = _hooks()
    dirty = _dirty_notebook(tmp_path / "dirty.ipynb")
    assert notebook_problems(dirty), "the fixture notebook should be dirty"
    check = hooks["notebook-hygiene"]["entry"].split()
    refused = subprocess.run([*check, str(dirty)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert refused.returncode == 1 and "outputs" in refused.stdout, refused.stdout
    clean = hooks["notebook-clean"]["entry"].split()
    cleaned = subprocess.run([*clean, str(dirty)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert notebook_problems(dirty) == []
    passed = subprocess.run([*check, str(dirty)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert passed.returncode == 0, passed.stdout
    for hook_id in ("notebook-clean", "notebook-hygiene"):
        pattern = re.compile(hooks[hook_id]["files"])
        assert pattern.search("course/01-sql-analytics/02-sql-foundations.ipynb"), hook_id
        assert pattern.search("exercises/00-warmup/warmup.ipynb"), hook_id
        assert not pattern.search("assignments/00-warmup/warmup.ipynb"), hook_id


# ---- nbdime ----------------------------------------------------------------------------------
def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-c", "user.name=Author", "-c", "user.email=author@example.org", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )


def test_gitattributes_send_notebooks_to_the_nbdime_drivers():
    lines = (REPO_ROOT / ".gitattributes").read_text().splitlines()
    assert "*.ipynb diff=jupyternotebook merge=jupyternotebook" in lines
    out = _git("check-attr", "diff", "merge", "--", "course/index.ipynb", cwd=REPO_ROOT).stdout
    assert out.split("\n")[:2] == [
        "course/index.ipynb: diff: jupyternotebook",
        "course/index.ipynb: merge: jupyternotebook",
    ], out


def _two_versions(folder: Path) -> tuple[Path, Path]:
    before = save(notebook([md("# Q"), code("total = 1\nprint(total)"), code("y = 2")]),
                  folder / "before.ipynb")  # fmt: skip
    after = save(notebook([md("# Q"), code("total = 41\nprint(total)"), code("y = 2")]),
                 folder / "after.ipynb")  # fmt: skip
    return before, after


@pytest.mark.slow
def test_nbdiff_names_the_changed_cell_and_line(tmp_path):
    before, after = _two_versions(tmp_path)
    result = subprocess.run(
        [str(VENV_BIN / "nbdiff"), "--no-color", str(before), str(after)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "## modified /cells/1/source:" in result.stdout, result.stdout
    assert "-total = 1\n+total = 41\n print(total)" in result.stdout, result.stdout


@pytest.mark.slow
def test_git_diff_of_a_notebook_is_cell_level_once_make_nbdime_has_run(tmp_path):
    """The recipe of `make nbdime`, run in a scratch repository with the project's
    .gitattributes: `git diff` then shows nbdime's cell diff, not the notebook's JSON."""
    if shutil.which("git") is None:
        pytest.fail("git is needed to test notebook diffs")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git("init", "-q", cwd=repo)
    shutil.copy(REPO_ROOT / ".gitattributes", repo / ".gitattributes")
    before, after = _two_versions(tmp_path)
    shutil.copy(before, repo / "lesson.ipynb")
    _git("add", ".", cwd=repo)
    _git("commit", "-q", "-m", "first", cwd=repo)
    shutil.copy(after, repo / "lesson.ipynb")
    plain = _git("diff", cwd=repo).stdout
    assert '"source": [' in plain or '"total = 41\\n"' in plain, plain  # JSON lines, before
    for line in _recipe("nbdime"):
        command = line.replace("$(abspath $(BIN))", str(VENV_BIN))
        assert "$(" not in command, command
        subprocess.run(command, shell=True, cwd=repo, check=True)
    # the driver colours its output even into a pipe
    cell_level = re.sub(r"\x1b\[[0-9;]*m", "", _git("diff", cwd=repo).stdout)
    assert "## modified /cells/1/source:" in cell_level, cell_level
    assert "+total = 41" in cell_level and '"source"' not in cell_level, cell_level


def test_hygiene_hook_judges_the_course_home_as_test_hygiene_does(venv_tools):
    """The course home is not a lesson (no objectives, summary or reading): the hook, like
    tests/test_hygiene.py, checks it for outputs and metadata only."""
    check = _hooks()["notebook-hygiene"]["entry"].split()
    result = subprocess.run(
        [*check, "course/index.ipynb", "course/00-orientation/01-jupyterlab-basics.ipynb"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout
