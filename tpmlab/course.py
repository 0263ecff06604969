"""The course's own commands: generate student versions, give learners their copies, start the lab.

``python -m tpmlab.course release``
    Regenerate ``autograder/release/<assignment>/`` from ``exercises/`` with nbgrader.
``python -m tpmlab.course check-release``
    Exit 1 (naming the files) if the committed student versions are stale.
``python -m tpmlab.course sync-assignments``
    Copy each student version into ``assignments/<assignment>/`` if the learner has no copy yet.
    A learner's own copy is never overwritten; a newer release is reported instead.
``python -m tpmlab.course learner-setup``
    Set up the learner's side of Jupyter in this Python environment: kernels that explain
    common errors in plain words, nbgrader's Validate button (each failing check's message
    first, :mod:`tpmlab.validate_dialog`), and none of the instructor tools or the Assignments tab
    (learners hand in a zip with ``python -m tpmlab.handin``). ``make lab`` and Binder's
    ``postBuild`` run it; running it again changes nothing.
``python -m tpmlab.course lab [--port P] [--no-browser] [--instructor] [JUPYTER OPTIONS...]``
    Start JupyterLab on the course home page; ``--instructor`` (``make instructor``) starts it
    in ``autograder/`` with the formgrader and create-assignment tools on. Other options go to
    JupyterLab unchanged.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tpmlab.paths import REPO_ROOT

EXERCISES = REPO_ROOT / "exercises"
AUTOGRADER = REPO_ROOT / "autograder"
RELEASE = AUTOGRADER / "release"
ASSIGNMENTS = REPO_ROOT / "assignments"
HOME_PAGE = "course/index.ipynb"


def assignment_ids() -> list[str]:
    """The source assignments, in teaching order (folder names under ``exercises/``)."""
    return sorted(p.name for p in EXERCISES.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def _nbgrader_env() -> dict[str, str]:
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from the same venv
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def generate(release_dir: Path, ids: list[str] | None = None) -> None:
    """Run ``nbgrader generate_assignment`` (no gradebook) for each assignment into
    ``release_dir``."""
    for assignment in ids or assignment_ids():
        cmd = [
            sys.executable,
            "-m",
            "nbgrader",
            "generate_assignment",
            assignment,
            "--no-db",
            "--force",
            "--log-level=WARN",
            f"--CourseDirectory.release_directory={release_dir}",
        ]
        proc = subprocess.run(
            cmd, cwd=AUTOGRADER, env=_nbgrader_env(), capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SystemExit(
                f"nbgrader could not generate the student version of {assignment}:\n"
                f"{proc.stdout}{proc.stderr}"
            )


def release() -> None:
    """Regenerate every student version in ``autograder/release``."""
    if RELEASE.exists():
        shutil.rmtree(RELEASE)
    generate(RELEASE)
    for assignment in assignment_ids():
        print(f"released {assignment} -> {(RELEASE / assignment).relative_to(REPO_ROOT)}")


def stale_release_files() -> list[str]:
    """Files of ``autograder/release`` that differ from a fresh generation (or are missing)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "release"
        generate(fresh)
        problems = []
        fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
        committed = (
            {p.relative_to(RELEASE) for p in RELEASE.rglob("*") if p.is_file()}
            if RELEASE.exists()
            else set()
        )
        for rel in sorted(fresh_files | committed):
            if rel not in committed:
                problems.append(f"missing: autograder/release/{rel}")
            elif rel not in fresh_files:
                problems.append(f"no longer generated: autograder/release/{rel}")
            elif not filecmp.cmp(fresh / rel, RELEASE / rel, shallow=False):
                problems.append(f"stale: autograder/release/{rel}")
        return problems


def sync_assignments() -> None:
    """Give the learner a working copy of each released assignment, never overwriting theirs."""
    if not RELEASE.exists():
        raise SystemExit("No student versions found in autograder/release: run `make release`.")
    for src_dir in sorted(p for p in RELEASE.iterdir() if p.is_dir()):
        dst_dir = ASSIGNMENTS / src_dir.name
        for src in sorted(src_dir.rglob("*")):
            if not src.is_file():
                continue
            dst = dst_dir / src.relative_to(src_dir)
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
                print(f"new assignment: {dst.relative_to(REPO_ROOT)}")
            elif src.stat().st_mtime > dst.stat().st_mtime and not filecmp.cmp(src, dst):
                print(
                    f"note: a newer version of {dst.relative_to(REPO_ROOT)} is in "
                    f"{src.relative_to(REPO_ROOT)}; your copy was kept."
                )


KERNEL_CONFIG = """\
# Written by `python -m tpmlab.course learner-setup`: explain common errors in plain words.
c = get_config()  # noqa: F821
c.InteractiveShellApp.extensions = ["tpmlab.errors"]
"""

#: nbgrader's JupyterLab plugins a learner does not get: the instructor tools, and the Assignments
#: tab, whose Submit button would put work into a local exchange that no instructor reads (learners
#: hand in a zip: ``python -m tpmlab.handin``). The Validate button stays.
LEARNER_HIDDEN_PLUGINS = ("formgrader", "create-assignment", "course-list", "assignment-list")
#: Server extensions for a learner: nbgrader's validation through :mod:`tpmlab.validate_dialog` (message
#: first), nothing else of nbgrader's.
LEARNER_SERVER_EXTENSIONS = {
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.course_list": False,
    "nbgrader.server_extensions.assignment_list": False,
    "nbgrader.server_extensions.validate_assignment": False,
    "tpmlab.validate_dialog": True,
}
#: Notebooks open unmodified (see :mod:`tpmlab.lab_contents`).
LEARNER_CONTENTS_MANAGER = "tpmlab.lab_contents.CourseContentsManager"
#: What ``make instructor`` turns back on, over the learner's setup of the same environment.
INSTRUCTOR_PLUGINS = ("formgrader", "create-assignment")
INSTRUCTOR_SERVER_EXTENSIONS = {
    "nbgrader.server_extensions.formgrader": True,
    "nbgrader.server_extensions.course_list": False,
    "nbgrader.server_extensions.assignment_list": False,
    "nbgrader.server_extensions.validate_assignment": False,
    "tpmlab.validate_dialog": True,
}
#: Written by older versions of learner-setup (a local exchange); removed when found.
OLD_NBGRADER_CONFIG_HEADER = "# Written by `python -m tpmlab.course learner-setup`: the learner's"


def _write_json(path: Path, data: dict) -> Path:
    """Write ``data`` as JSON unless the file already holds exactly that (keeps mtimes)."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _contents_manager(config_dir: Path) -> Path:
    """Set the learner's contents manager in ``config_dir/jupyter_server_config.json``, keeping
    what else is there (Jupyter Server reads only server extensions from the ``.d`` folder)."""
    path = config_dir / "jupyter_server_config.json"
    data = json.loads(path.read_text()) if path.exists() and path.stat().st_size else {}
    data.setdefault("ServerApp", {})["contents_manager_class"] = LEARNER_CONTENTS_MANAGER
    return _write_json(path, data)


def _page_config(config_dir: Path, disabled: dict[str, bool]) -> Path:
    """Merge nbgrader plugin switches into ``config_dir/labconfig/page_config.json``; they are
    also locked, so JupyterLab's extension manager does not offer to flip them."""
    path = config_dir / "labconfig" / "page_config.json"
    data = json.loads(path.read_text()) if path.exists() and path.stat().st_size else {}
    for key in ("disabledExtensions", "lockedExtensions"):
        switches = data.setdefault(key, {})
        for name, off in disabled.items():
            switches[f"@jupyter/nbgrader:{name}"] = off if key == "disabledExtensions" else True
    return _write_json(path, data)


def learner_setup(prefix: Path | None = None) -> list[Path]:
    """Configure Jupyter under ``prefix`` (this environment's ``sys.prefix``) for a learner: the
    plain-words error extension in every kernel; nbgrader's Validate button, answered by
    :mod:`tpmlab.validate_dialog` (each failing check's message first); no instructor tools and no
    Assignments tab (handing in is the zip of ``python -m tpmlab.handin``), so no exchange folder
    is needed; notebooks that open unmodified (:mod:`tpmlab.lab_contents`). Returns the files written; running it again rewrites nothing."""
    prefix = Path(prefix or sys.prefix)
    config_dir = prefix / "etc" / "jupyter"
    kernel_config = prefix / "etc" / "ipython" / "ipython_kernel_config.py"
    kernel_config.parent.mkdir(parents=True, exist_ok=True)
    if not kernel_config.exists() or kernel_config.read_text() != KERNEL_CONFIG:
        kernel_config.write_text(KERNEL_CONFIG)
    old = config_dir / "nbgrader_config.py"
    if old.exists() and old.read_text().startswith(OLD_NBGRADER_CONFIG_HEADER):
        old.unlink()  # the local exchange of earlier versions is no longer used
    return [
        kernel_config,
        _page_config(config_dir, {name: True for name in LEARNER_HIDDEN_PLUGINS}),
        _write_json(
            config_dir / "jupyter_server_config.d" / "tpmlab.json",
            {"ServerApp": {"jpserver_extensions": LEARNER_SERVER_EXTENSIONS}},
        ),
        _contents_manager(config_dir),
    ]


def instructor_config_dir(config_dir: Path | None = None) -> Path:
    """A Jupyter config folder that turns the instructor tools back on (``make instructor``).

    Used as ``JUPYTER_CONFIG_DIR`` with ``JUPYTER_PREFER_ENV_PATH=0`` (see :func:`instructor_env`),
    which makes it the highest-priority config folder, so the learner's setup of the same
    environment stays as it is for ``make lab``. It also gives nbgrader an exchange folder of the
    instructor's own (``.jupyter/exchange``, mode 0755), used only if the formgrader's Release
    button is pressed: a class on one server uses JupyterHub's shared exchange instead."""
    config_dir = Path(config_dir or AUTOGRADER / ".jupyter")
    exchange = config_dir / "exchange"
    exchange.mkdir(parents=True, exist_ok=True)
    (config_dir / "nbgrader_config.py").write_text(
        "# Written by `make instructor` (tpmlab.course.instructor_config_dir).\n"
        "c = get_config()  # noqa: F821\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
    )
    _page_config(
        config_dir,
        {name: name not in INSTRUCTOR_PLUGINS for name in LEARNER_HIDDEN_PLUGINS},
    )
    _write_json(
        config_dir / "jupyter_server_config.json",
        {"ServerApp": {"jpserver_extensions": INSTRUCTOR_SERVER_EXTENSIONS}},
    )
    return config_dir


def lab(
    port: int, open_browser: bool, extra_args: list[str] | None = None, instructor: bool = False
) -> int:
    """Start JupyterLab: for a learner at the repository root on the course home page; with
    ``instructor`` in ``autograder/`` (the nbgrader course, so the formgrader finds its
    gradebook) with the instructor tools on (see :func:`instructor_config_dir`).

    ``extra_args`` are passed on to JupyterLab unchanged (later options win), for example
    ``--ServerApp.token=...`` or ``--ServerApp.root_dir=...`` in tests.
    """
    extra_args = list(extra_args or [])

    def given(option: str) -> bool:  # JupyterLab rejects an option given twice
        return any(a == option or a.startswith(option + "=") for a in extra_args)

    root = AUTOGRADER if instructor else REPO_ROOT
    env = _nbgrader_env()
    cmd = [sys.executable, "-m", "jupyterlab", f"--port={port}"]
    if not given("--ServerApp.root_dir"):
        cmd.append(f"--ServerApp.root_dir={root}")
    if not given("--LabApp.default_url"):
        cmd.append(
            "--LabApp.default_url=/lab"
            if instructor
            else f"--LabApp.default_url=/lab/tree/{HOME_PAGE}"
        )
    if not open_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Containers and CI machines often run as root; JupyterLab refuses to start without this.
        cmd.append("--allow-root")
    cmd += extra_args
    if instructor:
        env.update(JUPYTER_CONFIG_DIR=str(instructor_config_dir()), JUPYTER_PREFER_ENV_PATH="0")
        print(
            "Starting JupyterLab as the instructor, in autograder/ (the nbgrader course).\n"
            "Open the link that starts with http://127.0.0.1 printed below, then Nbgrader > "
            "Formgrader: manual grading, the gradebook and feedback. Grading itself runs from a "
            "terminal: `tpmlab-grade collect|autograde|feedback|export|report` (see "
            "autograder/README.md).\nStop the server with Ctrl+C.",
            flush=True,
        )
    else:
        print(
            f"Starting JupyterLab; the course home is {HOME_PAGE}.\n"
            "Open the link that starts with http://127.0.0.1 printed below (it opens the course "
            "home).\nStop the server with Ctrl+C (your work is saved in the notebooks).",
            flush=True,
        )
    return subprocess.call(cmd, cwd=root, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tpmlab.course",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("release", help="regenerate the student versions")
    sub.add_parser("check-release", help="fail if the student versions are stale")
    sub.add_parser("sync-assignments", help="copy new student versions into assignments/")
    sub.add_parser("learner-setup", help="error advice in kernels, Validate, no instructor tools")
    p_lab = sub.add_parser("lab", help="start JupyterLab on the course home")
    p_lab.add_argument("--port", type=int, default=8888)
    p_lab.add_argument("--no-browser", action="store_true")
    p_lab.add_argument(
        "--instructor", action="store_true", help="start in autograder/ with the formgrader on"
    )
    p_lab.epilog = "Any other option (e.g. --ServerApp.token=abc) is passed on to JupyterLab."
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "release":
        release()
    elif args.command == "check-release":
        problems = stale_release_files()
        if problems:
            print("The student versions are out of date; run `make release` and commit:")
            print("\n".join(f"  {p}" for p in problems))
            return 1
        print("Student versions are up to date.")
    elif args.command == "sync-assignments":
        sync_assignments()
    elif args.command == "learner-setup":
        for path in learner_setup():
            print(f"wrote {path}")
    elif args.command == "lab":
        return lab(
            args.port,
            open_browser=not args.no_browser,
            extra_args=extra,
            instructor=args.instructor,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
