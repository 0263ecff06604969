"""Grading on a Dask cluster (``tpmlab-grade autograde A --cluster ADDRESS``) and its faults.

One real ``dask scheduler`` and two ``dask worker`` processes on localhost, started once here
(a module-scoped fixture) and shared by every test that grades (each test leaves two working
workers behind); the test of a cluster whose every worker refuses has a scheduler of its own.
Each test grades a few students of the fixture class (tests/grading_fixtures.py), whose exact
scores local grading is held to in tests/test_grading_workflow.py.

Holding workers busy: a test that needs the work to go to one particular worker first occupies
the others with a task that waits on a ``distributed.Event`` (the scheduler runs with
``worker-saturation`` 1.0, so a busy one-thread worker is given nothing else meanwhile).

A worker without the sandbox is a real ``dask worker`` started with a ``PATH`` on which there is
no ``bwrap``: the worker's own sandbox check (:func:`tpmlab.grading.sandbox.probe`, which looks
bubblewrap up on ``PATH``) fails there exactly as on a machine without bubblewrap; nothing in the
code under test knows about the test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from tests.grading_fixtures import (
    ASSIGNMENT,
    CLASS,
    NOTEBOOK,
    RIGHT,
    make_course,
    student_notebook,
    write_submissions,
)
from tpmlab.grading import autograde as autograde_module
from tpmlab.grading import cluster as cluster_module
from tpmlab.grading import sandbox
from tpmlab.grading.autograde import MARKER, autograde
from tpmlab.grading.cli import main as grade_cli
from tpmlab.grading.coursedir import Course
from tpmlab.grading.report import grades_table
from tpmlab.paths import REPO_ROOT

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

BIN = Path(sys.executable).parent
CELL_TIMEOUT = 5
# the holding task (_hold) is this module's: the scheduler and workers import it by its name
PYTHONPATH = os.pathsep.join([str(REPO_ROOT), str(Path(__file__).parent)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hold(name: str) -> None:
    """A task that keeps its worker busy until the test sets the event ``name``."""
    from distributed import Event

    Event(name).wait(timeout=600)


class LocalCluster:
    """A scheduler and named workers, each a real process of Dask's own command line."""

    def __init__(self, folder: Path):
        from distributed import Client

        self.folder = folder
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        env = {
            **os.environ,
            "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
            # a task stays on the worker it was given (the fault tests kill that worker)
            "DASK_DISTRIBUTED__SCHEDULER__WORK_STEALING": "False",
        }
        env["PYTHONPATH"] = PYTHONPATH
        self.procs: dict[str, subprocess.Popen] = {}
        self.procs["scheduler"] = self._start(
            [
                str(BIN / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                self.address.rsplit(":", 1)[1],
                "--no-dashboard",
            ],
            "scheduler",
            env,
        )
        self.client = Client(self.address, timeout=60, set_as_default=False)

    def _start(self, cmd, name, env):
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=log, start_new_session=True
        )

    def workers(self) -> dict[str, str]:
        """name -> address of the workers the scheduler knows now."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return {w["name"]: address for address, w in info.items()}

    def start_worker(self, name: str, path: str | None = None) -> str:
        env = {**os.environ, "PYTHONPATH": PYTHONPATH}
        if path is not None:
            env["PATH"] = path
        cmd = [str(BIN / "dask"), "worker", self.address, "--name", name, "--nthreads", "1"]
        cmd += ["--nworkers", "1", "--no-dashboard", "--host", "127.0.0.1"]
        self.procs[name] = self._start(cmd, name, env)
        deadline = time.monotonic() + 120
        while name not in self.workers():
            assert time.monotonic() < deadline, f"worker {name} did not join: see {name}.log"
            time.sleep(0.2)
        return self.workers()[name]

    def kill_worker(self, name: str, sig=signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        os.killpg(proc.pid, sig)  # the nanny and its worker process
        proc.wait(timeout=60)
        deadline = time.monotonic() + 60
        while name in self.workers():
            assert time.monotonic() < deadline, f"the scheduler still lists {name}"
            time.sleep(0.2)

    def hold(self, names: list[str]):
        """Occupy the named workers until the returned event is set."""
        from distributed import Event

        event = f"hold-{uuid.uuid4().hex[:8]}"
        workers = self.workers()
        futures = [
            self.client.submit(_hold, event, workers=[workers[n]], key=f"{event}-{n}")
            for n in names
        ]
        deadline = time.monotonic() + 60
        while not all(
            f.key in self.client.processing(workers=[workers[n]]).get(workers[n], ())
            for f, n in zip(futures, names, strict=True)
        ):
            assert time.monotonic() < deadline, "the holding tasks did not start"
            time.sleep(0.1)
        return Event(event, client=self.client), futures

    def close(self) -> None:
        self.client.close()
        for proc in self.procs.values():
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("distributed", reason="pip install -e '.[cluster]' (make test does)")
    reason = sandbox.probe()
    if reason:
        pytest.skip(f"needs bubblewrap and root: {reason}")
    c = LocalCluster(tmp_path_factory.mktemp("dask"))
    try:
        c.start_worker("w1")
        c.start_worker("w2")
        yield c
    finally:
        c.close()


def _course(tmp_path: Path, students: list[str]) -> Course:
    course = Course(make_course(tmp_path))
    write_submissions(course.root)
    import shutil

    for folder in (course.root / "submitted").iterdir():
        if folder.name not in students:
            shutil.rmtree(folder)
    return course


def _grade(course: Course, address: str, **kwargs):
    results = autograde(
        course,
        ASSIGNMENT,
        cell_timeout=CELL_TIMEOUT,
        student_timeout=120,
        progress=False,
        sandbox="required",
        cluster=address,
        **kwargs,
    )
    return {r.student: r for r in results}


def _add_student(course: Course, student: str, answers: dict[str, str]) -> None:
    folder = course.submitted_dir(student, ASSIGNMENT)
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text("2025-07-01 12:00:00.000000 UTC")
    nbformat.write(student_notebook(answers), str(folder / NOTEBOOK))


def _marker(course: Course, student: str) -> dict:
    return json.loads((course.autograded_dir(student, ASSIGNMENT) / MARKER).read_text())


def _in_background(target):
    box: dict = {}

    def run():
        try:
            box["result"] = target()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join(timeout=300):
        thread.join(timeout)
        assert not thread.is_alive(), "grading did not finish"
        if "error" in box:
            raise box["error"]
        return box["result"]

    return join


def _one_row_per_student_and_question(course: Course, students: list[str]) -> None:
    table = grades_table(course, ASSIGNMENT)
    counts = table.groupby("student").size().to_dict()
    assert counts == dict.fromkeys(students, 4), counts  # q1-q3 tests and the memo, once each


def test_a_class_graded_on_the_cluster_gets_the_local_scores(cluster, tmp_path):
    students = ["alice", "carol", "dave", "judy", "pat"]
    course = _course(tmp_path, students)
    results = _grade(course, cluster.address)
    assert sorted(results) == students
    workers = set(cluster.workers().values())
    for student in students:
        _, score, flags = CLASS[student]
        r = results[student]
        assert r.score == score and r.max_score == 10, f"{student}: {r}"
        for flag in flags:
            assert any(flag in f for f in r.flags), f"{student}: no flag {flag!r} in {r.flags}"
        marker = _marker(course, student)
        assert marker["sandboxed"] is True and marker["graded_by"] in workers, marker
    for honest in ("alice", "carol", "dave"):
        assert not results[honest].flags, f"{honest} flagged: {results[honest].flags}"
    table = grades_table(course, ASSIGNMENT).set_index(["student", "question"])["score"]
    assert table.loc[("dave", "q1-tests")] == 0 and table.loc[("dave", "q3-tests")] == 5
    _one_row_per_student_and_question(course, students)
    # the autograded notebook came back whole: pat's leak of the hidden tests is in it
    assert (
        "hidden_check_sentinel_7f3a"
        in (course.autograded_dir("pat", ASSIGNMENT) / "ps1.ipynb").read_text()
    )


def test_flags_markers_and_grades_from_the_cluster_are_those_of_local_grading(cluster, tmp_path):
    """The cluster worker computes the review, scoring and sandbox flags, the hash and the
    hand-graded answers that the coordinator computes for local grading: the same class graded
    both ways must give the same flags, markers and gradebook rows, flag for flag."""
    # review flags (an edited test cell, an extra file, suspicious code), a sandbox refusal
    # (a write outside the scratch directory), a failure (a corrupt notebook), a blank and a
    # written hand-graded answer, and a flag of collect's, which the coordinator adds
    students = ["alice", "bob", "henry", "judy", "leo", "pat"]
    writes_outside = (
        "try:\n    open('/usr/tpmlab-probe', 'w')\nexcept OSError as exc:\n    print(exc)\n"
    )
    courses = {}
    for way in ("local", "cluster"):
        course = _course(tmp_path / way, students)
        _add_student(course, "rita", {**RIGHT, "q2": writes_outside + RIGHT["q2"]})
        sidecar = course.root / "submitted" / "leo" / f"{ASSIGNMENT}.collect.json"
        sidecar.write_text(json.dumps({"status": "collected", "flags": ["renamed ps1 (1)"]}))
        courses[way] = course
    local = {
        r.student: r
        for r in autograde(
            courses["local"],
            ASSIGNMENT,
            workers=2,
            cell_timeout=CELL_TIMEOUT,
            student_timeout=120,
            progress=False,
            sandbox="required",
        )
    }
    remote = _grade(courses["cluster"], cluster.address)
    everyone = [*students, "rita"]
    assert sorted(local) == sorted(remote) == everyone
    expected = {
        "henry": "edited test cell: q1-tests",
        "judy": "corrupt notebook",
        "leo": "collect: renamed ps1 (1)",
        "pat": "suspicious code: input transformers",
        "rita": "sandbox refused: ",
    }
    for student in everyone:
        a, b = local[student], remote[student]
        if student in expected:  # the comparison below holds something to compare
            assert any(expected[student] in f for f in a.flags), f"{student}: {a.flags}"
        assert (b.status, b.score, b.flags, b.reason, b.manual_redo) == (
            a.status,
            a.score,
            a.flags,
            a.reason,
            a.manual_redo,
        ), f"{student}: cluster {b} != local {a}"
        mine, theirs = _marker(courses["cluster"], student), _marker(courses["local"], student)
        assert mine.pop("graded_by") in set(cluster.workers().values())
        for timing in ("seconds",):
            mine.pop(timing), theirs.pop(timing)
        assert mine == theirs, f"{student}: cluster marker {mine} != local marker {theirs}"
    assert "extra file: notes.txt" in remote["leo"].flags
    columns = ["student", "question", "score", "needs_manual_grade"]
    tables = {
        way: grades_table(course, ASSIGNMENT)
        .reindex(columns=columns)
        .sort_values(["student", "question"])
        .reset_index(drop=True)
        for way, course in courses.items()
    }
    assert tables["cluster"].equals(tables["local"]), (tables["cluster"], tables["local"])


def test_a_worker_without_the_sandbox_refuses_and_the_student_is_graded_elsewhere(
    cluster, tmp_path, capsys
):
    course = _course(tmp_path, ["alice"])
    no_bwrap = cluster.start_worker("no-bwrap", path=str(BIN))  # the venv's programs only
    event, holding = cluster.hold(["w1", "w2"])  # the only idle worker is the one without bwrap
    try:
        join = _in_background(lambda: _grade(course, cluster.address))
        seen = ""
        deadline = time.monotonic() + 120
        while "refused:" not in seen:
            assert time.monotonic() < deadline, f"no refusal reported: {seen!r}"
            time.sleep(0.2)
            seen += capsys.readouterr().err
        assert no_bwrap in seen and "cannot sandbox" in seen and "bubblewrap" in seen, seen
        assert not course.autograded_dir("alice", ASSIGNMENT).exists()  # nothing graded yet
    finally:
        event.set()
    results = join()
    assert results["alice"].status == "graded" and results["alice"].score == 10
    marker = _marker(course, "alice")
    assert marker["sandboxed"] is True
    assert marker["graded_by"] in {cluster.workers()["w1"], cluster.workers()["w2"]}
    del holding
    cluster.kill_worker("no-bwrap", signal.SIGTERM)


def test_a_worker_that_joins_late_gets_work(cluster, tmp_path):
    students = ["carol", "dave"]
    course = _course(tmp_path, students)
    event, holding = cluster.hold(["w1", "w2"])  # every worker of the cluster is busy
    try:
        join = _in_background(lambda: _grade(course, cluster.address))
        time.sleep(2)  # the students wait on the scheduler: nobody can take them
        assert not any(course.autograded_dir(s, ASSIGNMENT).exists() for s in students)
        late = cluster.start_worker("late")
        results = join()
    finally:
        event.set()
    for student in students:
        assert results[student].score == CLASS[student][1]
        assert _marker(course, student)["graded_by"] == late
    del holding
    cluster.kill_worker("late", signal.SIGTERM)


def test_a_worker_killed_mid_student_is_replaced_and_nothing_is_recorded_twice(
    cluster, tmp_path, monkeypatch
):
    students = ["alice", "frank"]  # frank's loop runs to the 5 s cell limit: a long student
    course = _course(tmp_path, students)
    recorded = []
    record = autograde_module.record_grades

    def counting(course_, assignment, student, *args, **kwargs):
        recorded.append(student)
        return record(course_, assignment, student, *args, **kwargs)

    monkeypatch.setattr(autograde_module, "record_grades", counting)
    join = _in_background(lambda: _grade(course, cluster.address))

    def frank_on():
        for address, keys in cluster.client.processing().items():
            if any("tpmlab-grade-frank-" in str(k) for k in keys):
                return address
        return None

    victim = None
    deadline = time.monotonic() + 120
    while victim is None:
        assert time.monotonic() < deadline, "frank was never seen mid-grading on one worker"
        first = frank_on()
        if first is not None:
            time.sleep(1)  # frank is being graded: his loop alone runs to the 5 s cell limit
            if frank_on() == first:
                victim = first
        else:
            time.sleep(0.1)
    [name] = [n for n, a in cluster.workers().items() if a == victim]
    cluster.kill_worker(name)
    results = join()
    assert results["frank"].status == "graded" and results["frank"].score == CLASS["frank"][1]
    assert results["alice"].score == 10
    assert _marker(course, "frank")["graded_by"] not in (victim, "")
    assert sorted(recorded) == students, recorded  # one gradebook transaction per student
    _one_row_per_student_and_question(course, students)
    cluster.start_worker(name)


def test_the_coordinator_killed_and_restarted_loses_and_duplicates_nothing(cluster, tmp_path):
    students = ["alice", "carol", "dave"]
    course = _course(tmp_path, students)
    cmd = [sys.executable, "-m", "tpmlab.grading", "--course", str(course.root), "autograde"]
    cmd += [ASSIGNMENT, "--cluster", cluster.address, "--cell-timeout", str(CELL_TIMEOUT)]
    cmd += ["--no-progress"]
    first = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    done: list[str] = []
    while not done:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "no student was recorded"
        done = [s for s in students if (course.autograded_dir(s, ASSIGNMENT) / MARKER).exists()]
        time.sleep(0.05)
    first.kill()  # SIGKILL: no clean-up of any kind
    first.wait()
    done = [s for s in students if (course.autograded_dir(s, ASSIGNMENT) / MARKER).exists()]
    assert 1 <= len(done) < len(students), done
    second = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    lines = {line.split()[0]: line.split()[1] for line in second.stdout.splitlines()[:-1]}
    assert lines == {s: ("skipped" if s in done else "graded") for s in students}, second.stdout
    totals = grades_table(course, ASSIGNMENT).groupby("student")["score"].sum().to_dict()
    assert totals == {s: CLASS[s][1] for s in students}
    _one_row_per_student_and_question(course, students)


def test_through_a_shared_folder_the_scores_are_local_and_the_sandbox_sees_nothing_of_it(
    cluster, tmp_path
):
    students = ["alice", "dave", "judy"]
    course = _course(tmp_path, students)
    shared = tmp_path / "share"
    shared.mkdir()
    # a student who looks for the answer key in the shared folder (its path is no secret)
    probe = (
        "import os\n"
        f"SHARED = {str(shared)!r}\n"
        "try:\n"
        "    seen = sorted(os.listdir(SHARED))\n"
        "except OSError as exc:\n"
        "    seen = type(exc).__name__\n"
        "print('SHARED-PROBE', os.path.exists(SHARED), seen)\n"
    )
    _add_student(course, "quinn", {**RIGHT, "q1": probe + RIGHT["q1"]})
    seen_on_host: set[str] = set()
    stop = threading.Event()

    def watch():  # what the coordinator put in the share while the class was graded
        while not stop.is_set():
            for path in shared.rglob("*"):
                seen_on_host.add(path.relative_to(shared).as_posix().split("/", 1)[-1])
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        results = _grade(course, cluster.address, shared_folder=shared)
    finally:
        stop.set()
        watcher.join(10)
    assert "bundle/gradebook.db" in seen_on_host, seen_on_host
    stem = NOTEBOOK.removesuffix(".ipynb")  # the key's cache file name: notebook-fingerprint
    assert any(re.fullmatch(rf"bundle/keys/{stem}-[0-9a-f]{{24}}\.json", p) for p in seen_on_host)
    assert {f"submissions/{s}/{NOTEBOOK}" for s in students} <= seen_on_host
    assert list(shared.iterdir()) == []  # the run's folder left the share with the run
    workers = set(cluster.workers().values())
    for student in students:
        _, score, flags = CLASS[student]
        assert results[student].score == score, f"{student}: {results[student]}"
        for flag in flags:
            assert any(flag in f for f in results[student].flags), results[student].flags
        assert _marker(course, student)["graded_by"] in workers
    assert results["quinn"].score == 10 and results["quinn"].max_score == 10, results["quinn"]
    _one_row_per_student_and_question(course, [*students, "quinn"])
    graded = (course.autograded_dir("quinn", ASSIGNMENT) / NOTEBOOK).read_text()
    # the folder held the key while quinn ran, and the sandbox saw no folder there at all
    assert "SHARED-PROBE False FileNotFoundError" in graded, graded[:2000]


def test_a_shared_folder_that_a_sandbox_could_see_or_a_worker_lacks_is_refused(tmp_path, capsys):
    course = _course(tmp_path, ["alice"])
    inside_the_sandbox = Path(sys.prefix)  # the virtualenv: every sandboxed kernel mounts it
    with pytest.raises(SystemExit) as stop:
        grade_cli(
            ["--course", str(course.root), "autograde", ASSIGNMENT]
            + ["--cluster", "tcp://127.0.0.1:9", "--shared-folder", str(inside_the_sandbox)]
        )
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert "visible to the students' sandboxed kernels" in err and "/srv/tpmlab-share" in err, err
    assert not (course.root / "autograded").exists() and not (course.root / "gradebook.db").exists()
    with pytest.raises(SystemExit) as stop:
        grade_cli(["--course", str(course.root), "autograde", ASSIGNMENT, "--shared-folder", "/x"])
    assert stop.value.code == 2 and "needs --cluster" in capsys.readouterr().err
    # each worker checks again, on its own machine: a folder it cannot see, or its sandbox can
    missing = cluster_module._shared_refusal("tcp://w:1", tmp_path / "not-mounted-here")
    assert missing is not None and "is not on the Dask worker tcp://w:1" in str(missing)
    visible = cluster_module._shared_refusal("tcp://w:1", inside_the_sandbox / "share")
    assert visible is not None and "the sandbox could see" in str(visible)
    assert cluster_module._shared_refusal("tcp://w:1", tmp_path) is None


@pytest.fixture(scope="module")
def refusing_cluster(tmp_path_factory):
    """A scheduler of its own whose only two workers have no bubblewrap."""
    pytest.importorskip("distributed", reason="pip install -e '.[cluster]' (make test does)")
    if sandbox.probe():
        pytest.skip(f"needs bubblewrap and root: {sandbox.probe()}")
    c = LocalCluster(tmp_path_factory.mktemp("dask-refusing"))
    try:
        c.start_worker("bare-1", path=str(BIN))  # the venv's programs only: no bwrap
        c.start_worker("bare-2", path=str(BIN))
        yield c
    finally:
        c.close()


def test_every_worker_refusing_fails_loudly_and_records_nothing(refusing_cluster, tmp_path, capsys):
    students = ["alice", "carol"]
    course = _course(tmp_path, students)
    trace = Path(tempfile.gettempdir()) / f"tpmlab-ran-unsandboxed-{uuid.uuid4().hex}"
    # code that leaves a file on the host if it ever runs outside a sandbox (in one, /tmp is
    # the sandbox's own tmpfs)
    _add_student(
        course, "rex", {**RIGHT, "q1": f"open({str(trace)!r}, 'w').close()\nsignups = 200"}
    )
    status = grade_cli(
        ["--course", str(course.root), "autograde", ASSIGNMENT, "--no-progress"]
        + ["--cluster", refusing_cluster.address, "--cell-timeout", str(CELL_TIMEOUT)]
    )
    out, err = capsys.readouterr()
    assert status == 3, out + err  # some student has no recorded result
    assert "EVERY Dask worker" in err and "bubblewrap" in err and "What to do:" in err, err
    assert err.count("EVERY Dask worker") == 1, err  # said once, not once per student
    for address in refusing_cluster.workers().values():
        assert f"refused: the Dask worker {address} cannot sandbox" in err, err
    lines = {line.split()[0]: line for line in out.splitlines()[:-1]}
    assert sorted(lines) == sorted([*students, "rex"]), out
    for line in lines.values():
        assert "failed" in line and "not graded" in line and "no Dask worker could grade" in line
    assert "0 graded" in out and "3 not graded" in out, out
    assert not trace.exists()  # nothing of rex ran unsandboxed
    assert not (course.root / "autograded").exists()
    assert grades_table(course, ASSIGNMENT).empty  # nothing written as a grade


def test_what_a_worker_cannot_compute_is_left_to_the_coordinator(tmp_path, monkeypatch):
    """On the worker, a private gradebook whose grades cannot be read is sent whole (the
    coordinator then records the failure as for local grading), and checks that raise are left
    out (the coordinator computes them again from the same files)."""
    import sqlite3

    from tpmlab.grading import checks

    course = _course(tmp_path, ["alice"])
    submitted = course.submitted_dir("alice", ASSIGNMENT)
    empty = tmp_path / "private.db"
    sqlite3.connect(empty).close()  # no tables: nbgrader recorded nothing
    result = {"ok": True, "timed_out": False, "produced": True}
    out = cluster_module._checked(
        result, course.root, ASSIGNMENT, "alice", submitted, empty, sandboxed=True
    )
    assert out["grades"] is None and out["gradebook"] == empty.read_bytes()
    assert out["checks"] == checks.submission_checks(
        course, ASSIGNMENT, submitted, submitted, sandboxed=True, ok=True
    )
    assert out["checks"]["answers"] and out["checks"]["hash"]

    def broken(*args):
        raise ValueError("unreadable")

    monkeypatch.setattr(checks, "review_submission", broken)
    out = cluster_module._checked(
        {**result, "ok": False}, course.root, ASSIGNMENT, "alice", submitted, empty, False
    )
    assert out == {"checks": None, "grades": None, "gradebook": None}


def test_learners_of_several_variants_are_graded_on_their_own_on_the_cluster(cluster, tmp_path):
    """An assignment with per-learner variants (tpmlab.variants): the coordinator sends the key of
    every variant the class has, through Dask and through a shared folder, and each learner is
    judged on their own (a classmate's number loses the point)."""
    from tests.test_variants_class import TOY, toy_course
    from tpmlab.grading import notebooks
    from tpmlab.grading.demo import solution_answers
    from tpmlab.variants import parse

    course = toy_course(tmp_path / "course")
    source = notebooks.read(course.source_dir(TOY) / "toy.ipynb")
    params = parse(source)
    found: dict[int, str] = {}
    for i in range(100):
        found.setdefault(params.number_of(f"v{i}"), f"v{i}")
    honest = list(found.values())[:3]
    released = notebooks.release(source)
    answers = {s: solution_answers(source) for s in honest}
    other = params.of(honest[0]).q1_n
    answers["copier"] = {"q1": f"def double():\n    return {2 * other}\n"}
    assert params.number_of("copier") != params.number_of(honest[0])
    for student, chosen in answers.items():
        folder = course.submitted_dir(student, TOY)
        folder.mkdir(parents=True)
        nbformat.write(notebooks.substitute(released, chosen), str(folder / "toy.ipynb"))
    expected = {**dict.fromkeys(honest, 1.0), "copier": 0.0}
    kwargs = dict(progress=False, sandbox="required", cluster=cluster.address, student_timeout=120)
    results = autograde(course, TOY, **kwargs)
    assert {r.student: r.score for r in results} == expected, results
    shared = tmp_path / "share"
    shared.mkdir()
    results = autograde(course, TOY, force=True, shared_folder=shared, **kwargs)
    assert {r.student: r.score for r in results} == expected, results
