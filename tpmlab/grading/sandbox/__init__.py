"""Sandboxed kernels for autograding: each student's code runs in a bubblewrap jail.

The autograder forces the kernelspec ``tpmlab-sandbox`` (see :func:`install_kernelspec`), whose
command is the package's launcher: ``python -m tpmlab.grading.sandbox -f {connection_file}``.
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

One module per part: :mod:`~tpmlab.grading.sandbox.config` (names, paths and limits),
:mod:`~tpmlab.grading.sandbox.jail` (the bubblewrap command line),
:mod:`~tpmlab.grading.sandbox.host` (uid slots, mounts, rlimits, cgroups),
:mod:`~tpmlab.grading.sandbox.box` (one sandbox), :mod:`~tpmlab.grading.sandbox.kernel`
(kernelspec, kernel manager, data, refusal flags) and :mod:`~tpmlab.grading.sandbox.launcher`
(the kernel launcher and its evidence relay). The checks before a batch are here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tpmlab.errors import TPMLabError
from tpmlab.grading.sandbox.box import Sandbox, assignment_files
from tpmlab.grading.sandbox.config import (
    HOME,
    INSTALL_HINT,
    KERNEL_NAME,
    LIMITS,
    MIB,
    SOCKET_DIR_BYTES,
    SOCKET_DIR_INODES,
    UID_BASE,
    UID_SLOTS,
    WORKDIR,
    SandboxUnavailable,
    limits_from_env,
)
from tpmlab.grading.sandbox.host import CGROUP_ROOT, Cgroups, kill_all, mount_tmpfs, release_mounts
from tpmlab.grading.sandbox.jail import ETC_FILES, bwrap_args, sandbox_env
from tpmlab.grading.sandbox.kernel import (
    REFUSALS,
    install_kernelspec,
    kernel_manager_class,
    prepare_data,
    runtime_flags,
)
from tpmlab.grading.sandbox.launcher import main

__all__ = [
    "CGROUP_ROOT",
    "ETC_FILES",
    "HOME",
    "INSTALL_HINT",
    "KERNEL_NAME",
    "LIMITS",
    "MIB",
    "REFUSALS",
    "SOCKET_DIR_BYTES",
    "SOCKET_DIR_INODES",
    "UID_BASE",
    "UID_SLOTS",
    "WORKDIR",
    "Cgroups",
    "Sandbox",
    "SandboxKernelManager",
    "SandboxUnavailable",
    "assignment_files",
    "bwrap_args",
    "install_kernelspec",
    "kernel_manager_class",
    "kill_all",
    "limits_from_env",
    "main",
    "mount_tmpfs",
    "prepare_data",
    "probe",
    "release_mounts",
    "require",
    "runtime_flags",
    "sandbox_env",
]


def __getattr__(name: str):
    # ``SandboxKernelManager`` is built on first use: the kernel launcher
    # starts faster without importing jupyter_client.
    if name == "SandboxKernelManager":
        cls = globals()["SandboxKernelManager"] = kernel_manager_class()
        return cls
    raise AttributeError(name)


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
