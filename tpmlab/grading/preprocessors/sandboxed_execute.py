"""nbgrader's Execute step, sandboxed: no autograde path runs a student's notebook unsandboxed.

``autograder/nbgrader_config.py`` puts :class:`SandboxedExecute` in place of nbgrader's
``Execute`` among the autograde preprocessors, so plain ``nbgrader autograde`` and the
formgrader's autograde button get the same bubblewrap sandbox as ``tpmlab-grade autograde``
(see :mod:`tpmlab.grading.sandbox`):

- when ``tpmlab-grade``'s worker has already configured the sandboxed kernel, it runs as set up;
- otherwise it sets the sandbox up itself (kernelspec, IPC sockets, the assignment's data files,
  the re-seeded datasets) for each notebook;
- where the sandbox cannot run it raises :class:`~tpmlab.grading.sandbox.SandboxUnavailable`,
  which says how to install bubblewrap: that notebook is not graded (nbgrader reports the error),
  never silently graded unsandboxed. ``TPMLAB_GRADE_UNSAFE=1`` in the environment (what
  ``tpmlab-grade autograde --unsafe`` sets) is the explicit way to grade without it.

It also caps the output it keeps while a cell runs: :attr:`SandboxedExecute.max_cell_output`
characters per cell and :attr:`SandboxedExecute.max_total_output` for the whole notebook, every
kind of message counted (streams, displays, results, errors, widget messages, and
``update_display_data``, which nbclient copies into every earlier output with the same display
id, so an update is counted once per copy). A submission that floods its output cannot make the
grading process hold it all, nor write a huge autograded notebook. What is cut is replaced by
one ``... Output truncated ...`` line, which the review flags report as an output flood; an error
always passes (so a failing cell still fails), its text cut to :data:`MAX_ERROR_CHARS`.

When it sets the sandbox up itself (plain ``nbgrader autograde``), its working folder
(``tpmlab-sb-*`` under the temporary directory) is removed when the process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbgrader.preprocessors import Execute
from traitlets import Integer

from tpmlab.grading import sandbox, sentinel
from tpmlab.grading.ipynb import is_autograded_test
from tpmlab.grading.preprocessors import source_dir

UNSAFE_ENV = "TPMLAB_GRADE_UNSAFE"
#: Characters of an error's message and of each traceback line kept (the error itself always is).
MAX_ERROR_CHARS = 2000
_COUNTED = {
    "stream",
    "display_data",
    "execute_result",
    "update_display_data",
    "error",
    "comm_open",
    "comm_msg",
}
_DISPLAYS = {"display_data", "execute_result", "update_display_data"}


def _size(content) -> int:
    try:
        return len(json.dumps(content, default=str))
    except (ValueError, RecursionError):
        return MAX_ERROR_CHARS * 1000  # unprintable content: count it as huge


def _short_error(msg: dict) -> dict:
    """``msg`` (an error) with its message and traceback cut to a bounded size."""
    content = dict(msg.get("content", {}))
    content["ename"] = str(content.get("ename", "Error"))[:200]
    content["evalue"] = str(content.get("evalue", ""))[:MAX_ERROR_CHARS]
    traceback = content.get("traceback") or []
    if not isinstance(traceback, list):
        traceback = [str(traceback)]
    content["traceback"] = [str(line)[:MAX_ERROR_CHARS] for line in traceback[-30:]]
    return {**msg, "content": content}


def _cells_run(nb) -> int:
    """Code cells the kernel certainly ran code for: executed, and plain Python with at least one
    statement (a cell of comments, one that does not compile, or IPython syntax is not counted)."""
    import ast

    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.get("execution_count") is None:
            continue
        try:
            if ast.parse(cell.source).body:
                count += 1
        except (SyntaxError, ValueError, RecursionError, MemoryError, TypeError):
            continue
    return count


def _remove_base(base: Path) -> None:
    sandbox.release_mounts(base)
    shutil.rmtree(base, ignore_errors=True)


class SandboxedExecute(Execute):
    """nbgrader's Execute, with the student's kernel inside the sandbox (or a loud refusal)."""

    iopub_timeout = Integer(
        30,
        help="Seconds to wait for a cell's last outputs after its reply (nbclient's default of 4 "
        "fails a student's cell with CellTimeoutError when the grading machine is busy).",
    ).tag(config=True)
    max_cell_output = Integer(
        5_000_000, help="Characters of output kept per cell while it runs (errors always pass)."
    ).tag(config=True)
    max_total_output = Integer(
        10_000_000,
        help="Characters of output kept for the whole notebook, every message type counted "
        "(an update_display_data once per output it rewrites; errors always pass, shortened).",
    ).tag(config=True)

    _prepared: set[str] = set()
    _sandboxed = False
    _output_sizes: dict[int, int] = {}
    _kept = 0  # characters of output the notebook holds so far (an upper bound)
    _display_sizes: dict[str, int] = {}  # display id -> size of its current data
    _cut_cells: set[int] = set()

    def _display_copies(self, display_id: str) -> int:
        cells = self._display_id_map.get(display_id, {})
        return sum(len(indices) for indices in cells.values())

    def process_message(self, msg, cell, cell_index):
        msg_type = msg.get("msg_type")
        if msg_type not in _COUNTED:
            return super().process_message(msg, cell, cell_index)
        if msg_type == "error":
            msg = _short_error(msg)
        elif (
            msg_type in ("stream", "display_data", "execute_result")
            and self._output_sizes.get(cell_index, 0) > self.max_cell_output
        ):  # the cell's own cap drops it (see output): it does not use the notebook's budget
            return super().process_message(msg, cell, cell_index)
        content = msg.get("content") or {}
        size = _size(content)
        transient = content.get("transient") if isinstance(content, dict) else None
        display_id = transient.get("display_id") if isinstance(transient, dict) else None
        if display_id and msg_type in _DISPLAYS:
            # nbclient writes this data into every output with that id (and appends one more,
            # unless it is an update): what the notebook will hold afterwards
            existing = self._display_copies(display_id)
            copies = existing + (msg_type != "update_display_data")
            old = self._display_sizes.get(display_id, 0) * existing
            after = self._kept - old + size * copies
        else:
            after = self._kept + size
        if after > self.max_total_output and msg_type != "error":
            if cell_index not in self._cut_cells:
                self._cut_cells.add(cell_index)
                cell.outputs.append(
                    nbformat.v4.new_output(
                        "stream",
                        name="stdout",
                        text=f"\n... Output truncated ... (this notebook printed more than "
                        f"{self.max_total_output:,} characters in all; the rest was not kept)\n",
                    )
                )
            return None
        if display_id and msg_type in _DISPLAYS:
            self._display_sizes[display_id] = size
        self._kept = after
        return super().process_message(msg, cell, cell_index)

    def output(self, outs, msg, display_id, cell_index):
        if msg.get("msg_type") in ("stream", "display_data", "execute_result"):
            before = self._output_sizes.get(cell_index, 0)
            if before > self.max_cell_output:
                return None
            used = before + len(json.dumps(msg.get("content", {}), default=str))
            self._output_sizes[cell_index] = used
            if used > self.max_cell_output:
                content = msg.get("content", {})
                room = self.max_cell_output - before
                if msg["msg_type"] == "stream" and room > 0:  # keep what still fits
                    msg = {**msg, "content": {**content, "text": content.get("text", "")[:room]}}
                    super().output(outs, msg, display_id, cell_index)
                outs.append(
                    nbformat.v4.new_output(
                        "stream",
                        name="stdout",
                        text=f"\n... Output truncated ... (this cell printed more than "
                        f"{self.max_cell_output:,} characters; the rest was not kept)\n",
                    )
                )
                return None
        return super().output(outs, msg, display_id, cell_index)

    def preprocess_cell(self, cell, resources, index):
        if not is_autograded_test(cell):
            return super().preprocess_cell(cell, resources, index)
        # a test cell runs without entering the kernel's history (In, _ih, Out, _i<n>): a later
        # cell cannot print the hidden tests from there (feedback does not rely on it: see
        # tpmlab.grading.feedback)
        self._check_assign_resources(resources)
        cell = self.execute_cell(cell, index, store_history=False)
        return cell, self.resources

    def preprocess(self, nb, resources):
        self._output_sizes = {}
        self._kept, self._display_sizes, self._cut_cells = 0, {}, set()
        if os.environ.get(UNSAFE_ENV) == "1":
            self.log.warning("Grading WITHOUT a sandbox (%s=1).", UNSAFE_ENV)
            from tpmlab.grading.sentinel import KERNEL_ARGS

            self.extra_arguments: list[str] = [*self.extra_arguments, *KERNEL_ARGS]
            return super().preprocess(nb, resources)
        if self.kernel_name == sandbox.KERNEL_NAME:  # set up by tpmlab-grade's worker
            return self._run_with_evidence(nb, resources)
        reason = sandbox.probe()
        if reason:
            raise sandbox.SandboxUnavailable(
                f"Refusing to run a student's notebook without the sandbox: {reason}",
                f"{sandbox.INSTALL_HINT} With plain nbgrader, set {UNSAFE_ENV}=1 to grade "
                "unsandboxed.",
            )
        source = source_dir(self, resources)
        if os.environ.get("TPMLAB_SANDBOX_DIR"):
            base = Path(os.environ["TPMLAB_SANDBOX_DIR"])
        else:  # plain nbgrader: this process owns the folder, and removes it when it ends
            base = Path(tempfile.mkdtemp(prefix="tpmlab-sb-"))
            os.environ["TPMLAB_SANDBOX_DIR"] = str(base)
            atexit.register(_remove_base, base)
        specs = base / "jupyter"
        if not (specs / "kernels" / sandbox.KERNEL_NAME).exists():
            sandbox.install_kernelspec(specs)
        paths = os.environ.get("JUPYTER_PATH", "").split(os.pathsep)
        if str(specs) not in paths:
            os.environ["JUPYTER_PATH"] = os.pathsep.join([str(specs), *[p for p in paths if p]])
        if str(source) not in self._prepared:
            sandbox.prepare_data(source)
            self._prepared.add(str(source))
        ipc_dir = tempfile.mkdtemp(prefix="job", dir=base)
        saved = {k: os.environ.get(k) for k in ("TPMLAB_SANDBOX_IPC_DIR", "TPMLAB_SANDBOX_FILES")}
        os.environ["TPMLAB_SANDBOX_IPC_DIR"] = ipc_dir
        os.environ["TPMLAB_SANDBOX_FILES"] = str(source)
        self._sandboxed = True
        try:
            return self._run_with_evidence(nb, resources)
        finally:
            self._sandboxed = False
            sandbox.release_mounts(Path(ipc_dir))
            shutil.rmtree(ipc_dir, ignore_errors=True)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def _run_with_evidence(self, nb, resources):
        """Run the notebook with the sentinel's reports going to a fresh evidence file (beside the
        kernel's socket folder, never inside the sandbox); their flags go into ``resources``
        for :class:`~tpmlab.grading.preprocessors.trusted_scoring.TrustedScoring` to record."""
        from tpmlab.grading.sandbox import ahead

        handed = ahead.take() if self.kernel_name == sandbox.KERNEL_NAME else None
        if handed is not None:  # started ahead for this student by tpmlab-grade's worker
            path = handed.evidence
        else:
            folder = os.environ.get("TPMLAB_SANDBOX_IPC_DIR") or tempfile.gettempdir()
            fd, path = tempfile.mkstemp(prefix="evidence-", suffix=".jsonl", dir=folder)
            os.close(fd)
        saved = os.environ.get(sentinel.FILE_ENV)
        os.environ[sentinel.FILE_ENV] = path
        try:
            if handed is None:
                nb, resources = super().preprocess(nb, resources)
            else:
                try:
                    nb, resources = super().preprocess(nb, resources, km=handed.km)
                finally:  # not owned by nbclient: shut down here, before reading the evidence
                    with contextlib.suppress(Exception):
                        self._cleanup_kernel()
            resources["tpmlab_sandbox_evidence"] = sentinel.evidence_flags(
                path, cells_run=_cells_run(nb)
            )
            return nb, resources
        finally:
            if saved is None:
                os.environ.pop(sentinel.FILE_ENV, None)
            else:
                os.environ[sentinel.FILE_ENV] = saved
            with contextlib.suppress(OSError):
                os.remove(path)
            if handed is not None:
                handed.close()

    def create_kernel_manager(self):
        # nbconvert re-initialises the client from the configuration in preprocess(), so the
        # sandboxed kernelspec is chosen here, where the kernel manager is made
        if self._sandboxed:
            self.kernel_name = sandbox.KERNEL_NAME
            self.kernel_manager_class = sandbox.SandboxKernelManager
        return super().create_kernel_manager()
