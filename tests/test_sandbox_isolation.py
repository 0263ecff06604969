"""Nothing of one student reaches the next one graded on the same worker (issue 22).

With one worker, three students are graded in turn by the same ``tpmlab.grading.worker``
process, each in a sandboxed kernel:

- ``s1_control`` leaves four traces (a global, a module attribute, a file in the kernel's working
  directory, processes that keep running: a ``sleep`` and a double-forked python) and then looks
  for them in the same kernel: it must find all four. This proves the looking works, so the
  clean result below cannot come from a search that finds nothing anywhere.
- ``s2_leaker`` leaves the same four traces and stops.
- ``s3_looker`` looks for them. It records what it found through its answer (``signups`` is
  200, the right answer, only when it found nothing) and prints it, so its score and its
  autograded notebook show whether anything of the previous students was there. It also prints
  whether ipykernel's debugger was loaded in its kernel (it must not be: grading kernels start
  without it).

After each student the worker's sandbox folder shows whether a kernel waits for a next student:
one after the first two, none after the last.

Needs bubblewrap and root; skips elsewhere with the reason (fails instead under
``TPMLAB_REQUIRE_SANDBOX=1``, as in CI).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import nbformat
import pytest
from grading_fixtures import ASSIGNMENT, NOTEBOOK, RIGHT, make_course, student_notebook

from tpmlab.grading import autograde as autograde_module
from tpmlab.grading import sandbox
from tpmlab.grading.autograde import autograde
from tpmlab.grading.coursedir import Course

REASON = sandbox.probe()
pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(REASON is not None, reason=f"needs bubblewrap and root: {REASON}"),
]

TAG = f"leak{uuid.uuid4().hex[:10]}"
SLEEP = "613.25"  # an unusual duration, to recognise the leaker's sleep among processes

LEAK = f"""
import json, subprocess, sys
LEAKED_GLOBAL_{TAG} = 1
json.LEAK_{TAG} = 1
with open("{TAG}.txt", "w") as f:
    f.write("left behind")
subprocess.Popen(["sleep", "{SLEEP}"])
daemon = "import os, time\\nif os.fork(): os._exit(0)\\nos.setsid()\\ntime.sleep(600)"
subprocess.Popen([sys.executable, "-c", daemon, "{TAG}-daemon"])
import time
time.sleep(1)  # let the daemon fork away from its parent
"""

LOOK = f"""
import json, os
found = []
if "LEAKED_GLOBAL_{TAG}" in globals():
    found.append("global")
if hasattr(json, "LEAK_{TAG}"):
    found.append("module attribute")
if os.path.exists("{TAG}.txt"):
    found.append("file")
procs = []
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            with open(f"/proc/{{pid}}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"{SLEEP}" in cmd or b"{TAG}-daemon" in cmd:
            procs.append(pid)
if procs:
    found.append("process")
print("FOUND:", found)
signups = 200 if not found else 1000 + len(found)
"""

# the grading kernel starts without ipykernel's debugger (tpmlab.grading.sentinel keeps debugpy out)
DEBUGGER = 'import sys\nprint("DEBUGGER:", sys.modules.get("debugpy") is not None)\n'

STUDENTS = {
    "s1_control": LEAK + LOOK,
    "s2_leaker": LEAK + "signups = 120 + 80\n",
    "s3_looker": LOOK + DEBUGGER,
}


def _host_leftovers() -> list[int]:
    """Processes on the grading machine that the leaking students started."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if SLEEP.encode() in cmd or f"{TAG}-daemon".encode() in cmd:
                found.append(int(entry.name))
    return found


def _printed(course: Course, student: str) -> str:
    path = course.autograded_dir(student, ASSIGNMENT) / NOTEBOOK
    nb = nbformat.read(str(path), as_version=4)
    lines = [
        out.get("text", "")
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    ]
    return "".join(lines)


def test_the_next_student_on_the_same_worker_finds_nothing(tmp_path, orbit_db, monkeypatch):
    started = []
    waiting = []  # after each student: the kernels started ahead, waiting for the next one

    class CountedWorker(autograde_module.Worker):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self.proc.pid)

        def run(self, job, timeout):
            answer = super().run(job, timeout)
            ahead = [p.name for p in Path(self.sandbox_dir).glob("job*")]
            waiting.append((job["student"], len(ahead)))
            return answer

    monkeypatch.setattr(autograde_module, "Worker", CountedWorker)
    course = Course(make_course(tmp_path))
    for student, q1 in STUDENTS.items():
        folder = course.submitted_dir(student, ASSIGNMENT)
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text("2025-07-01 12:00:00.000000 UTC")
        nbformat.write(student_notebook({**RIGHT, "q1": q1}), str(folder / NOTEBOOK))
    course.ensure_assignment(ASSIGNMENT)

    results = {
        r.student: r
        for r in autograde(
            course,
            ASSIGNMENT,
            workers=1,  # one worker: the three students share it, one after another
            cell_timeout=30,
            student_timeout=120,
            progress=False,
            sandbox="required",
        )
    }
    assert {s: r.status for s, r in results.items()} == dict.fromkeys(STUDENTS, "graded")
    assert len(started) == 1, f"the students did not share one worker: {started}"
    for student in STUDENTS:
        marker = course.autograded_dir(student, ASSIGNMENT) / ".tpmlab-graded.json"
        assert json.loads(marker.read_text())["sandboxed"] is True

    control = _printed(course, "s1_control")
    assert "FOUND: ['global', 'module attribute', 'file', 'process']" in control, control
    assert results["s1_control"].score == 10 - 2  # q1 wrong: it found its own traces

    looker = _printed(course, "s3_looker")
    assert "FOUND: []" in looker, looker
    assert "DEBUGGER: False" in looker, looker
    # a kernel is started ahead for the next student, and none after the last one
    assert waiting == [("s1_control", 1), ("s2_leaker", 1), ("s3_looker", 0)], waiting
    assert results["s3_looker"].score == 10, results["s3_looker"]
    assert results["s2_leaker"].score == 10
    # and nothing they started outlived their grading on the machine either
    assert _host_leftovers() == []
