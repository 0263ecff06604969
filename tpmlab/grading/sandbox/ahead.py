"""A sandboxed kernel started ahead of need: while one student's notebook runs, the grading
worker starts the next student's kernel, so its start-up (bubblewrap, Python, ipykernel, and
the assignment's libraries imported in advance) overlaps the current student instead of
following it.

A kernel started ahead is a fresh sandbox and a fresh interpreter that has run no student's
code: the course's libraries it imports in advance (:data:`PRELOAD_ENV`, read by
:func:`tpmlab.grading.sentinel.main` before ipykernel starts) are trusted code. It serves one
student only: :func:`take` hands it over once, it is shut down when that student's notebook
has run, and one that was not taken (the job failed before running a notebook, or the next job
has other settings) is shut down unused: nothing passes from one student to the next.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tpmlab.grading.sandbox.config import KERNEL_NAME

#: The kernel's environment variable naming the modules to import before ipykernel starts.
PRELOAD_ENV = "TPMLAB_SANDBOX_PRELOAD"
#: The libraries a kernel started ahead may import in advance (when the assignment imports them).
PRELOADABLE = ("pandas", "numpy", "sqlalchemy", "scipy.stats", "requests", "tpmlab")
_IMPORT = re.compile(r"^[ \t]*(?:import|from)[ \t]+([A-Za-z_][\w.]*)", re.M)
_NAME = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def preload_modules(source: Path) -> list[str]:
    """The modules of :data:`PRELOADABLE` that ``source``'s notebooks import (``tpmlab``'s own
    modules one by one)."""
    found: set[str] = set()
    for nb in sorted(Path(source).glob("*.ipynb")):
        try:
            cells = json.loads(nb.read_text()).get("cells", [])
        except (OSError, ValueError):
            continue
        for cell in cells:
            if cell.get("cell_type") != "code":
                continue
            text = "".join(cell.get("source", ""))
            for name in _IMPORT.findall(text):
                for allowed in PRELOADABLE:
                    if name == allowed or name.startswith(allowed + "."):
                        found.add(name if allowed == "tpmlab" else allowed)
    return sorted(n for n in found if _NAME.match(n))


@dataclass(frozen=True)
class Settings:
    """What a kernel is started with: the assignment's data files, the limits, the preloads."""

    source_dir: str
    limits: str  # JSON
    preload: str  # comma-separated module names


class AheadKernel:
    """One sandboxed kernel, started now for a student graded later."""

    def __init__(self, settings: Settings, base: Path, config=None):
        from jupyter_core.utils import run_sync

        from tpmlab.grading import sandbox, sentinel

        self.settings = settings
        self.ipc_dir = Path(tempfile.mkdtemp(prefix="job", dir=base))
        fd, evidence = tempfile.mkstemp(prefix="evidence-", suffix=".jsonl", dir=self.ipc_dir)
        os.close(fd)
        self.evidence = evidence
        socket = Path(tempfile.mkdtemp(prefix="k", dir=self.ipc_dir)) / "kernel"
        self.km = sandbox.SandboxKernelManager(
            kernel_name=KERNEL_NAME, transport="ipc", ip=str(socket), config=config
        )
        env = {
            **os.environ,
            "TPMLAB_SANDBOX_IPC_DIR": str(self.ipc_dir),
            "TPMLAB_SANDBOX_FILES": settings.source_dir,
            "TPMLAB_SANDBOX_LIMITS": settings.limits,
            sentinel.FILE_ENV: evidence,
            PRELOAD_ENV: settings.preload,
        }
        try:
            run_sync(self.km.start_kernel)(env=env)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Shut the kernel down (if it still runs) and remove its folder."""
        from jupyter_core.utils import run_sync

        from tpmlab.grading.sandbox.host import release_mounts

        with contextlib.suppress(Exception):
            if self.km.has_kernel:
                run_sync(self.km.shutdown_kernel)(now=True)
        release_mounts(self.ipc_dir)
        shutil.rmtree(self.ipc_dir, ignore_errors=True)


_waiting: AheadKernel | None = None  # started for the next student
_handed: AheadKernel | None = None  # given to the current student, not yet taken


def hand_over(settings: Settings) -> None:
    """Make the kernel started ahead the current student's (once), if it was started with the
    same ``settings``; otherwise shut it down."""
    global _waiting, _handed
    drop_unused()
    waiting, _waiting = _waiting, None
    if waiting is None:
        return
    alive = waiting.km.has_kernel and waiting.km.provisioner is not None
    if waiting.settings == settings and alive:
        _handed = waiting
    else:
        waiting.close()


def start_next(settings: Settings, base: Path, config=None) -> None:
    """Start a kernel for the next student (a failure to start is left to the next student's
    own kernel, which reports it)."""
    global _waiting
    with contextlib.suppress(Exception):
        _waiting = AheadKernel(settings, base, config)


def take() -> AheadKernel | None:
    """The current student's kernel started ahead, at most once (then None)."""
    global _handed
    handed, _handed = _handed, None
    return handed


def drop_unused() -> None:
    """Shut down a handed kernel the current student did not take."""
    handed = take()
    if handed is not None:
        handed.close()


def close_all() -> None:
    """Shut down every kernel started ahead (the worker is ending)."""
    global _waiting
    drop_unused()
    waiting, _waiting = _waiting, None
    if waiting is not None:
        waiting.close()
