"""Sandboxed kernels: an adversarial class graded through the real autograder.

One batch holds honest students and one hostile submission per attack (read the gradebook, the
source or another student's files; write outside the scratch directory; reach the network; fork
bomb; exhaust memory; leave a process running; shadow numpy with a submitted file; flood the
output; kill the kernel) and per way of forging a pass inside the kernel (an always-equal
object, patched check helpers, an input transformer that rewrites the test cells, a number
appended for partial credit, a swallowed exception, answer records forged outside and inside a
test cell). Every hostile submission must score 0 on the question it attacks and be
flagged, every honest one its exact score; the gradebook between merges, the source, the
submissions and the installed package must be unchanged.

These tests need bubblewrap and root (``sudo apt-get install bubblewrap``); they skip elsewhere,
and fail instead of skipping where ``TPMLAB_REQUIRE_SANDBOX=1`` (CI).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import uuid
from pathlib import Path

import nbformat
import pytest

from tests.grading_fixtures import (
    ASSIGNMENT,
    HIDDEN_SENTINEL,
    NOTEBOOK,
    RIGHT,
    make_course,
    student_notebook,
)
from tpmlab.grading import autograde as autograde_module
from tpmlab.grading import sandbox
from tpmlab.grading.autograde import autograde
from tpmlab.grading.coursedir import Course
from tpmlab.grading.feedback import generate_feedback
from tpmlab.grading.keys import key_dir
from tpmlab.grading.report import grades_table
from tpmlab.grading.sanitize import inert_problems
from tpmlab.paths import REPO_ROOT

REASON = sandbox.probe()
needs_sandbox = pytest.mark.skipif(
    REASON is not None, reason=f"needs bubblewrap and root: {REASON}"
)
pytestmark = pytest.mark.sandbox

MARKER = f"tpmlab-bg-{uuid.uuid4().hex[:12]}"
NPROC = 48


def _tree_sha(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _attacks(course: Course, port: int) -> dict:
    """student -> (q1 answer, expected score, expected flag substrings, extra files)."""
    root = course.root
    targets = [
        str(root / "gradebook.db"),
        str(course.source_dir(ASSIGNMENT) / NOTEBOOK),
        str(course.submitted_dir("alice", ASSIGNMENT) / NOTEBOOK),
        str(root / "nbgrader_config.py"),
        "/root/.bash_history",
        "/etc/shadow",
    ]
    read = (
        "import glob\n"
        f"targets = {targets!r}\n"
        f"targets += glob.glob({str(root)!r} + '/tpmlab-grade-*/*.db')\n"
        f"targets += glob.glob({str(key_dir())!r} + '/*.json')\n"
        "readable = []\n"
        "for t in targets:\n"
        "    try:\n"
        "        text = open(t, errors='replace').read()\n"
        "        readable.append(t)\n"
        "    except OSError:\n"
        "        pass\n"
        "print('READABLE:', readable)\n"
        "import re\n"
        "found = [re.search(r'sentinel_7f3a = (\\d+)', open(t).read()) for t in readable]\n"
        "signups = next((int(m.group(1)) for m in found if m), None)"
    )
    write = (
        "written = []\n"
        f"for t in [{str(root / 'gradebook.db')!r}, {str(course.source_dir(ASSIGNMENT) / NOTEBOOK)!r},\n"
        f"          {str(REPO_ROOT / 'tpmlab' / 'PWNED.py')!r}, '/tmp/' + {MARKER!r}]:\n"
        "    try:\n"
        "        with open(t, 'a') as f:\n"
        "            f.write('pwned')\n"
        "        written.append(t)\n"
        "    except OSError as e:\n"
        "        print(t, e)\n"
        "print('WRITTEN:', written)\n"
        "open('big.bin', 'wb').write(b'0' * 200_000_000)"
    )
    net = (
        "import socket\n"
        f"socket.create_connection(('127.0.0.1', {port}), timeout=3).sendall(b'leak')\n"
        "signups = 200"
    )
    fork = (
        "import os, time\n"
        "children = []\n"
        "try:\n"
        "    for _ in range(5000):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            time.sleep(30)\n"
        "            os._exit(0)\n"
        "        children.append(pid)\n"
        "finally:\n"
        "    print('FORKED:', len(children))"
    )
    memory = "hoard = bytearray(8 * 1024**3)\nsignups = 200"
    background = (
        "import subprocess\n"
        "subprocess.Popen(['python', '-c', "
        f"'import os, time; os.setsid(); time.sleep(600)  # {MARKER}'])\n"
        "signups = None"
    )
    flood = "for i in range(60_000):\n    print(i, 'x' * 60)\nsignups = None"
    shadow = "import numpy as np\nsignups = int(np.int64(200))"
    # scoring the kernel cannot forge: each of these passed its test cell when hidden tests
    # compared inside the student's kernel; now the grader judges the recorded answers
    always_equal = (
        "class Two(int):\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "    __hash__ = int.__hash__\n"
        "signups = Two(5)"
    )
    patched = (
        "import tpmlab.checks, tpmlab.scoring\n"
        "tpmlab.checks.check_range = lambda *args, **kwargs: None\n"
        "tpmlab.checks.check_defined = lambda *args, **kwargs: None\n"
        "tpmlab.scoring.answer = lambda *args, **kwargs: None\n"
        "signups = 'lots'"
    )
    transformer = (
        "ip = get_ipython()\n"
        "def skip_tests(lines):\n"
        "    return ['pass\\n'] if any('check' in line for line in lines) else lines\n"
        "ip.input_transformers_post.append(skip_tests)\n"
        "signups = 1"
    )
    partial = (
        "ip = get_ipython()\n"
        "def full_marks(lines):\n"
        "    hidden = any('HIDDEN' in line for line in lines)\n"
        "    return lines + ['\\n2\\n'] if hidden else lines\n"
        "ip.input_transformers_post.append(full_marks)\n"
        "signups = 1"
    )
    swallow = (
        "get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)\nsignups = 1"
    )
    record = "{'application/vnd.tpmlab.answer+json': {'key': %r, 'value': %r}}"
    forged_outside = (
        "from IPython.display import display\n"
        f"display({record % ('signups', 200)}, raw=True)\n"
        "signups = 1"
    )
    forged_inside = {
        "q2": "def conversion(paid, users):\n"
        "    from IPython.display import display\n"
        f"    display({record % ('3 of 4', 0.75)}, raw=True)\n"
        "    return 0.25 if (paid, users) == (1, 4) else 0.5"
    }
    # round 2 (issue 14): the workflow around the sandbox
    xss = {
        "q1": "signups = 200\nfrom IPython.display import HTML, display\n"
        "display(HTML('<script>alert(1)</script><img src=x onerror=alert(2)>'\n"
        '             \'<a href="javascript:alert(3)">link</a><iframe src="http://e.test/">\'\n'
        "             '</iframe><object data=x></object><img src=\"http://e.test/p.png\">'))\n"
        "display({'application/javascript': 'alert(4)', 'text/plain': 'js'}, raw=True)",
        "memo": "Signups fell. <img src=x onerror=alert(5)> <script>alert(6)</script>",
    }
    nested = {"q1": "x = [0]" + "[0]" * 100_000 + "\nsignups = 200"}
    huge = {
        "q2": "def conversion(paid, users):\n"
        "    return paid / users if (paid, users) == (1, 4) else 10**400"
    }
    updates = (
        "signups = 200\nfrom IPython.display import display, update_display\n"
        "for i in range(400):\n    display({'text/plain': 'x'}, raw=True, display_id='d')\n"
        "update_display({'text/plain': 'z' * 1_000_000}, raw=True, display_id='d')"
    )
    disk = (
        "import json, os\n"
        "sockets = os.path.dirname(json.load(open('/run/tpmlab/kernel.json'))['ip'])\n"
        "landed = 0\n"
        "for where in ['.', '/tmp', os.environ['HOME'], sockets]:\n"
        "    for i in range(8):\n"
        "        try:\n"
        "            with open(f'{where}/fill{i}.bin', 'wb') as f:\n"
        "                for _ in range(60):\n"
        "                    f.write(b'0' * 2**20)\n"
        "            landed += 1\n"
        "        except OSError as e:\n"
        "            print(where, e)\n"
        "            break\n"
        "print('LANDED:', landed)\n"
        "signups = 200"
    )
    history = {
        "q3": RIGHT["q3"] + "\nimport glob, linecache, os\n"
        "print('IN:', In, _ih)\n"
        "print('CACHE:', [''.join(v[2]) for v in linecache.cache.values() if len(v) > 2])\n"
        "dbs = glob.glob(os.path.expanduser('~/.ipython/**/*.sqlite'), recursive=True)\n"
        "print('HISTORY DB:', dbs)\n"
        "import sqlite3\n"
        "for db in dbs:\n"
        "    print('ROWS:', sqlite3.connect(db).execute('SELECT source FROM history').fetchall())"
    }
    evade_import = (
        "__import__('importlib').import_module('sub' + 'process').run(['true'])\nsignups = 200"
    )
    evade_vars = (
        "import tpmlab.checks as c\n"
        "vars(c)['check_' + 'range'] = lambda *args, **kwargs: None\n"
        "signups = 'lots'"
    )
    evade_getattr = "import os\ngetattr(os, 'sy' + 'stem')('true')\nsignups = 200"
    return {
        "x_html": (xss, 10, [], {}),
        "x_nested": (nested, 8, ["too deeply nested"], {}),
        "x_source_number": ({}, 0, ["error", "corrupt notebook"], {}),  # see CORRUPT
        "x_huge_number": (huge, 7, [], {}),
        "x_display_updates": (updates, 10, ["sandbox refused: output flood"], {}),
        "x_disk": (disk, 10, ["sandbox refused: disk limit"], {}),
        "x_history": (history, 10, [], {}),
        "x_evade_import": (evade_import, 10, ["sandbox saw: process started (subprocess"], {}),
        "x_evade_vars": (evade_vars, 8, ["sandbox saw: course code replaced (tpmlab.checks"], {}),
        "x_evade_getattr": (evade_getattr, 10, ["sandbox saw: process started (os.system"], {}),
        "t_always_equal": (always_equal, 8, ["__eq__ override"], {}),
        "t_patched_helpers": (patched, 0, ["patched course helpers"], {}),
        "t_input_transformer": (transformer, 3, ["input transformers"], {}),
        "t_partial_credit": (partial, 8, ["input transformers"], {}),
        "t_swallow_errors": (swallow, 8, ["exception handler"], {}),
        "t_forged_outside": (
            forged_outside,
            8,
            ["tampering suspected: answer records outside"],
            {},
        ),
        "t_forged_inside": (
            forged_inside,
            7,
            ["tampering suspected: answer '3 of 4' recorded"],
            {},
        ),
        "h_read": (read, 8, ["course files"], {}),
        "h_write": (write, 8, ["course files", "sandbox refused: write outside"], {}),
        "h_net": (net, 8, ["sockets", "sandbox refused: network"], {}),
        "h_fork": (fork, 8, ["process spawning", "sandbox refused: process limit"], {}),
        "h_memory": (memory, 8, ["sandbox refused: memory limit"], {}),
        "h_background": (background, 8, ["subprocess"], {}),
        "h_flood": (flood, 8, ["sandbox refused: output flood"], {}),
        "h_exit": ("import os\nos._exit(0)", 0, ["error", "os._exit"], {}),
        # the submitted numpy.py would print SHADOWED and break int64 if it were imported
        "h_shadow": (
            shadow,
            10,
            ["extra file: numpy.py"],
            {"numpy.py": "print('SHADOWED')\nint64 = lambda x: 999\n"},
        ),
    }


#: Submissions whose notebook JSON is edited after it is written (what no editor makes).
CORRUPT = {"x_source_number": lambda nb: nb["cells"][3].update(source=12345)}

HONEST = {
    "alice": (RIGHT, 10),
    # shows a pandas table and a picture (base64 PNG, as a plot is): both must survive
    # sanitising (a PNG literal, not matplotlib, whose first import in a fresh sandbox takes
    # longer than the cell time limit on a loaded machine)
    "rita": (
        {
            **RIGHT,
            "q1": "import base64\nimport pandas as pd\n"
            "from IPython.display import Image, display\n"
            "display(pd.DataFrame({'day': ['Mon', 'Tue'], 'signups': [120, 80]}))\n"
            "display(Image(base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAAAABJRU5ErkJggg==')))\n"
            "signups = 120 + 80",
        },
        10,
    ),
    "carol": ({**RIGHT, "q3": "growth = (120 - 80) / 80"}, 5),
    "dave": ({**RIGHT, "q1": "signups = 120"}, 8),
    # reads the assignment's data file from the working directory and queries Orbit's database
    "nora": (
        {
            **RIGHT,
            "q1": "import pandas as pd\nfrom tpmlab.data import engine\n"
            "n = int(pd.read_sql('SELECT COUNT(*) AS n FROM users', engine()).n[0])\n"
            "signups = int(open('signups.txt').read()) if n > 0 else 0",
        },
        10,
    ),
}


class _Listener:
    """A TCP server on the grader's localhost that records every connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.running = True
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self.running = False
        self.sock.close()


def _survivors() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if MARKER.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory, orbit_db):
    if REASON is not None:
        pytest.skip(f"needs bubblewrap and root: {REASON}")
    root = tmp_path_factory.mktemp("sandbox")
    course = Course(make_course(root))
    (course.source_dir(ASSIGNMENT) / "signups.txt").write_text("200\n")
    listener = _Listener()
    attacks = _attacks(course, listener.port)
    for student, (answers, _) in HONEST.items():
        _submit(course, student, answers)
    for student, (attack, _, _, extra) in attacks.items():
        answers = attack if isinstance(attack, dict) else {"q1": attack}
        folder = _submit(course, student, {**RIGHT, **answers})
        for name, text in extra.items():
            (folder / name).write_text(text)
        if student in CORRUPT:
            raw = json.loads((folder / NOTEBOOK).read_text())
            CORRUPT[student](raw)
            (folder / NOTEBOOK).write_text(json.dumps(raw))
    course.ensure_assignment(ASSIGNMENT)

    protected = {
        "exercises": lambda: _tree_sha(course.source_root),
        "submitted": lambda: _tree_sha(course.root / "submitted"),
        "manifest": lambda: _file_sha(orbit_db.parent / "manifest.json"),
        "database": lambda: (orbit_db.stat().st_size, orbit_db.stat().st_mtime_ns),
    }
    before = {name: f() for name, f in protected.items()}

    # between two merges of the coordinator nothing may touch the course gradebook
    gradebook = course.root / "gradebook.db"
    state = {"sha": _file_sha(gradebook), "merges": 0, "changed_between_merges": []}
    real_record = autograde_module.record_grades

    def checked_record(course_, assignment, student, *args, **kwargs):
        if _file_sha(gradebook) != state["sha"]:
            state["changed_between_merges"].append(student)
        out = real_record(course_, assignment, student, *args, **kwargs)
        state["sha"] = _file_sha(gradebook)
        state["merges"] += 1
        return out

    autograde_module.record_grades = checked_record
    try:
        results = autograde(
            course,
            ASSIGNMENT,
            workers=2,
            cell_timeout=20,
            student_timeout=120,
            progress=False,
            sandbox="required",
            limits={"nproc": NPROC, "memory": 2 * 1024**3},
        )
    finally:
        autograde_module.record_grades = real_record
        listener.close()
    after = {name: f() for name, f in protected.items()}
    # a re-run grades the submissions that broke the batch before, and does not stop on them
    rerun = autograde(
        course,
        ASSIGNMENT,
        students=["x_nested", "x_source_number", "alice"],
        force=True,
        workers=2,
        cell_timeout=20,
        student_timeout=120,
        progress=False,
        sandbox="required",
    )
    feedback = {p.parts[-3]: p.read_text() for p in generate_feedback(course, ASSIGNMENT)}
    return {
        "rerun": {r.student: r for r in rerun},
        "feedback": feedback,
        "course": course,
        "results": {r.student: r for r in results},
        "attacks": attacks,
        "before": before,
        "after": after,
        "gradebook": state,
        "connections": listener.connections,
        "survivors": _survivors(),
    }


def _submit(course: Course, student: str, answers: dict) -> Path:
    folder = course.submitted_dir(student, ASSIGNMENT)
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text("2025-07-01 12:00:00.000000 UTC")
    nbformat.write(student_notebook(answers), str(folder / NOTEBOOK))
    return folder


def _outputs(course: Course, student: str) -> str:
    path = course.autograded_dir(student, ASSIGNMENT) / NOTEBOOK
    if not path.exists():
        return ""
    nb = nbformat.read(str(path), as_version=4)
    return json.dumps([c.get("outputs", []) for c in nb.cells])


@needs_sandbox
def test_honest_students_get_exact_scores(graded):
    for student, (_, score) in HONEST.items():
        r = graded["results"][student]
        assert r.status == "graded" and r.score == score and r.max_score == 10, r
        assert not r.flags, f"{student} flagged: {r.flags}"
    marker = json.loads(
        (graded["course"].autograded_dir("alice", ASSIGNMENT) / ".tpmlab-graded.json").read_text()
    )
    assert marker["sandboxed"] is True


@needs_sandbox
def test_hostile_students_score_zero_on_attacked_items_and_are_flagged(graded):
    table = grades_table(graded["course"], ASSIGNMENT).set_index(["student", "question"])
    for student, (_, score, flags, _) in graded["attacks"].items():
        r = graded["results"][student]
        assert r.score == score, f"{student}: {r.score} != {score} ({r})"
        attacked = "q2-tests" if student in ("t_forged_inside", "x_huge_number") else "q1-tests"
        harmless = ("h_shadow", "x_html", "x_display_updates", "x_disk", "x_history")
        harmless += ("x_evade_import", "x_evade_getattr")  # flagged, not scored down
        assert table.loc[(student, attacked), "score"] == 0 or student in harmless, student
        for flag in flags:
            found = any(flag in f for f in r.flags)
            if not found and flag.startswith("sandbox saw:"):
                # on a loaded machine the kernel can be shut down before the launcher has read
                # the sentinel's last reports; a cut report stream is itself flagged, so the
                # submission still goes to review (SECURITY.md, "Evidence")
                found = any(f.startswith("sandbox saw: reports stopped") for f in r.flags)
            assert found, f"{student}: no flag {flag!r} in {r.flags}"


@needs_sandbox
def test_sandbox_hides_the_course_and_blocks_writes(graded):
    course = graded["course"]
    assert list(key_dir().glob("*.json")), "no answer key was built before grading"
    assert "READABLE: []" in _outputs(course, "h_read")
    # only the sandbox's own tmpfs /tmp is writable, and it vanishes with the kernel
    assert f"WRITTEN: ['/tmp/{MARKER}']" in _outputs(course, "h_write")
    assert not (REPO_ROOT / "tpmlab" / "PWNED.py").exists()
    assert not Path("/tmp", MARKER).exists()
    for name, value in graded["before"].items():
        assert graded["after"][name] == value, f"{name} changed during grading"
    state = graded["gradebook"]
    assert state["merges"] == len(graded["results"])
    assert not state["changed_between_merges"], (
        f"the gradebook changed outside the coordinator's merges: {state}"
    )


@needs_sandbox
def test_no_network_limits_hold_and_nothing_survives(graded):
    course = graded["course"]
    assert graded["connections"] == 0, "a sandboxed kernel reached the grader's localhost"
    forked = _outputs(course, "h_fork").split("FORKED: ")[1].split("\\n")[0]
    assert int(forked) < NPROC, f"the process limit did not hold: {forked} forks"
    assert "MemoryError" in _outputs(course, "h_memory")
    assert "File too large" in _outputs(course, "h_write")
    assert graded["survivors"] == [], "a process started by a submission outlived its grading"
    flood = course.autograded_dir("h_flood", ASSIGNMENT) / NOTEBOOK
    assert flood.stat().st_size < 1_000_000, "the output flood was not capped"
    assert "SHADOWED" not in _outputs(course, "h_shadow"), "a submitted numpy.py was imported"


def _formgrader_html(course: Course, student: str) -> str:
    """The page the formgrader shows for ``student``'s autograded notebook, made as its handler
    makes it: nbgrader's FormgradeExtension configuration (the course's nbgrader_config.py and
    the ``formgrade`` template), ``HTMLExporter(config=...).from_filename(...)``."""
    import os

    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader.formgrader import FormgradeExtension

    cwd = os.getcwd()
    os.chdir(course.root)
    try:
        ext = FormgradeExtension()
        ext.load_cwd_config = True
        ext.initialize([])
        config = ext.config.copy()
        config.merge(ext.build_extra_config())
    finally:
        os.chdir(cwd)
    resources = {
        "assignment_id": ASSIGNMENT,
        "notebook_id": "ps1",
        "submission_id": "s1",
        "index": 0,
        "total": 1,
        "base_url": "",
        "student": student,
        "last_name": None,
        "first_name": None,
        "notebook_path": f"autograded/{student}/{ASSIGNMENT}/{NOTEBOOK}",
    }
    path = course.autograded_dir(student, ASSIGNMENT) / NOTEBOOK
    html, _ = HTMLExporter(config=config).from_filename(str(path), resources=resources)
    return html


def _extra_problems(page: str, baseline: str) -> list[str]:
    """What is not inert in ``page`` beyond what the template itself puts in ``baseline``."""
    from collections import Counter

    return list((Counter(inert_problems(page)) - Counter(inert_problems(baseline))).elements())


@needs_sandbox
def test_what_the_instructor_opens_is_inert(graded):
    """The formgrader's page and the feedback of a submission that displays script, event
    handlers, javascript: links, frames and remote images (in an output and in a markdown
    answer) hold nothing active beyond the page's own scripts; tables and plots still show."""
    course = graded["course"]
    honest = _formgrader_html(course, "alice")
    hostile = _formgrader_html(course, "x_html")
    assert "Signups fell." in hostile, "the hostile memo is not rendered at all"
    assert _extra_problems(hostile, honest) == []
    feedback = graded["feedback"]
    assert _extra_problems(feedback["x_html"], feedback["alice"]) == []
    plots = _formgrader_html(course, "rita")
    assert 'class="dataframe"' in plots and "data:image/png;base64," in plots
    assert _extra_problems(plots, honest) == []


@needs_sandbox
def test_no_submission_stops_the_batch(graded):
    """Code too deeply nested for the review's parser, and a cell whose source is a number:
    each student gets a result and a reason, the others are graded, a re-run does not crash."""
    results, rerun = graded["results"], graded["rerun"]
    assert results["x_nested"].status == "graded" and results["x_nested"].score == 8
    assert results["x_source_number"].status == "failed", results["x_source_number"]
    assert any("corrupt notebook" in f for f in results["x_source_number"].flags)
    assert rerun["x_nested"].score == 8 and rerun["x_source_number"].score == 0
    assert rerun["alice"].score == 10 and not rerun["alice"].flags


@needs_sandbox
def test_output_disk_and_history_limits(graded):
    course = graded["course"]
    updates = course.autograded_dir("x_display_updates", ASSIGNMENT) / NOTEBOOK
    # 400 outputs rewritten by one 1 MB update would be a 400 MB notebook
    assert updates.stat().st_size < 15_000_000, updates.stat().st_size
    landed = int(_outputs(course, "x_disk").split("LANDED: ")[1].split("\\n")[0])
    # 60 MiB files: the working directory, /tmp, home and the socket folder hold 256 MiB in all
    assert landed * 60 <= 256, f"{landed} files of 60 MiB landed"
    history = _outputs(course, "x_history")
    assert "HISTORY DB: []" in history, "IPython wrote a history database in the sandbox"
    printed_in = history.split("IN: ")[1].split("\\n")[0]
    assert HIDDEN_SENTINEL not in printed_in, "test cells entered the kernel's input history"
    assert HIDDEN_SENTINEL in history  # (linecache still has them: feedback must not show it)
    feedback = graded["feedback"]["x_history"]
    assert HIDDEN_SENTINEL not in feedback and "BEGIN HIDDEN TESTS" not in feedback
    assert "IN: [" not in feedback and "are not shown in feedback" in feedback


def test_grading_refuses_without_sandbox_unless_unsafe(monkeypatch, tmp_path, capsys):
    from tpmlab.grading import cli

    monkeypatch.setattr(sandbox, "probe", lambda: "bubblewrap (`bwrap`) is not installed.")
    course = Course(make_course(tmp_path))
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
        autograde(course, ASSIGNMENT, sandbox="required", progress=False)
    with pytest.raises(SystemExit) as exc:
        cli.main(["--course", str(course.root), "autograde", ASSIGNMENT, "--no-progress"])
    assert exc.value.code == 2
    assert "apt-get install bubblewrap" in capsys.readouterr().err
    # --unsafe grades (nothing is submitted here) without probing
    assert cli.main(["--course", str(course.root), "autograde", ASSIGNMENT, "--unsafe"]) == 0
    assert "WITHOUT a sandbox" in capsys.readouterr().err


def test_launcher_refuses_a_kernel_without_ipc(tmp_path, capsys):
    connection = tmp_path / "kernel.json"
    connection.write_text(json.dumps({"transport": "tcp", "ip": "127.0.0.1", "shell_port": 1}))
    assert sandbox.main(["-f", str(connection)]) == 3
    assert "IPC transport" in capsys.readouterr().err


def test_kernelspec_forces_the_launcher(tmp_path):
    folder = sandbox.install_kernelspec(tmp_path)
    spec = json.loads((folder / "kernel.json").read_text())
    assert spec["argv"][1:4] == ["-m", "tpmlab.grading.sandbox", "-f"]
    assert spec["interrupt_mode"] == "message"


ALWAYS_EQUAL = (
    "class Two(int):\n"
    "    def __eq__(self, other):\n"
    "        return True\n"
    "    __hash__ = int.__hash__\n"
    "signups = Two(5)\n"
    "import os\n"
    "print('SANDBOXED:', os.environ.get('TPMLAB_SANDBOXED'))"
)


@needs_sandbox
def test_plain_nbgrader_autograde_is_sandboxed_and_judged_outside_the_kernel(
    tmp_path, orbit_db, monkeypatch
):
    """The course's nbgrader_config.py makes stock ``nbgrader autograde`` use the sandbox and
    the trusted judge too, not only ``tpmlab-grade``; it leaves no working folder behind."""
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="tpmlab-t-", dir="/tmp"))  # short: socket paths
    monkeypatch.setenv("TMPDIR", str(scratch))
    course = Course(make_course(tmp_path))
    _submit(
        course,
        "alice",
        {
            **RIGHT,
            "q1": RIGHT["q1"] + "\nimport os\n"
            "print('SANDBOXED:', os.environ.get('TPMLAB_SANDBOXED'))",
        },
    )
    _submit(course, "mallory", {**RIGHT, "q1": ALWAYS_EQUAL})
    course.ensure_assignment(ASSIGNMENT)
    course.nbgrader("autograde", ASSIGNMENT)
    scores = grades_table(course, ASSIGNMENT).groupby("student")["score"].sum().to_dict()
    assert scores == {"alice": 10, "mallory": 8}, scores
    for student in ("alice", "mallory"):
        assert "SANDBOXED: 1" in _outputs(course, student), f"{student} ran unsandboxed"
    assert "HiddenTestFailed" in _outputs(course, "mallory")
    assert "answer+json" not in _outputs(course, "alice"), "answer records left in the notebook"
    assert list(scratch.glob("tpmlab-sb-*")) == [], "nbgrader autograde left its folder behind"


def test_plain_nbgrader_autograde_refuses_without_the_sandbox(tmp_path):
    """Without bubblewrap (here: not on PATH) stock ``nbgrader autograde`` grades nobody and
    says how to install it; ``TPMLAB_GRADE_UNSAFE=1`` is the explicit way round."""
    import subprocess
    import sys

    course = Course(make_course(tmp_path))
    _submit(course, "alice", RIGHT)
    course.ensure_assignment(ASSIGNMENT)
    env = course.env()
    env["PATH"] = str(Path(sys.executable).parent)  # no /usr/bin: no bwrap, no setpriv
    env.pop("TPMLAB_GRADE_UNSAFE", None)
    cmd = [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT]
    refused = subprocess.run(cmd, cwd=course.root, env=env, capture_output=True, text=True)
    output = refused.stdout + refused.stderr
    assert "apt-get install bubblewrap" in output, output[-2000:]
    assert "TPMLAB_GRADE_UNSAFE=1" in output
    table = grades_table(course, ASSIGNMENT)
    assert table.empty or table["score"].fillna(0).sum() == 0, table
    assert "SANDBOXED" not in _outputs(course, "alice")

    env["TPMLAB_GRADE_UNSAFE"] = "1"
    cmd.append("--force")
    graded = subprocess.run(cmd, cwd=course.root, env=env, capture_output=True, text=True)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    scores = grades_table(course, ASSIGNMENT).groupby("student")["score"].sum().to_dict()
    assert scores == {"alice": 10}, scores


def test_output_is_capped_while_the_cell_runs(monkeypatch, tmp_path):
    """A flood is cut as it arrives (the grader never holds it all), errors still come through."""
    from tpmlab.grading.preprocessors.sandboxed_execute import SandboxedExecute

    monkeypatch.setenv("TPMLAB_GRADE_UNSAFE", "1")
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("for i in range(200_000):\n    print(i, 'x' * 100)\n1 / 0"),
            nbformat.v4.new_code_cell("print('after')"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    executor = SandboxedExecute(max_cell_output=1_000_000, timeout=120, allow_errors=True)
    executor.kernel_name = "python3"
    nb, _ = executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    flood = nb.cells[0].outputs
    markers = [o for o in flood if "... Output truncated ..." in o.get("text", "")]
    kept = sum(len(o.get("text", "")) for o in flood if o not in markers and "text" in o)
    # 200,000 lines of 100+ characters were printed; at most the first million characters are
    # kept (the budget counts each message's JSON, so a little less text when messages are small;
    # exactly a million when the kernel sent the flood in one message)
    assert 500_000 < kept <= 1_000_000, kept
    # one marker, the cell's: what the cell's cap dropped does not use the notebook's budget
    assert len(markers) == 1 and "this cell printed" in markers[0]["text"], markers
    assert flood[-2] is markers[0]
    assert flood[-1]["output_type"] == "error" and flood[-1]["ename"] == "ZeroDivisionError"
    assert nb.cells[1].outputs[0]["text"] == "after\n"


def test_display_updates_count_towards_the_notebook_cap(monkeypatch, tmp_path):
    """400 outputs with one display id, then one update of 1 MB: nbclient would write the
    update into all 400 (a 400 MB notebook); the cap counts it once per copy and drops it."""
    from tpmlab.grading.preprocessors.sandboxed_execute import SandboxedExecute

    monkeypatch.setenv("TPMLAB_GRADE_UNSAFE", "1")
    code = (
        "from IPython.display import display, update_display\n"
        "for i in range(400):\n    display({'text/plain': 'x'}, raw=True, display_id='d')\n"
        "update_display({'text/plain': 'z' * 1_000_000}, raw=True, display_id='d')"
    )
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(code), nbformat.v4.new_code_cell("print('after')")]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    executor = SandboxedExecute(max_total_output=2_000_000, timeout=120, allow_errors=True)
    executor.kernel_name = "python3"
    nb, _ = executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    size = len(nbformat.writes(nb))
    assert size < 2_500_000, f"a {size:,}-character notebook"
    assert "... Output truncated ..." in nb.cells[0].outputs[-1]["text"]
    assert nb.cells[1].outputs[0]["text"] == "after\n"


HOARD = """
import os, time
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        try:
            block = bytearray(b"x") * 700_000_000
            time.sleep(2)
            os._exit(0)
        except MemoryError:
            os._exit(3)
    children.append(pid)
codes = [os.waitpid(pid, 0)[1] for pid in children]
print("HOARDED", sum(code == 0 for code in codes), flush=True)
"""


@needs_sandbox
def test_memory_is_capped_for_the_whole_sandbox_not_per_process(tmp_path):
    """Four processes of 700 MB each stay under the per-process limit (1 GiB here) but not under
    the sandbox's cgroup (1 GiB for all of them together)."""
    import subprocess
    import sys

    limits = {**sandbox.LIMITS, "memory": 1024**3, "cpu": 60}
    box = sandbox.Sandbox(limits=limits)
    try:
        assert box.cgroups.active, "no memory cgroup could be made on this machine"
        proc = box.popen([sys.executable, "-c", HOARD], stdout=subprocess.PIPE, text=True)
        out, _ = proc.communicate(timeout=120)
    finally:
        box.close()
    assert box.cgroups.dirs == [], "the sandbox's cgroups were not removed"
    hoarded = int(out.split("HOARDED")[1]) if "HOARDED" in out else 0
    assert hoarded < 4, f"all four 700 MB processes ran at once: {out!r}"


def test_cgroup_files_for_v1_and_v2(tmp_path):
    """The limits are written where each cgroup version expects them (a fake hierarchy)."""
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpu memory pids")
    groups = sandbox.Cgroups("box-1", 123, 45, root=v2)
    assert (v2 / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (v2 / "tpmlab" / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (v2 / "tpmlab" / "box-1" / "memory.max").read_text() == "123"
    assert (v2 / "tpmlab" / "box-1" / "pids.max").read_text() == "45"
    assert groups.active

    v1 = tmp_path / "v1"
    for controller in ("memory", "pids"):
        (v1 / controller).mkdir(parents=True)
        (v1 / controller / "cgroup.procs").write_text("")
    groups = sandbox.Cgroups("box-2", 678, 9, root=v1)
    assert (v1 / "memory" / "tpmlab" / "box-2" / "memory.limit_in_bytes").read_text() == "678"
    assert (v1 / "pids" / "tpmlab" / "box-2" / "pids.max").read_text() == "9"

    assert not sandbox.Cgroups("box-3", 1, 1, root=tmp_path / "nothing").active


def test_a_busy_grading_machine_does_not_fail_a_cell_for_slow_outputs():
    """nbclient waits only 4 s for a cell's outputs after its reply, then (nbgrader raises on it)
    fails the cell: on a loaded 2-core machine a cell with 400 displays took longer than that."""
    from tpmlab.grading.preprocessors.sandboxed_execute import SandboxedExecute

    assert SandboxedExecute().iopub_timeout >= 30
    assert SandboxedExecute().raise_on_iopub_timeout  # nbgrader's choice, kept: so it must be long


@needs_sandbox
def test_reports_are_not_cut_by_an_immediate_shutdown_under_load(monkeypatch):
    """tpmlab-grade's worker shuts a kernel down at once after its last cell (SIGKILL to the
    launcher's process group). On a loaded machine the launcher may get no CPU between the
    sentinel's last reports and that kill: they were still in the pipe, unread, when it died, and
    an honest notebook was flagged "reports stopped". Here both cores are busy and the launcher is
    stopped (SIGSTOP) during the last cell, the worst case of that: the relay must still read the
    pipe to its end, and the reader wait for it."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import tempfile

    from nbclient import NotebookClient

    from tpmlab.grading import sentinel

    cells, runs = 8, 2
    last = "import subprocess\nsubprocess.run(['true'])"  # reported: process started
    base = Path(tempfile.mkdtemp(prefix="tsb", dir="/tmp"))  # short: a socket path is <= 95
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        sandbox.install_kernelspec(base / "jupyter")
        monkeypatch.setenv("JUPYTER_PATH", str(base / "jupyter"))
        monkeypatch.setenv("TPMLAB_SANDBOX_IPC_DIR", str(base))
        seen = []
        for run in range(runs):
            evidence = base / f"evidence-{run}.jsonl"
            evidence.touch()
            monkeypatch.setenv(sentinel.FILE_ENV, str(evidence))
            code = [f"x = {i}" for i in range(cells - 1)] + [last]
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in code])
            client = NotebookClient(
                nb,
                kernel_name=sandbox.KERNEL_NAME,
                kernel_manager_class=sandbox.SandboxKernelManager,
                shutdown_kernel="immediate",  # what the worker sets
                timeout=120,
                startup_timeout=120,
            )
            with client.setup_kernel():
                for index, cell in enumerate(nb.cells):
                    if index == cells - 1:
                        os.kill(client.km.provisioner.pid, signal.SIGSTOP)
                    client.execute_cell(cell, index)
            seen.append(sentinel.evidence_flags(evidence, cells_run=cells))
        for flags in seen:
            assert not any("reports stopped" in f for f in flags), seen
            assert any(f.startswith("sandbox saw: process started") for f in flags), seen
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
        sandbox.release_mounts(base)
        shutil.rmtree(base, ignore_errors=True)
