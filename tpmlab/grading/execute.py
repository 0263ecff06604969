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

It also caps the output it keeps while a cell runs (:attr:`SandboxedExecute.max_cell_output`
characters per cell; errors always pass): a submission that floods its output cannot make the
grading process hold it all in memory until the cell times out. What is cut is replaced by one
``... Output truncated ...`` line, which the review flags report as an output flood.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbgrader.preprocessors import Execute
from traitlets import Integer

from tpmlab.grading import sandbox

UNSAFE_ENV = "TPMLAB_GRADE_UNSAFE"


class SandboxedExecute(Execute):
    """nbgrader's Execute, with the student's kernel inside the sandbox (or a loud refusal)."""

    max_cell_output = Integer(
        5_000_000, help="Characters of output kept per cell while it runs (errors always pass)."
    ).tag(config=True)

    _prepared: set[str] = set()
    _sandboxed = False
    _output_sizes: dict[int, int] = {}

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

    def preprocess(self, nb, resources):
        self._output_sizes = {}
        if os.environ.get(UNSAFE_ENV) == "1":
            self.log.warning("Grading WITHOUT a sandbox (%s=1).", UNSAFE_ENV)
            return super().preprocess(nb, resources)
        if self.kernel_name == sandbox.KERNEL_NAME:  # set up by tpmlab-grade's worker
            return super().preprocess(nb, resources)
        reason = sandbox.probe()
        if reason:
            raise sandbox.SandboxUnavailable(
                f"Refusing to run a student's notebook without the sandbox: {reason}",
                f"{sandbox.INSTALL_HINT} With plain nbgrader, set {UNSAFE_ENV}=1 to grade "
                "unsandboxed.",
            )
        source = self._source_dir(resources)
        base = Path(os.environ.get("TPMLAB_SANDBOX_DIR") or tempfile.mkdtemp(prefix="tpmlab-sb-"))
        os.environ["TPMLAB_SANDBOX_DIR"] = str(base)
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
            return super().preprocess(nb, resources)
        finally:
            self._sandboxed = False
            shutil.rmtree(ipc_dir, ignore_errors=True)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def create_kernel_manager(self):
        # nbconvert re-initialises the client from the configuration in preprocess(), so the
        # sandboxed kernelspec is chosen here, where the kernel manager is made
        if self._sandboxed:
            self.kernel_name = sandbox.KERNEL_NAME
            self.kernel_manager_class = sandbox.SandboxKernelManager
        return super().create_kernel_manager()

    def _source_dir(self, resources) -> Path:
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(parent=self)
        assignment = resources.get("nbgrader", {}).get("assignment", "")
        return Path(coursedir.format_path(coursedir.source_directory, ".", assignment))
