"""One sandbox: its uid, its private folder, its socket-folder mounts and cgroups, and the
process started in it (:meth:`Sandbox.popen`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tpmlab.grading.sandbox.config import (
    LIMITS,
    SOCKET_DIR_BYTES,
    SOCKET_DIR_INODES,
    limits_from_env,
)
from tpmlab.grading.sandbox.host import Cgroups, UidSlot, mount_tmpfs, release_mounts, set_limits
from tpmlab.grading.sandbox.jail import bwrap_args, sandbox_env, write_identity


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


class Sandbox:
    """One sandbox: a uid, a private scratch directory, and the ``bwrap`` command around it."""

    def __init__(self, shared: list | tuple = (), files_from: Path | None = None, limits=None):
        self.limits = {**LIMITS, **(limits or limits_from_env())}
        self.slot = UidSlot()
        self.uid = self.slot.uid
        # under the worker's directory when there is one: the coordinator removes it even when it
        # has to kill the launcher
        base = os.environ.get("TPMLAB_SANDBOX_DIR")
        self.root = Path(tempfile.mkdtemp(prefix="box-", dir=base if base else None))
        self.meta = self.root / "meta"
        self.meta.mkdir(mode=0o755)
        os.chmod(self.meta, 0o755)  # whatever the umask: the kernel reads it
        write_identity(self.meta, self.uid)
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
        apply_limits = set_limits(self.limits)
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
                apply_limits()

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
