"""The ``bwrap ... setpriv ...`` command line: what the kernel sees (read-only system, Python,
tpmlab and the datasets; size-limited tmpfs for its working directory, ``/tmp`` and home),
its namespaces, its user and its whole environment."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tpmlab import paths
from tpmlab.grading.sandbox.config import HOME, WORKDIR

# Files of /etc a Python kernel reads; the rest of /etc (and every secret in it) is not mounted.
ETC_FILES = [
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "fonts",
    "ssl",
    "ca-certificates",
    "mime.types",
    "nsswitch.conf",
    "host.conf",
    "hosts",
    "alternatives",
    "matplotlibrc",
]


def _python_dirs() -> list[Path]:
    """The Python installation, the virtualenv and the tpmlab package (all read-only)."""
    dirs = {
        Path(sys.base_prefix).resolve(),
        Path(sys.prefix).resolve(),
        Path(sys.executable).resolve().parent.parent,
        Path(paths.__file__).resolve().parent,  # the tpmlab package
    }
    # an interpreter outside its prefix (a symlinked venv python) needs its own directory
    return sorted(d for d in dirs if d.exists())


def _data_dir() -> Path | None:
    folder = paths.data_dir()
    return folder if folder.is_dir() else None


def bwrap_args(
    uid: int,
    files: list[tuple[str, int | None]],
    meta: Path,
    shared: list[Path],
    limits: dict,
    env: dict[str, str],
) -> list[str]:
    """The ``bwrap ... setpriv ...`` prefix of a sandboxed command.

    The working directory is a fresh tmpfs; ``files`` are what to put in it (a relative path and
    an open file descriptor to copy from, or None for a directory); ``meta`` holds the generated
    passwd/group files and the kernel's copy of its connection file; ``shared`` are read-write
    directories seen at the same path inside (the IPC socket directory).
    """
    args = [
        "bwrap",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "grader",
        "--clearenv",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "CAP_SETUID",
        "--cap-add",
        "CAP_SETGID",
        "--cap-add",
        "CAP_SETPCAP",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    # bwrap makes missing mount points 0700 (root): the kernel must be able to traverse them
    args += ["--perms", "0755", "--dir", "/etc", "--perms", "0755", "--dir", "/run"]
    for name in ETC_FILES:
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    args += ["--ro-bind", str(meta / "passwd"), "/etc/passwd"]
    args += ["--ro-bind", str(meta / "group"), "/etc/group"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(limits["tmpfs"]), "--tmpfs", "/tmp"]
    args += ["--perms", "0755", "--dir", "/home"]
    # the only user inside is the student
    args += ["--perms", "0777", "--size", str(limits["home"]), "--tmpfs", HOME]
    made: set[str] = set()
    for folder in _python_dirs():
        args += [*_parents(folder, made), "--ro-bind", str(folder), str(folder)]
    data = _data_dir()
    if data is not None:
        args += [*_parents(data, made), "--ro-bind", str(data), str(data)]
    for folder in shared:
        args += [*_parents(folder, made), "--bind", str(folder), str(folder)]
    args += ["--ro-bind", str(meta), "/run/tpmlab"]
    args += ["--perms", "0777", "--size", str(limits["scratch"]), "--tmpfs", WORKDIR]
    for rel, fd in files:
        target = f"{WORKDIR}/{rel}"
        if fd is None:
            args += ["--perms", "0777", "--dir", target]
        else:
            args += ["--perms", "0666", "--file", str(fd), target]
    args += ["--chdir", WORKDIR]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += [
        "--",
        shutil.which("setpriv") or "/usr/bin/setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]
    return args


def host_paths() -> list[Path]:
    """Everything of the host that :func:`bwrap_args` mounts into the sandbox (read-only), with
    symlinks resolved: the kernel sees these paths and whatever lies below them, nothing else of
    the host's file system (its working directory, ``/tmp`` and home are fresh tmpfs)."""
    found = [Path("/usr")]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_dir() and not path.is_symlink():
            found.append(path)
    found += [Path("/etc") / name for name in ETC_FILES if (Path("/etc") / name).exists()]
    found += _python_dirs()
    data = _data_dir()
    if data is not None:
        found.append(data)
    return [p.resolve() for p in found]


def seen_through(path: Path) -> Path | None:
    """The mounted host path through which a sandboxed kernel would see ``path`` (``path``
    itself or a folder above it), or None when the sandbox cannot see it."""
    target = Path(path).resolve()
    for mounted in host_paths():
        if target == mounted or mounted in target.parents:
            return mounted
    return None


def _parents(path: Path, made: set[str]) -> list[str]:
    """bwrap makes missing mount points private (0700); make them traversable (0755)."""
    out = []
    for parent in reversed(path.parents):
        if str(parent) in ("/", "/tmp", "/home") or str(parent) in made:
            continue
        made.add(str(parent))
        out += ["--perms", "0755", "--dir", str(parent)]
    return out


def sandbox_env(uid: int) -> dict[str, str]:
    """The whole environment of the kernel (bwrap clears everything else)."""
    venv_bin = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": HOME,
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "TPMLAB_SANDBOXED": "1",
        # RLIMIT_AS counts address space, not memory used: glibc reserves up to 64 MiB per thread
        # for its malloc arenas, so a threaded library (DuckDB, dbt) would exhaust the cap
        # without using the memory. Two arenas keep the cap a limit on memory.
        "MALLOC_ARENA_MAX": "2",
    }
    # the coordinator finds (and kills) everything of a worker by this token
    for key in ("TPMLAB_WORKER_TOKEN", "TPMLAB_DATA_DIR"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def write_identity(meta: Path, uid: int) -> None:
    (meta / "passwd").write_text(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"student:x:{uid}:{uid}:student:{HOME}:/usr/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    (meta / "group").write_text(f"root:x:0:\nstudent:x:{uid}:\nnogroup:x:65534:\n")
    for name in ("passwd", "group"):
        os.chmod(meta / name, 0o644)
