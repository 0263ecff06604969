"""The course's own commands: generate student versions, give learners their copies, start the lab.

``python -m tpmlab.course release``
    Regenerate ``autograder/release/<assignment>/`` from ``exercises/`` with nbgrader.
``python -m tpmlab.course check-release``
    Exit 1 (naming the files) if the committed student versions are stale.
``python -m tpmlab.course sync-assignments``
    Copy each student version into ``assignments/<assignment>/`` if the learner has no copy yet.
    A learner's own copy is never overwritten; a newer release is reported instead.
``python -m tpmlab.course learner-setup [--binder]``
    Set up the learner's side of Jupyter in this Python environment: kernels that explain
    common errors in plain words, and a local nbgrader exchange holding the released assignments
    (so the Assignments tab lists them with a Validate button). ``--binder`` also turns the
    instructor tools off (formgrader, create-assignment, course list). ``make lab`` and Binder's
    ``postBuild`` run it; running it again changes nothing.
``python -m tpmlab.course lab [--port P] [--no-browser] [JUPYTER OPTIONS...]``
    Start JupyterLab on the course home page; other options go to JupyterLab unchanged.
"""

from __future__ import annotations

import argparse
import filecmp
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

NBGRADER_CONFIG = """\
# Written by `python -m tpmlab.course learner-setup`: the learner's side of nbgrader.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "tpm-skills-lab"
c.Exchange.root = {exchange!r}
c.Exchange.assignment_dir = {assignments!r}
"""


def default_exchange() -> Path:
    return Path(os.environ.get("TPMLAB_EXCHANGE", Path.home() / ".tpmlab" / "exchange"))


def _same_tree(a: Path, b: Path) -> bool:
    """Whether folders ``a`` and ``b`` hold the same files with the same bytes."""
    if not b.is_dir():
        return False
    files = lambda root: sorted(  # noqa: E731
        p.relative_to(root) for p in root.rglob("*") if p.is_file()
    )
    names = files(a)
    return names == files(b) and all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def learner_setup(
    prefix: Path | None = None, exchange: Path | None = None, binder: bool = False
) -> list[Path]:
    """Configure Jupyter under ``prefix`` (this environment's ``sys.prefix``) for a learner: the
    plain-words error extension in every kernel, and a local exchange at ``exchange`` holding the
    released assignments, already "fetched" into ``assignments/``. ``binder`` also disables the
    instructor tools. Returns the files written."""
    prefix = Path(prefix or sys.prefix)
    exchange = Path(exchange or default_exchange())
    written = []
    kernel_config = prefix / "etc" / "ipython" / "ipython_kernel_config.py"
    nbgrader_config = prefix / "etc" / "jupyter" / "nbgrader_config.py"
    for path, text in [
        (kernel_config, KERNEL_CONFIG),
        (
            nbgrader_config,
            NBGRADER_CONFIG.format(exchange=str(exchange), assignments=str(ASSIGNMENTS)),
        ),
    ]:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    exchange.mkdir(parents=True, exist_ok=True)
    env = _nbgrader_env()
    for folder in sorted(p for p in RELEASE.iterdir() if p.is_dir()):
        if _same_tree(folder, exchange / "tpm-skills-lab" / "outbound" / folder.name):
            continue  # already released, unchanged
        subprocess.run(
            [
                sys.executable,
                "-m",
                "nbgrader",
                "release_assignment",
                folder.name,
                "--force",
                f"--Exchange.root={exchange}",
                "--log-level=WARN",
            ],
            cwd=AUTOGRADER,
            env=env,
            check=True,
        )
    if binder:
        jupyter = [sys.executable, "-m", "jupyter"]
        for plugin in ("formgrader", "create-assignment", "course-list"):
            subprocess.run(
                [
                    *jupyter,
                    "labextension",
                    "disable",
                    "--level=sys_prefix",
                    f"@jupyter/nbgrader:{plugin}",
                ],
                env=env,
                check=True,
                capture_output=True,
            )
        for ext in ("formgrader", "course_list"):
            subprocess.run(
                [
                    *jupyter,
                    "server",
                    "extension",
                    "disable",
                    "--sys-prefix",
                    f"nbgrader.server_extensions.{ext}",
                ],
                env=env,
                check=True,
                capture_output=True,
            )
    return written


def lab(port: int, open_browser: bool, extra_args: list[str] | None = None) -> int:
    """Start JupyterLab at the repository root, opening the course home page.

    ``extra_args`` are passed on to JupyterLab unchanged (later options win), for example
    ``--ServerApp.token=...`` or ``--ServerApp.root_dir=...`` in tests.
    """
    extra_args = list(extra_args or [])

    def given(option: str) -> bool:  # JupyterLab rejects an option given twice
        return any(a == option or a.startswith(option + "=") for a in extra_args)

    cmd = [sys.executable, "-m", "jupyterlab", f"--port={port}"]
    if not given("--ServerApp.root_dir"):
        cmd.append(f"--ServerApp.root_dir={REPO_ROOT}")
    if not given("--LabApp.default_url"):
        cmd.append(f"--LabApp.default_url=/lab/tree/{HOME_PAGE}")
    if not open_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Containers and CI machines often run as root; JupyterLab refuses to start without this.
        cmd.append("--allow-root")
    cmd += extra_args
    print(
        f"Starting JupyterLab; the course home is {HOME_PAGE}.\n"
        "Open the link that starts with http://127.0.0.1 printed below (it opens the course "
        "home).\nStop the server with Ctrl+C (your work is saved in the notebooks).",
        flush=True,
    )
    return subprocess.call(cmd, cwd=REPO_ROOT, env=_nbgrader_env())


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
    p_setup = sub.add_parser("learner-setup", help="error advice and a local nbgrader exchange")
    p_setup.add_argument("--binder", action="store_true", help="also disable instructor tools")
    p_lab = sub.add_parser("lab", help="start JupyterLab on the course home")
    p_lab.add_argument("--port", type=int, default=8888)
    p_lab.add_argument("--no-browser", action="store_true")
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
        for path in learner_setup(binder=args.binder):
            print(f"wrote {path}")
        print(f"assignments released into the local exchange {default_exchange()}")
    elif args.command == "lab":
        return lab(args.port, open_browser=not args.no_browser, extra_args=extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
