"""What every part of the sandbox agrees on: the kernel's name, the paths it sees, its
default resource limits and the hint that says how to install bubblewrap."""

from __future__ import annotations

import contextlib
import json
import os

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


class SandboxUnavailable(TPMLabError):
    """This machine cannot run sandboxed kernels (no bubblewrap, not root, ...)."""


def limits_from_env() -> dict:
    limits = dict(LIMITS)
    with contextlib.suppress(ValueError, TypeError):
        limits.update(json.loads(os.environ.get("TPMLAB_SANDBOX_LIMITS", "{}")))
    return limits
