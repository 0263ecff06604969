"""What the launcher sets up on the host, as root, around one sandbox: a uid of the reserved
range, the tiny tmpfs of the socket folder, the rlimits, the cgroups, and killing whatever is
left."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import resource
import signal
import stat
import tempfile
import time
from pathlib import Path

from tpmlab.grading.sandbox.config import UID_BASE, UID_SLOTS, SandboxUnavailable


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


class UidSlot:
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


def set_limits(limits: dict):
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
