"""Sandboxed kernels for autograding: each student's code runs in a bubblewrap jail.

The autograder forces the kernelspec ``tpmlab-sandbox`` (see :func:`install_kernelspec`), whose
command is this module's launcher: ``python -m tpmlab.grading.sandbox -f {connection_file}``.
The launcher runs as the grader (root) and starts ``ipykernel`` inside ``bwrap`` with:

- new PID, IPC, UTS, cgroup and **network** namespaces (no network at all, not even the
  grader's localhost), a new session (no terminal injection), and ``--die-with-parent``: when
  the kernel ends, every process the submission started ends with it;
- a read-only view of the system (``/usr``, the library links, a few files of ``/etc``), the
  Python installation, the virtualenv, the ``tpmlab`` package and Orbit's datasets; nothing else
  of the machine: no course folder, no gradebook, no notebooks, no other student, no ``/root``;
- a private working directory ``/assignment`` holding a fresh copy of the assignment's data files
  only (never the notebooks, never files the student submitted), ``/tmp`` and a home directory:
  three size-limited tmpfs inside the sandbox (:data:`LIMITS` ``scratch``, ``tmpfs``, ``home``,
  256 MiB in all), gone with it; nothing the kernel writes there reaches the grader's disk;
- an unprivileged user of its own: each running sandbox takes a free uid from a range reserved
  for the grader (``61000-61127`` by default, ``TPMLAB_SANDBOX_UID_BASE`` moves it), with no
  capabilities and ``no_new_privs``;
- resource limits (``RLIMIT_AS``, ``NPROC``, ``FSIZE``, ``NOFILE``, ``CPU``);
- the kernel's sockets are ZMQ ``ipc://`` files in a directory shared with the grader (the
  connection file's directory, absolute and unique per kernel), because TCP cannot cross the
  network namespace. The launcher mounts a tiny tmpfs there (:data:`SOCKET_DIR_BYTES`, a few
  inodes), so the one host folder the kernel can write holds sockets and next to nothing else.

The launcher refuses to start a kernel that is not configured for IPC, and any failure to build
the sandbox is a kernel that does not start: grading then fails loudly, never silently
unsandboxed. :func:`probe` checks a machine before a batch; :func:`require` turns its answer into
an error that says how to install bubblewrap.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tpmlab import paths
from tpmlab.errors import TPMLabError

KERNEL_NAME = "tpmlab-sandbox"
UID_BASE = int(os.environ.get("TPMLAB_SANDBOX_UID_BASE", "61000"))
UID_SLOTS = 128
WORKDIR = "/assignment"  # the scratch directory, as the kernel sees it
HOME = "/home/student"
MIB = 1024 * 1024

#: Default limits; the worker passes the CPU limit (the per-student time limit) per job.
LIMITS = {
    "memory": 2048 * MIB,  # address space, bytes
    "nproc": 128,  # processes and threads of the sandbox's uid
    "fsize": 64 * MIB,  # largest file it may write, bytes
    "nofile": 256,  # open files
    "cpu": 300,  # CPU seconds
    # everything the sandbox can write, 256 MiB in all (tmpfs inside the sandbox, in memory:
    # where there is a memory cgroup, it counts towards the memory limit too)
    "scratch": 160 * MIB,  # the working directory /assignment
    "tmpfs": 64 * MIB,  # /tmp
    "home": 32 * MIB,  # the home directory
}
#: The host folder of the kernel's sockets: a tmpfs of this size and this many inodes.
SOCKET_DIR_BYTES = 256 * 1024
SOCKET_DIR_INODES = 32

INSTALL_HINT = (
    "Grade on a Linux machine as root with bubblewrap installed (Debian/Ubuntu: "
    "`sudo apt-get install bubblewrap`), then run the command again as root. Only if this "
    "machine and account hold nothing of value may you grade unsandboxed with `--unsafe`."
)

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


class SandboxUnavailable(TPMLabError):
    """This machine cannot run sandboxed kernels (no bubblewrap, not root, ...)."""


# ---- what the sandbox sees --------------------------------------------------------------------
def _python_dirs() -> list[Path]:
    """The Python installation, the virtualenv and the tpmlab package (all read-only)."""
    dirs = {
        Path(sys.base_prefix).resolve(),
        Path(sys.prefix).resolve(),
        Path(sys.executable).resolve().parent.parent,
        Path(__file__).resolve().parent.parent,  # the tpmlab package
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
    }
    # the coordinator finds (and kills) everything of a worker by this token
    for key in ("TPMLAB_WORKER_TOKEN", "TPMLAB_DATA_DIR"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def _write_identity(meta: Path, uid: int) -> None:
    (meta / "passwd").write_text(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"student:x:{uid}:{uid}:student:{HOME}:/usr/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    (meta / "group").write_text(f"root:x:0:\nstudent:x:{uid}:\nnogroup:x:65534:\n")
    for name in ("passwd", "group"):
        os.chmod(meta / name, 0o644)


def _private_dir(name: str) -> Path:
    """A root-owned directory under the temporary folder that nobody else can have planted."""
    path = Path(tempfile.gettempdir()) / name
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o711)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise SandboxUnavailable(
            f"{path} exists but is not a private directory of this user.",
            f"Remove {path} and run the grader again.",
        )
    return path


class _UidSlot:
    """A uid of the reserved range that no other running sandbox holds (a file lock)."""

    def __init__(self):
        locks = _private_dir("tpmlab-sandbox-slots")
        for slot in range(UID_SLOTS):
            fd = os.open(locks / f"{slot}.lock", os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.fd, self.uid = fd, UID_BASE + slot
            return
        raise SandboxUnavailable(
            f"All {UID_SLOTS} sandbox user ids are in use.", "Grade with fewer workers."
        )

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def assignment_files(source: Path | None) -> list[Path]:
    """The assignment's data files and folders (everything but notebooks and caches), relative
    to ``source``, parents before children: what the sandbox's working directory starts with."""
    if source is None or not source.is_dir():
        return []
    skip = {".ipynb_checkpoints", "__pycache__", "feedback"}
    found = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_symlink() or any(p in skip or p.startswith(".") for p in rel.parts):
            continue
        if path.is_dir() or path.suffix != ".ipynb":
            found.append(rel)
    return found


# ---- mounts the launcher makes on the host (root only) ----------------------------------------
MNT_DETACH = 2


def _libc():
    import ctypes
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def mount_tmpfs(path: Path, size: int, inodes: int, uid: int) -> None:
    """Mount a tmpfs of ``size`` bytes and ``inodes`` inodes, owned by ``uid`` (mode 0700), on
    the host folder ``path``."""
    import ctypes

    options = f"size={size},nr_inodes={inodes},mode=0700,uid={uid},gid={uid}".encode()
    if _libc().mount(b"tmpfs", str(path).encode(), b"tmpfs", 0, options) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot mount a tmpfs on {path}: {os.strerror(err)}")


def _unescape_mount_path(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def release_mounts(base: Path | str) -> None:
    """Detach every mount at or under ``base`` (deepest first): the socket-folder tmpfs a
    launcher killed before it could clean up leaves behind."""
    base = os.path.realpath(base)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            point = _unescape_mount_path(fields[4])
            if point == base or point.startswith(base.rstrip("/") + "/"):
                points.append(point)
    if not points:
        return
    libc = _libc()
    for point in sorted(points, key=len, reverse=True):
        libc.umount2(point.encode(), MNT_DETACH)


def _set_limits(limits: dict):
    def apply():
        for res, value in [
            (resource.RLIMIT_AS, limits["memory"]),
            (resource.RLIMIT_NPROC, limits["nproc"]),
            (resource.RLIMIT_FSIZE, limits["fsize"]),
            (resource.RLIMIT_NOFILE, limits["nofile"]),
            (resource.RLIMIT_CPU, limits["cpu"]),
            (resource.RLIMIT_CORE, 0),
        ]:
            resource.setrlimit(res, (value, value))

    return apply


def limits_from_env() -> dict:
    limits = dict(LIMITS)
    with contextlib.suppress(ValueError, TypeError):
        limits.update(json.loads(os.environ.get("TPMLAB_SANDBOX_LIMITS", "{}")))
    return limits


CGROUP_ROOT = Path("/sys/fs/cgroup")


class Cgroups:
    """Memory and process limits on the whole sandbox (all its processes together), where the
    machine lets root make cgroups: v2 (``memory.max``, ``pids.max``) or v1 (the ``memory`` and
    ``pids`` hierarchies). ``RLIMIT_AS`` caps one process; without a cgroup, several processes of
    one submission could each take that much. Where no cgroup can be made, :attr:`active` is
    false and the rlimits alone apply."""

    def __init__(self, name: str, memory: int, nproc: int, root: Path = CGROUP_ROOT):
        self.dirs: list[Path] = []
        try:
            if (root / "cgroup.controllers").exists():  # cgroup v2 (unified)
                parent = root / "tpmlab"
                parent.mkdir(exist_ok=True)
                wanted = {"memory", "pids"} & set((root / "cgroup.controllers").read_text().split())
                for level in (root, parent):
                    (level / "cgroup.subtree_control").write_text(
                        " ".join(f"+{c}" for c in sorted(wanted))
                    )
                box = parent / name
                box.mkdir()
                self.dirs.append(box)
                if "memory" in wanted:
                    (box / "memory.max").write_text(str(memory))
                    with contextlib.suppress(OSError):
                        (box / "memory.swap.max").write_text("0")
                if "pids" in wanted:
                    (box / "pids.max").write_text(str(nproc))
            else:  # cgroup v1
                for controller, limits in (
                    ("memory", {"memory.limit_in_bytes": memory}),
                    ("pids", {"pids.max": nproc}),
                ):
                    if not (root / controller / "cgroup.procs").exists():
                        continue
                    box = root / controller / "tpmlab" / name
                    box.mkdir(parents=True)
                    self.dirs.append(box)
                    for file, value in limits.items():
                        (box / file).write_text(str(value))
        except OSError:
            self.close()

    @property
    def active(self) -> bool:
        return bool(self.dirs)

    def join(self) -> None:
        """Move the calling process (and so everything it starts) into the cgroups."""
        for box in self.dirs:
            (box / "cgroup.procs").write_text(str(os.getpid()))

    def close(self) -> None:
        """Kill whatever is left inside, then remove the cgroups."""
        for box in self.dirs:

            def members(box=box) -> list[int]:
                try:
                    return [int(p) for p in (box / "cgroup.procs").read_text().split()]
                except OSError:
                    return []

            kill_all(members, rounds=50, pause=0.02)
            with contextlib.suppress(OSError):
                box.rmdir()
        self.dirs = []


def kill_all(find_pids, rounds: int, pause: float) -> None:
    """SIGKILL every process ``find_pids()`` lists, again until it lists none (or ``rounds``
    passes): processes may start others while they are being killed."""
    for _ in range(rounds):
        pids = find_pids()
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(pause)


class Sandbox:
    """One sandbox: a uid, a private scratch directory, and the ``bwrap`` command around it."""

    def __init__(self, shared: list | tuple = (), files_from: Path | None = None, limits=None):
        self.limits = {**LIMITS, **(limits or limits_from_env())}
        self.slot = _UidSlot()
        self.uid = self.slot.uid
        # under the worker's directory when there is one: the coordinator removes it even when it
        # has to kill the launcher
        base = os.environ.get("TPMLAB_SANDBOX_DIR")
        self.root = Path(tempfile.mkdtemp(prefix="box-", dir=base if base else None))
        self.meta = self.root / "meta"
        self.meta.mkdir(mode=0o755)
        os.chmod(self.meta, 0o755)  # whatever the umask: the kernel reads it
        _write_identity(self.meta, self.uid)
        self.files_from = files_from
        self.files = assignment_files(files_from)
        self.shared = [Path(p) for p in shared]
        self.mounted: list[Path] = []
        try:
            for folder in self.shared:
                # the kernel must create its sockets here, so it can write here: a tiny tmpfs
                # keeps it from filling the grader's disk through this folder
                mount_tmpfs(folder, SOCKET_DIR_BYTES, SOCKET_DIR_INODES, self.uid)
                self.mounted.append(folder)
        except OSError:
            self.close()
            raise
        self.cgroups = Cgroups(self.root.name, self.limits["memory"], self.limits["nproc"])

    def popen(self, argv: list[str], extra_env: dict | None = None, **kwargs) -> subprocess.Popen:
        set_limits = _set_limits(self.limits)
        opened: list[int] = []
        try:
            files: list[tuple[str, int | None]] = []
            for rel in self.files:
                assert self.files_from is not None  # no files without a folder to take them from
                path = self.files_from / rel
                if path.is_dir():
                    files.append((rel.as_posix(), None))
                else:  # bwrap copies each data file into the sandbox's tmpfs from this fd
                    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                    opened.append(fd)
                    files.append((rel.as_posix(), fd))
            env = {**sandbox_env(self.uid), **(extra_env or {})}
            command = [
                *bwrap_args(self.uid, files, self.meta, self.shared, self.limits, env),
                *argv,
            ]

            def before_exec():
                self.cgroups.join()
                set_limits()

            pass_fds = tuple(opened) + tuple(kwargs.pop("pass_fds", ()))
            return subprocess.Popen(command, preexec_fn=before_exec, pass_fds=pass_fds, **kwargs)
        finally:
            for fd in opened:
                os.close(fd)

    def close(self) -> None:
        if getattr(self, "cgroups", None) is not None:
            self.cgroups.close()
        for folder in self.mounted:
            release_mounts(folder)
        self.mounted = []
        shutil.rmtree(self.root, ignore_errors=True)
        self.slot.release()


def _kernel_manager_class():
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum

    class SandboxKernelManager(AsyncKernelManager):
        """A kernel manager whose kernels talk over ``ipc://`` sockets in a fresh private
        directory (absolute, unique per kernel), the only channel that crosses the sandbox's
        network namespace. The worker selects it with ``Execute.kernel_manager_class``."""

        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        def _ip_default(self) -> str:
            base = os.environ.get("TPMLAB_SANDBOX_IPC_DIR") or tempfile.gettempdir()
            return str(Path(tempfile.mkdtemp(prefix="k", dir=base)) / "kernel")

    SandboxKernelManager.__module__ = __name__
    return SandboxKernelManager


def __getattr__(name: str):
    # ``SandboxKernelManager`` is built on first use: the kernel launcher (this module's main)
    # starts faster without importing jupyter_client.
    if name == "SandboxKernelManager":
        cls = globals()["SandboxKernelManager"] = _kernel_manager_class()
        return cls
    raise AttributeError(name)


def prepare_data(source: Path) -> list[Path]:
    """Build, outside the sandbox, the re-seeded copies of Orbit that ``source``'s hidden tests
    open (``reseeded_engine(2031)``): inside, the datasets folder is read-only."""
    from tpmlab import data

    built = []
    pattern = re.compile(r"reseeded_engine\(\s*(\d+)\s*(?:,\s*(?:scale\s*=\s*)?([0-9.]+)\s*)?\)")
    wanted = set()
    for nb in sorted(Path(source).glob("*.ipynb")):
        for seed, scale in pattern.findall(nb.read_text()):
            wanted.add((int(seed), float(scale) if scale else 0.25))
    for seed, scale in sorted(wanted):
        data.reseeded_engine(seed, scale).dispose()
        built.append(data.reseeded_path(seed, scale))
    return built


#: What a sandbox refusal looks like in a cell's output, and the flag it earns.
REFUSALS = {
    "MemoryError": "memory limit",
    "[Errno 11] Resource temporarily unavailable": "process limit",
    "[Errno 27] File too large": "file size limit",
    "[Errno 24] Too many open files": "open files limit",
    "[Errno 28] No space left on device": "disk limit",
    "[Errno 30] Read-only file system": "write outside the scratch directory",
    "[Errno 13] Permission denied": "permission denied",
    "[Errno 101] Network is unreachable": "network",
    "[Errno 111] Connection refused": "network",
    "[Errno -3] Temporary failure in name resolution": "network",
    "... Output truncated ...": "output flood",
}


def runtime_flags(folder: Path) -> list[str]:
    """Review flags for the sandbox limits a graded submission ran into (read from the
    outputs of the autograded notebooks in ``folder``)."""
    import nbformat

    found: list[str] = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception:  # an unreadable notebook is flagged elsewhere
            continue
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                text = out.get("text", "") if out.get("output_type") == "stream" else ""
                if out.get("output_type") == "error":
                    text = f"{out.get('ename')}: {out.get('evalue')}"
                for needle, label in REFUSALS.items():
                    flag = f"sandbox refused: {label}"
                    if needle in text and flag not in found:
                        found.append(flag)
    return found


# ---- checks before a batch --------------------------------------------------------------------
def probe() -> str | None:
    """None when sandboxed kernels work on this machine, else the reason they do not."""
    if sys.platform != "linux":
        return "sandboxed kernels need Linux (bubblewrap)."
    if shutil.which("bwrap") is None:
        return "bubblewrap (`bwrap`) is not installed."
    if shutil.which("setpriv") is None:
        return "`setpriv` (util-linux) is not installed."
    if os.geteuid() != 0:
        return "the grader must run as root to give each student's kernel a user of its own."
    try:
        box = Sandbox()
    except (OSError, TPMLabError) as exc:
        return f"the sandbox could not be prepared: {exc}"
    try:
        code = "import os, socket; print(os.getuid(), os.getcwd(), socket.gethostname())"
        proc = box.popen(
            [sys.executable, "-I", "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            return "a trivial sandboxed command did not finish in 60 s."
        expected = f"{box.uid} {WORKDIR} grader"
        if proc.returncode != 0 or out.strip() != expected:
            detail = (err.strip().splitlines() or ["no output"])[-1]
            return f"bubblewrap could not start a sandbox here ({detail})."
        return None
    finally:
        box.close()


def require(unsafe: bool = False) -> bool:
    """True when grading will be sandboxed; raise :class:`SandboxUnavailable` when it cannot be
    and the instructor did not pass ``unsafe``. With ``unsafe`` the sandbox is not used."""
    if unsafe:
        return False
    reason = probe()
    if reason:
        raise SandboxUnavailable(
            f"Autograding runs students' code, and it cannot be sandboxed here: {reason}",
            INSTALL_HINT,
        )
    return True


def install_kernelspec(prefix: Path) -> Path:
    """Write the ``tpmlab-sandbox`` kernelspec under ``prefix/kernels`` (put ``prefix`` on
    ``JUPYTER_PATH``); returns its folder."""
    folder = Path(prefix) / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "tpmlab.grading.sandbox", "-f", "{connection_file}"],
        "display_name": "Python 3 (tpmlab grading sandbox)",
        "language": "python",
        # signals cannot reach a kernel in another PID namespace: interrupt by message
        "interrupt_mode": "message",
        "metadata": {"debugger": False},
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1))
    return folder


# ---- the kernel launcher ----------------------------------------------------------------------
def _fail(message: str) -> int:
    print(f"tpmlab sandbox: {message}", file=sys.stderr, flush=True)
    return 3


def _relay_evidence(read_end: int, path: str | None, proc: subprocess.Popen) -> None:
    """Copy the kernel's reports (:mod:`tpmlab.grading.sentinel`) from the pipe to the evidence
    file ``path`` (at most ``MAX_EVIDENCE_BYTES``; the rest is read and dropped)."""
    from tpmlab.grading.sentinel import MAX_EVIDENCE_BYTES

    out = None
    if path:
        with contextlib.suppress(OSError):
            out = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    kept = 0
    try:
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except OSError:
                break
            if not chunk:
                break
            if out is not None and kept < MAX_EVIDENCE_BYTES:
                chunk = chunk[: MAX_EVIDENCE_BYTES - kept]
                kept += len(chunk)
                with contextlib.suppress(OSError):
                    os.write(out, chunk)
        # the pipe closed: normal when the kernel ends; while it still runs, the submission
        # closed it
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            if out is not None:
                line = b'\n{"kind": "reports channel closed while the kernel ran"}\n'
                with contextlib.suppress(OSError):
                    os.write(out, line)
    finally:
        os.close(read_end)
        if out is not None:
            os.close(out)


def main(argv: list[str] | None = None) -> int:
    """``python -m tpmlab.grading.sandbox -f CONNECTION_FILE``: ipykernel inside the sandbox."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 2 or argv[0] != "-f":
        return _fail("usage: python -m tpmlab.grading.sandbox -f CONNECTION_FILE")
    connection_file = Path(argv[1]).resolve()
    info = json.loads(connection_file.read_text())
    if info.get("transport") != "ipc" or not os.path.isabs(info.get("ip", "")):
        return _fail(
            "the sandboxed kernel needs the IPC transport with an absolute path "
            "(KernelManager.transport = 'ipc'); refusing to start it."
        )
    socket_dir = Path(info["ip"]).parent
    if len(info["ip"]) > 95:
        return _fail(f"the IPC socket path {info['ip']} is too long for a unix socket.")
    try:
        reason = None if os.geteuid() == 0 and shutil.which("bwrap") else "no bwrap or not root"
        if reason:
            return _fail(f"cannot sandbox this kernel: {reason}. {INSTALL_HINT}")
        files = os.environ.get("TPMLAB_SANDBOX_FILES")
        box = Sandbox(shared=[socket_dir], files_from=Path(files) if files else None)
    except (OSError, TPMLabError) as exc:
        return _fail(f"cannot prepare the sandbox: {exc}")
    try:
        conn_copy = box.meta / "kernel.json"
        conn_copy.write_text(json.dumps(info))
        os.chown(conn_copy, box.uid, box.uid)
        os.chmod(conn_copy, 0o400)
        from tpmlab.grading import sentinel

        read_end, write_end = os.pipe()
        try:
            proc = box.popen(
                [sys.executable, "-m", "tpmlab.grading.sentinel", "-f", "/run/tpmlab/kernel.json"],
                extra_env={sentinel.FD_ENV: str(write_end)},
                stdin=subprocess.DEVNULL,
                pass_fds=(write_end,),
            )
        finally:
            os.close(write_end)
        relay = threading.Thread(
            target=_relay_evidence,
            args=(read_end, os.environ.get(sentinel.FILE_ENV), proc),
            daemon=True,
        )
        relay.start()

        def stop(signum, frame):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()  # bwrap's --die-with-parent takes the whole sandbox down

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts arrive as messages
        code = proc.wait()
        relay.join(timeout=5)
        return code
    finally:
        box.close()


if __name__ == "__main__":
    sys.exit(main())
