"""The course on one JupyterHub: who is an instructor and who a student, the Jupyter settings of
each role, and the copy of the course each account gets in its home on first login.

``deploy/jupyterhub/jupyterhub_config.py`` calls :func:`configure` (see
``deploy/jupyterhub/README.md``). Each account's role comes from the class roster, a CSV file
``username,role`` with the role ``instructor`` or ``student`` (:func:`read_roster`). Before a
server starts, :func:`pre_spawn_hook`:

- points the server at its role's Jupyter settings, ``deploy/jupyterhub/roles/<role>/``, first on
  ``JUPYTER_CONFIG_PATH``: nbgrader's exchange and course id for both roles; the formgrader and
  create-assignment for instructors only; the Assignments tab (fetch, submit, feedback) for
  students only;
- makes the home folder private (``0700``): nobody but its owner reads a learner's work;
- on first login copies the course into ``~/tpm-skills-lab`` (:func:`copy_course`, run as the
  account itself, never as root, so a link planted in the home cannot redirect the copy):
  students get the lessons (``course/``), instructors the nbgrader course too (``exercises/`` and
  ``autograder/``). A copy that is already there is never overwritten.

``python -m tpmlab.hub copy-course --role ROLE [--home DIR]`` is the copy on its own.
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

from tpmlab.errors import TPMLabError
from tpmlab.paths import REPO_ROOT

#: The nbgrader course id shared by the exchange and ``autograder/nbgrader_config.py``.
COURSE_ID = "tpm-skills-lab"
#: The folder of each home the course is copied into.
HOME_COURSE = "tpm-skills-lab"
#: The nbgrader exchange of a single server (nbgrader's documented place for it).
DEFAULT_EXCHANGE = "/srv/nbgrader/exchange"
ROLES = ("instructor", "student")
#: Per-role Jupyter settings (committed, readable by every account).
ROLES_DIR = REPO_ROOT / "deploy" / "jupyterhub" / "roles"
#: What each role gets in ``~/tpm-skills-lab`` (paths relative to the repository).
CONTENT = {
    "student": ("course", "datasets/README.md"),
    "instructor": (
        "course",
        "datasets/README.md",
        "exercises",
        "autograder/nbgrader_config.py",
        "autograder/README.md",
        "autograder/SECURITY.md",
        "autograder/release",
    ),
}
_IGNORE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")


def read_roster(path: str | os.PathLike) -> dict[str, str]:
    """``username -> role`` from the roster CSV (header ``username,role``).

    Raises :class:`TPMLabError` naming the line for a missing file, a missing column or a role
    other than ``instructor`` or ``student``."""
    path = Path(path)
    if not path.is_file():
        raise TPMLabError(
            f"The class roster {path} does not exist.",
            "Create it with a header line `username,role` and one line per account, for example "
            "`alice,student` (deploy/jupyterhub/README.md), or point TPMLAB_HUB_ROSTER at it.",
        )
    roles: dict[str, str] = {}
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"username", "role"} <= set(reader.fieldnames):
            raise TPMLabError(
                f"The class roster {path} has no header `username,role`.",
                "Make its first line `username,role`.",
            )
        for line, row in enumerate(reader, start=2):
            name, role = (row["username"] or "").strip(), (row["role"] or "").strip().lower()
            if not name:
                continue
            if role not in ROLES:
                raise TPMLabError(
                    f"Line {line} of the class roster {path} gives {name!r} the role {role!r}.",
                    "Each role must be `instructor` or `student`.",
                )
            roles[name] = role
    return roles


def copy_course(home: Path, role: str) -> list[Path]:
    """Copy the role's part of the course into ``home/tpm-skills-lab``; nothing already there is
    overwritten. Returns the paths copied (empty when the copy exists)."""
    if role not in ROLES:
        raise TPMLabError(f"Unknown role {role!r}.", f"Use one of {', '.join(ROLES)}.")
    target = home / HOME_COURSE
    if target.exists() or target.is_symlink():
        return []
    copied = []
    for rel in CONTENT[role]:
        src, dest = REPO_ROOT / rel, target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, ignore=_IGNORE, symlinks=True)
        elif src.is_file():
            shutil.copy2(src, dest)
        else:
            continue
        copied.append(dest)
    return copied


def role_environment(role: str, exchange: str) -> dict[str, str]:
    """The environment a server of ``role`` starts with: its Jupyter settings first, the exchange,
    and the course's tools (``nbgrader``, ``tpmlab-grade``) on ``PATH``."""
    return {
        "JUPYTER_CONFIG_PATH": str(ROLES_DIR / role),
        "TPMLAB_EXCHANGE": exchange,
        "TPMLAB_ROLE": role,
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
    }


def _copy_as(account: pwd.struct_passwd, role: str) -> None:
    """Run :func:`copy_course` as ``account`` (its uid, gid and groups), in a process of its own."""
    result = subprocess.run(
        [sys.executable, "-m", "tpmlab.hub", "copy-course", "--role", role],
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=os.getgrouplist(account.pw_name, account.pw_gid),
        env={"HOME": account.pw_dir, "PATH": "/usr/bin:/bin"},
        cwd=account.pw_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        raise TPMLabError(
            f"Copying the course into {account.pw_dir} failed: {result.stderr.strip()[-500:]}",
            "Check that the account owns its home folder and that the course's install is "
            "readable by every account, then log in again.",
        )


def pre_spawn_hook(spawner, roles: dict[str, str], exchange: str) -> None:
    """JupyterHub's ``Spawner.pre_spawn_hook`` (bound to the roster's ``roles`` and the
    ``exchange`` by :func:`configure`): role settings, a private home, the first copy."""
    name = spawner.user.name
    role = roles.get(name)
    if role is None:
        raise TPMLabError(
            f"{name} is not on the class roster.",
            "Add a line `username,role` for them to the roster and restart the hub.",
        )
    spawner.environment.update(role_environment(role, exchange))
    if os.geteuid() != 0:
        return  # a hub that is not root spawns only its own user: nothing to copy as someone else
    account = pwd.getpwnam(name)
    home = Path(account.pw_dir)
    os.chmod(home, 0o700)
    _copy_as(account, role)


def configure(c, roster: str | os.PathLike, exchange: str = DEFAULT_EXCHANGE) -> dict[str, str]:
    """Fill the JupyterHub config ``c`` for the class of ``roster``: local accounts (PAM) of the
    roster only, the groups ``instructors`` and ``students``, one server per account started as
    that account (LocalProcessSpawner) from this environment, with :func:`pre_spawn_hook`."""
    roles = read_roster(roster)
    c.JupyterHub.authenticator_class = "pam"
    c.Authenticator.allowed_users = set(roles)
    c.JupyterHub.load_groups = {
        "instructors": {"users": sorted(n for n, r in roles.items() if r == "instructor")},
        "students": {"users": sorted(n for n, r in roles.items() if r == "student")},
    }
    c.JupyterHub.spawner_class = "localprocess"
    c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    c.Spawner.notebook_dir = "~"
    c.Spawner.default_url = "/lab"
    c.Spawner.http_timeout = 120
    c.Spawner.start_timeout = 180
    c.Spawner.pre_spawn_hook = functools.partial(pre_spawn_hook, roles=roles, exchange=exchange)
    return roles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tpmlab.hub", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("copy-course", help="copy the course into ~/tpm-skills-lab (first login)")
    p.add_argument("--role", choices=ROLES, required=True)
    p.add_argument("--home", type=Path, default=Path.home())
    args = parser.parse_args(argv)
    try:
        copied = copy_course(args.home, args.role)
    except TPMLabError as exc:
        print(exc, file=sys.stderr)
        return 2
    where = args.home / HOME_COURSE
    print(f"copied {len(copied)} parts of the course into {where}" if copied else f"{where} kept")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
