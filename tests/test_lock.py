"""The locks of exact versions (requirements/lock-*.txt) agree with pyproject.toml, and every way
of installing the course uses them: `make lab` and Binder's postBuild the runtime lock, `make test`
(and so CI) the test lock, the course package itself with --no-deps.

Resolving again would need the package index, so the check is done offline with ``packaging``:
every requirement of pyproject.toml (the runtime for the runtime lock; the runtime and every extra
for the test lock) is pinned in the lock at a version its specifier allows, and every pin is
needed: uv's ``# via`` notes lead from it back to pyproject.toml. A lock left behind after an edit
of pyproject.toml fails here with what to do: ``make lock``.
"""

from __future__ import annotations

import importlib.metadata
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tpmlab.paths import REPO_ROOT

RUNTIME = "requirements/lock-runtime.txt"
TEST = "requirements/lock-test.txt"
ROOT = "tpmlab (pyproject.toml)"
FIX = "Run `make lock` (needs uv) and commit requirements/."


@dataclass
class Pin:
    name: str
    version: Version
    marker: str
    via: list[str] = field(default_factory=list)


@dataclass
class Lock:
    command: list[str]
    pins: list[Pin]

    def by_name(self) -> dict[str, list[Pin]]:
        out: dict[str, list[Pin]] = {}
        for pin in self.pins:
            out.setdefault(pin.name, []).append(pin)
        return out


def parse_lock(text: str) -> Lock:
    """A lock as uv writes it: the command in the header, then ``name==version ; marker`` lines,
    each followed by ``# via`` notes (on one line, or one name per line)."""
    lines = text.splitlines()
    command: list[str] = []
    for i, line in enumerate(lines[:3]):
        if "following command" in line:
            command = shlex.split(lines[i + 1].lstrip("# "))
    pins: list[Pin] = []
    in_via = False
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if not line.startswith((" ", "#")):
            req = Requirement(stripped)
            (spec,) = list(req.specifier)
            assert spec.operator == "==", f"not an exact pin: {line}"
            pins.append(
                Pin(canonicalize_name(req.name), Version(spec.version), str(req.marker or ""))
            )
            in_via = False
        elif pins and stripped.startswith("# via"):
            rest = stripped.removeprefix("# via").strip()
            in_via = not rest
            if rest:
                pins[-1].via.append(rest)
        elif pins and in_via and stripped.startswith("#   "):
            pins[-1].via.append(stripped.removeprefix("#").strip())
    return Lock(command, pins)


def requirements(pyproject: dict, *, extras: bool) -> list[Requirement]:
    project = pyproject["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    if extras:
        for group in project.get("optional-dependencies", {}).values():
            reqs += [Requirement(r) for r in group]
    return reqs


def disagreements(lock: Lock, pyproject: dict, *, extras: bool, own_name: str) -> list[str]:
    """What is wrong between a lock and pyproject.toml, in words (empty when they agree)."""
    problems = []
    pinned = lock.by_name()
    wanted = requirements(pyproject, extras=extras)
    for req in wanted:
        name = canonicalize_name(req.name)
        if name not in pinned:
            problems.append(f"{req} is in pyproject.toml but not pinned in the lock")
            continue
        for pin in pinned[name]:
            if not req.specifier.contains(pin.version, prereleases=True):
                problems.append(f"the lock pins {name}=={pin.version}, pyproject.toml asks {req}")
        for extra in sorted(req.extras):
            if not any(
                f"{name}[{extra}]" in via or via == name for p in lock.pins for via in p.via
            ):
                problems.append(f"nothing in the lock is there for {req.name}[{extra}]")
    direct = {canonicalize_name(r.name) for r in wanted}
    for pin in lock.pins:
        if ROOT in pin.via and pin.name not in direct:
            problems.append(
                f"{pin.name} is pinned as a requirement of pyproject.toml, which no longer has it"
            )
    # every pin is needed: its via notes reach pyproject.toml through other pins
    needed = {p.name for p in lock.pins if ROOT in p.via}
    names = {p.name for p in lock.pins}
    grew = True
    while grew:
        grew = False
        for pin in lock.pins:
            parents = {canonicalize_name(v.split("[")[0].split(" ")[0]) for v in pin.via}
            if pin.name not in needed and parents & needed:
                needed.add(pin.name)
                grew = True
    for name in sorted(names - needed):
        problems.append(f"{name} is pinned but nothing from pyproject.toml needs it")
    if own_name in names:
        problems.append(f"the lock pins the course package {own_name} itself")
    return problems


def _read(rel: str) -> Lock:
    return parse_lock((REPO_ROOT / rel).read_text())


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def _make_dry_run(*targets: str) -> str:
    """The commands make would run for ``targets`` (nothing is run: ``make -n``), as if
    pyproject.toml had just changed."""
    proc = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", *targets],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_runtime_lock_agrees_with_pyproject():
    problems = disagreements(_read(RUNTIME), _pyproject(), extras=False, own_name="tpmlab")
    assert not problems, f"{RUNTIME} and pyproject.toml disagree: {problems}. {FIX}"


def test_the_test_lock_agrees_with_pyproject_and_every_extra():
    problems = disagreements(_read(TEST), _pyproject(), extras=True, own_name="tpmlab")
    assert not problems, f"{TEST} and pyproject.toml disagree: {problems}. {FIX}"


def test_the_test_lock_is_the_runtime_lock_plus_the_test_tools():
    # the same versions (a marker may be wider in the test lock: a test tool needs it everywhere)
    runtime = {(p.name, p.version) for p in _read(RUNTIME).pins}
    test = {(p.name, p.version) for p in _read(TEST).pins}
    assert runtime <= test, (
        f"the test lock has other versions of {sorted(n for n, *_ in runtime - test)} than the "
        f"runtime lock: learners would run what the tests did not. {FIX}"
    )
    assert len(test) > len(runtime)


def test_the_check_catches_a_lock_left_behind():
    """The checks above can fail: an edited pyproject.toml makes the committed lock disagree."""
    pyproject = _pyproject()
    edited = {"project": dict(pyproject["project"])}
    deps = [d for d in pyproject["project"]["dependencies"] if not d.startswith("tqdm")]
    edited["project"]["dependencies"] = [*deps, "pandas>=99", "rich>=13"]
    problems = disagreements(_read(RUNTIME), edited, extras=False, own_name="tpmlab")
    text = "\n".join(problems)
    assert "pyproject.toml asks pandas>=99" in text, text
    assert "rich>=13 is in pyproject.toml but not pinned" in text, text
    assert "tqdm is pinned as a requirement of pyproject.toml, which no longer has it" in text
    # a pin nothing needs
    lock = _read(RUNTIME)
    lock.pins.append(Pin("left-over", Version("1.0"), "", ["nothing-here"]))
    assert disagreements(lock, pyproject, extras=False, own_name="tpmlab") == [
        "left-over is pinned but nothing from pyproject.toml needs it"
    ]


def test_each_lock_names_the_command_that_made_it_and_make_lock_runs_it():
    dry = _make_dry_run("lock")
    pyproject = _pyproject()
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert pythons == ["python=3.11"], f"environment.yml asks for {pythons}"
    ran = [
        [a for a in shlex.split(line) if a != "--quiet"]
        for line in dry.splitlines()
        if " pip compile " in line
    ]
    for rel in (RUNTIME, TEST):
        command = _read(rel).command
        assert command[:4] == ["uv", "pip", "compile", "pyproject.toml"], command
        assert _option(command, "-o") == rel, f"{rel} says it was written to another file"
        python = _option(command, "--python-version")
        assert python == "3.11", f"{rel} is for python {python}; Binder runs 3.11"
        assert Version(python) in SpecifierSet(pyproject["project"]["requires-python"])
        assert "--universal" in command, f"{rel} must hold Linux, macOS and Windows markers"
        # make lock runs exactly this command (uv leaves --quiet out of the header)
        assert command in ran, f"`make lock` does not run the command in {rel}'s header: {command}"
    runtime, test = _read(RUNTIME).command, _read(TEST).command
    assert "--extra" not in runtime and "--all-extras" not in runtime, (
        "learners get the runtime only"
    )
    assert "--all-extras" in test and _option(test, "-c") == RUNTIME


def test_make_lab_make_test_and_binder_install_from_the_locks():
    runtime = _make_dry_run(".venv/.installed-runtime")
    assert f"pip install --quiet -r {RUNTIME}" in runtime, runtime
    assert "pip install --quiet --no-deps -e ." in runtime, runtime
    assert TEST not in runtime, "make lab must not install the test tools"
    full = _make_dry_run(".venv/.installed")
    assert f"pip install --quiet -r {TEST}" in full, full
    assert not re.search(r"pip install [^\n]*-e \"?\.\[", full), (
        "make test installs extras unlocked"
    )
    post = (REPO_ROOT / "postBuild").read_text()
    lock_at = post.index(f"python -m pip install --quiet -r {RUNTIME}")
    assert lock_at < post.index("python -m pip install --quiet --no-deps -e ."), post
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    assert all(isinstance(d, str) for d in env["dependencies"]), (
        "environment.yml installs nothing with pip: postBuild installs the lock"
    )


def test_this_environment_has_the_locked_versions():
    """`make test` installs the test lock, so the versions the suite passes with are the lock's."""
    environment = default_environment()
    wrong = []
    for pin in _read(TEST).pins:
        if pin.marker and not Requirement(f"{pin.name} ; {pin.marker}").marker.evaluate(
            environment
        ):
            continue
        try:
            installed = Version(importlib.metadata.version(pin.name))
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{pin.name} is not installed")
            continue
        if installed != pin.version:
            wrong.append(f"{pin.name} {installed} is installed, the lock has {pin.version}")
    assert not wrong, f"{wrong}: run `make venv` (it installs {TEST})"


def test_lock_files_are_committed_text():
    for rel in (RUNTIME, TEST):
        path = Path(REPO_ROOT / rel)
        assert path.is_file(), f"{rel} is missing. {FIX}"
        assert len(_read(rel).pins) > 50
