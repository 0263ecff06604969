"""The grading side of a sandboxed kernel: its kernelspec, its kernel manager (``ipc://``
sockets), the re-seeded data built before it starts, and the review flags its outputs earn."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

from tpmlab.grading.sandbox.config import KERNEL_NAME


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


def kernel_manager_class():
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

    SandboxKernelManager.__module__ = "tpmlab.grading.sandbox"  # where the worker names it
    return SandboxKernelManager


def prepare_data(source: Path) -> list[Path]:
    """Build, outside the sandbox, the re-seeded copies of Orbit that ``source``'s hidden tests
    open (``reseeded_engine(2031)``, ``capstone_engine(2026)``), and for ``pipelines.run_tests_on``
    the DuckDB warehouses it copies them into and dbt's parse of the project: inside, the
    datasets folder is read-only. Returns the files built or found."""
    from tpmlab import data

    built = []
    pattern = re.compile(r"reseeded_engine\(\s*(\d+)\s*(?:,\s*(?:scale\s*=\s*)?([0-9.]+)\s*)?\)")
    wanted = set()
    for nb in sorted(Path(source).glob("*.ipynb")):
        for seed, scale in pattern.findall(nb.read_text()):
            wanted.add((int(seed), float(scale) if scale else data.RESEEDED_SCALE))
    for seed, scale in sorted(wanted):
        data.reseeded_engine(seed, scale).dispose()
        built.append(data.reseeded_path(seed, scale))
    # the capstone's scenario copies: capstone_engine() (seed 42) and capstone_engine(2026)
    from tpmlab.data import capstone

    found = re.compile(r"capstone_engine\(\s*(?:seed\s*=\s*)?(\d*)\s*\)")
    seeds = {
        int(s) if s else 42
        for nb in sorted(Path(source).glob("*.ipynb"))
        for s in found.findall(nb.read_text())
    }
    for seed in sorted(seeds):
        built.append(capstone.db_path(seed))
    # the data-pipelines checks copy each dataset into a DuckDB warehouse for dbt: the copies
    # are kept in Orbit's cache folder, which the sandbox can read but not write
    if any("run_tests_on(" in nb.read_text() for nb in sorted(Path(source).glob("*.ipynb"))):
        from tpmlab import paths
        from tpmlab.pipelines.warehouses import cache_warehouses

        sources = [paths.default_db_path()]
        sources += [data.reseeded_path(seed, scale) for seed, scale in sorted(wanted)]
        built += cache_warehouses(sources)
        # and dbt's parse of the course's project, which each check's run starts from; in a
        # process of its own, so that the grader does not keep dbt imported
        import subprocess

        code = "from tpmlab.pipelines import dbt; print(dbt.cache_parse() or '')"
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=600
        )
        if done.returncode == 0 and done.stdout.strip():
            built.append(Path(done.stdout.strip().splitlines()[-1]))
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
