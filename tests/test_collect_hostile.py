"""A hostile class for ``tpmlab-grade collect``: impersonation through the hand-in manifest,
forged dates, encrypted members, zip bombs, path traversal, beside honest students.

Identity and time come from the LMS bulk-download names, the roster and the upload itself; what
a student wrote (the manifest, the zip) is checked, flagged, and never stops the collection. The
last test takes a small 00-warmup class through collect, the sandboxed autograde and export.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from tests.grading_fixtures import (
    ASSIGNMENT,
    NOTEBOOK,
    RIGHT,
    handin_zip,
    make_course,
    student_notebook,
)
from tpmlab.grading import collect as collect_module
from tpmlab.grading.collect import collect
from tpmlab.grading.collect import layout as collect_layout
from tpmlab.grading.coursedir import Course

T0 = 1_780_000_000  # 2026-05-28 20:26:40 UTC: when the honest uploads reached the LMS
MiB = 2**20


def _nb(answers) -> bytes:
    return nbformat.writes(student_notebook(answers)).encode()


def _manifest(student: str, when: str) -> bytes:
    return json.dumps(
        {"student": student, "assignment": ASSIGNMENT, "handed_in_at": when, "files": {}}
    ).encode()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds")


def _zip(path: Path, members: dict[str, bytes], mtime: float = T0) -> Path:
    """A zip as a student's tools make it, uploaded at ``mtime``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    os.utime(path, (mtime, mtime))
    return path


def _handin(path: Path, notebook: bytes, manifest: bytes | None, mtime: float = T0, **extra):
    members = {f"{ASSIGNMENT}/{NOTEBOOK}": notebook}
    if manifest is not None:
        members[f"{ASSIGNMENT}/tpmlab-handin.json"] = manifest
    members.update(extra)
    return _zip(path, members, mtime)


def _raw_zip(path: Path, members: list[tuple[str, bytes, int, int, int, int]]) -> Path:
    """A zip written byte by byte: (name, data, crc, declared size, flag bits, method) per
    member, so headers can claim what a hostile zip claims (encryption, false sizes)."""
    body, central = bytearray(), bytearray()
    for name, data, crc, size, flags, method in members:
        raw = name.encode()
        offset = len(body)
        body += struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            flags,
            method,
            0,
            0x21,
            crc,
            len(data),
            size,
            len(raw),
            0,
        )
        body += raw + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            flags,
            method,
            0,
            0x21,
            crc,
            len(data),
            size,
            len(raw),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += raw
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(body), 0
    )
    path.write_bytes(bytes(body + central + end))
    os.utime(path, (T0, T0))
    return path


def _deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def _bomb(path: Path, members: int = 25, size: int = 19 * MiB, declared: int | None = None):
    """``members`` members of ``size`` zero bytes each (0.5 MB for 25 x 19 MiB), compressed
    once; ``declared`` makes the headers lie about the uncompressed size."""
    zeros = b"\0" * size
    data, crc = _deflate(zeros), zlib.crc32(zeros)
    entries = [
        (f"{ASSIGNMENT}/junk{i:02d}.bin", data, crc, declared or size, 0, 8) for i in range(members)
    ]
    return _raw_zip(path, entries)


def _encrypted(path: Path, notebook: bytes) -> Path:
    """A zip whose notebook member has the encrypted bit (Python's zipfile raises RuntimeError)."""
    return _raw_zip(
        path, [(f"{ASSIGNMENT}/{NOTEBOOK}", notebook, zlib.crc32(notebook), len(notebook), 1, 0)]
    )


def _course(tmp_path: Path) -> Course:
    return Course(make_course(tmp_path / "course"))


def _submitted(course: Course, student: str) -> bytes:
    return (course.submitted_dir(student, ASSIGNMENT) / NOTEBOOK).read_bytes()


def _line(report_lines: list[str], prefix: str) -> str:
    found = [line for line in report_lines if line.startswith(prefix)]
    assert found, f"no line starting {prefix!r} in:\n" + "\n".join(report_lines)
    return " ".join(found)


@contextlib.contextmanager
def _kept_workdir(path: Path):
    """Collect's scratch folder, kept after it returns so the test can weigh what it wrote."""
    path.mkdir(parents=True, exist_ok=True)
    yield str(path)


def _bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


ROSTER = """id,first_name,last_name,email,lms_id
alice,Alice,Adams,alice@example.edu,1001
bob,Bob,Brown,bob@example.edu,1002
mallory,Mallory,Moore,mallory@example.edu,1003
carol,Carol,Clark,carol@example.edu,1004
dave,Dave,Davis,dave@example.edu,1005
erin,Erin,Evans,erin@example.edu,1006
frank,Frank,Fox,frank@example.edu,1007
gina,Gina,Gray,gina@example.edu,1008
henry,Henry,Hill,henry@example.edu,1009
ivan,Ivan,Ives,ivan@example.edu,1010
zoe,Zoe,Zane,zoe@example.edu,1011
"""
ALICE = _nb(RIGHT)
BLANK = _nb("blank")


def _hostile_inbox(inbox: Path) -> None:
    """A Canvas-style bulk download of the hostile class."""
    inbox.mkdir(parents=True)
    _handin(inbox / "alice_1001_5001_alice--ps1.zip", ALICE, _manifest("alice", _iso(T0 - 60)))
    (inbox / "bob_1002_5002_ps1.ipynb").write_bytes(_nb(RIGHT))
    os.utime(inbox / "bob_1002_5002_ps1.ipynb", (T0, T0))
    # names alice in its manifest and a date in 2099; uploaded an hour after alice's real work
    _handin(
        inbox / "mallory_1003_5003_mallory--ps1.zip",
        BLANK,
        _manifest("alice", "2099-01-01T00:00:00+00:00"),
        mtime=T0 + 3600,
    )
    _handin(
        inbox / "carol_LATE_1004_5004_carol--ps1.zip",
        _nb(RIGHT),
        _manifest("carol", _iso(T0 - 10 * 86400)),  # backdated ten days
    )
    _handin(inbox / "dave_1005_5005_dave--ps1.zip", _nb(RIGHT), _manifest("dave", "yesterday"))
    _encrypted(inbox / "erin_1006_5006_erin--ps1.zip", _nb(RIGHT))
    _bomb(inbox / "frank_1007_5007_frank--ps1.zip")
    _handin(
        inbox / "gina_1008_5008_gina--ps1.zip",
        _nb(RIGHT),
        _manifest("gina", _iso(T0 - 60)),
        **{"../../../gina-escaped.ipynb": b"{}", "/tmp/gina-absolute.txt": b"x"},
    )
    _handin(inbox / "henry_1009_5009_henry--ps1.zip", _nb(RIGHT), b"{not json at all")
    (inbox / "ivan_1010_5010_ivan--ps1.zip").write_bytes(b"this is not a zip file")


@pytest.mark.slow
def test_hostile_class_collect_exits_0_and_names_every_flag(tmp_path):
    course = _course(tmp_path)
    inbox = tmp_path / "inbox"
    _hostile_inbox(inbox)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "tpmlab.grading", "--course", str(course.root), "collect",
         ASSIGNMENT, "--from", str(inbox), "--roster", str(roster)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("collected 7 of 11 students on the roster"), proc.stdout
    assert "missing: zoe (on the roster, no submission)" in lines
    assert "encrypted" in _line(lines, "could not be collected: erin:")
    assert "zip bomb" in _line(lines, "could not be collected: frank:")
    assert "not a readable zip" in _line(lines, "could not be collected: ivan:")
    mallory = _line(lines, "flagged: mallory:")
    assert "names 'alice'" in mallory and "after the upload" in mallory
    assert "backdated" in _line(lines, "flagged: carol:")
    assert "'yesterday' is not a date" in _line(lines, "flagged: dave:")
    assert "path out of the folder" in _line(lines, "flagged: gina:")
    assert "absolute path" in _line(lines, "flagged: gina:")
    assert "manifest is unreadable" in _line(lines, "flagged: henry:")
    for honest in ("alice", "bob"):
        assert not [line for line in lines if line.startswith(f"flagged: {honest}:")], lines
    # alice keeps her own work; the blank notebook counts as mallory's
    assert _submitted(course, "alice") == ALICE and _submitted(course, "mallory") == BLANK
    assert course.submission_timestamp("alice", ASSIGNMENT).year == 2026
    for student in ("carol", "dave", "gina", "henry"):
        assert _submitted(course, student) == _nb(RIGHT), student
    for student in ("erin", "frank", "ivan"):  # a recorded result, no notebook
        folder = course.submitted_dir(student, ASSIGNMENT)
        assert folder.is_dir() and not list(folder.glob("*.ipynb")), student
        assert collect_module.not_collected_reason(course, student, ASSIGNMENT)
    assert (
        not list(tmp_path.rglob("gina-escaped.ipynb"))
        and not Path("/tmp/gina-absolute.txt").exists()
    )
    record = collect_module.collect_record(course, "carol", ASSIGNMENT)
    assert (record["lms_user_id"], record["submission_id"], record["late"]) == (
        "1004",
        "5004",
        True,
    )
    assert seconds < 120, f"collect of 10 uploads took {seconds:.0f} s"


def test_impersonator_is_flagged_and_classmate_keeps_work_and_resubmits(tmp_path):
    course = _course(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # alice hands in with the real tool and uploads it at once: nothing to flag
    shutil.copy(handin_zip(tmp_path, "alice", RIGHT), inbox / "alice_1001_5001_alice--ps1.zip")
    # mallory's zip names alice, dated 2099
    _handin(
        inbox / "mallory_1003_5003_mallory--ps1.zip",
        BLANK,
        _manifest("alice", "2099-01-01T00:00:00+00:00"),
        mtime=time.time() - 60,
    )
    report = collect(course, ASSIGNMENT, inbox, roster=["alice", "mallory"])
    assert _submitted(course, "alice").strip() == _nb(RIGHT).strip()
    assert _submitted(course, "mallory") == BLANK
    assert "names 'alice'" in _line(report.lines(), "flagged: mallory:")
    assert not [line for line in report.lines() if line.startswith("flagged: alice")]
    # alice's real resubmission, uploaded after her first one, is accepted
    later = tmp_path / "later"
    later.mkdir()
    resubmission = _nb({**RIGHT, "q3": "growth = (80 - 120) / 120  # checked again"})
    (later / "alice_1001_5011_ps1.ipynb").write_bytes(resubmission)
    again = collect(course, ASSIGNMENT, later, roster=["alice", "mallory"])
    assert again.collected == ["alice"], again.lines()
    assert _submitted(course, "alice") == resubmission
    assert collect_module.collect_record(course, "alice", ASSIGNMENT)["submission_id"] == "5011"


@pytest.mark.parametrize(
    "manifest, expected",
    [
        (_manifest("carol", _iso(T0 - 10 * 86400)), "backdated"),
        (_manifest("carol", "yesterday"), "'yesterday' is not a date"),
        (_manifest("carol", "2099-01-01T00:00:00+00:00"), "after the upload"),
        (b"\xff\xfe not json", "manifest is unreadable"),
        (b"[1, 2, 3]", "manifest is unreadable"),
    ],
    ids=["backdated", "yesterday", "future", "binary", "json-list"],
)
def test_manifest_dates_and_garbage_are_flags_not_overrides(tmp_path, manifest, expected):
    course = _course(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _handin(inbox / "carol_1004_5004_carol--ps1.zip", _nb(RIGHT), manifest)
    report = collect(course, ASSIGNMENT, inbox)
    assert report.collected == ["carol"]
    assert expected in _line(report.lines(), "flagged: carol:")
    # the time graded is the upload's own, whatever the manifest says
    stamp = course.submission_timestamp("carol", ASSIGNMENT)
    assert stamp.replace(tzinfo=UTC).timestamp() == T0


def test_encrypted_member_gives_a_recorded_result_and_the_class_goes_on(tmp_path):
    course = _course(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _encrypted(inbox / "erin_1006_5006_erin--ps1.zip", _nb(RIGHT))
    (inbox / "bob_1002_5002_ps1.ipynb").write_bytes(_nb(RIGHT))
    report = collect(course, ASSIGNMENT, inbox, roster=["bob", "erin"])
    assert report.collected == ["bob"]
    assert "encrypted" in _line(report.lines(), "could not be collected: erin:")
    assert report.lines()[0].startswith("collected 1 of 2 students on the roster")


@pytest.mark.parametrize("kind", ["declared", "lying-headers", "many-members"])
def test_zip_bomb_is_refused_quickly_without_filling_the_disk(tmp_path, monkeypatch, kind):
    course = _course(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    upload = inbox / "frank_1007_5007_frank--ps1.zip"
    if kind == "declared":  # 25 members of 19 MiB: each under the per-file cap, 475 MiB in all
        _bomb(upload)
    elif kind == "lying-headers":  # the headers claim 1 KiB per member; the data is 19 MiB
        _bomb(upload, declared=1024)
    else:
        _zip(upload, {f"{ASSIGNMENT}/{NOTEBOOK}": _nb(RIGHT)} | {f"f{i}": b"" for i in range(5000)})
    assert upload.stat().st_size < 600_000
    (inbox / "bob_1002_5002_ps1.ipynb").write_bytes(_nb(RIGHT))
    work = tmp_path / "work"
    monkeypatch.setattr(
        collect_layout.tempfile, "TemporaryDirectory", lambda *a, **k: _kept_workdir(work)
    )
    started = time.monotonic()
    report = collect(course, ASSIGNMENT, inbox)
    seconds = time.monotonic() - started
    assert _bytes_under(work) < 1 * MiB, f"collect wrote {_bytes_under(work) / MiB:.0f} MiB"
    assert _bytes_under(course.root / "submitted") < 1 * MiB
    assert seconds < 20, f"refusing the bomb took {seconds:.1f} s"
    reason = _line(report.lines(), "could not be collected: frank:")
    assert {"declared": "zip bomb", "many-members": "members, over the limit"}.get(
        kind, "could not be read"
    ) in reason
    assert report.collected == ["bob"]


def test_path_traversal_members_are_skipped_and_flagged(tmp_path):
    course = _course(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _handin(
        inbox / "gina_1008_5008_gina--ps1.zip",
        _nb(RIGHT),
        _manifest("gina", _iso(T0 - 60)),
        **{"../../gina-escaped.ipynb": b"{}", "ps1/..\\..\\gina-win.ipynb": b"{}"},
    )
    report = collect(course, ASSIGNMENT, inbox)
    assert report.collected == ["gina"]
    flags = _line(report.lines(), "flagged: gina:")
    assert flags.count("is a path out of the folder") == 2, flags  # '/' and '\\' alike
    assert _submitted(course, "gina") == _nb(RIGHT)
    assert not list(tmp_path.rglob("gina-escaped.ipynb"))
    assert not list(tmp_path.rglob("*gina-win.ipynb"))


@pytest.mark.slow
def test_roster_csv_names_and_lms_ids_reach_the_gradebook(tmp_path):
    from nbgrader.api import Gradebook

    from tpmlab.grading.cli import _roster

    course = _course(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # Canvas names files by display name, not login: the roster's lms_id says who this is
    (inbox / "brownbob_1002_5002_ps1.ipynb").write_bytes(_nb(RIGHT))
    (inbox / "alice_1001_5001_ps1.ipynb").write_bytes(_nb(RIGHT))
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    report = collect(course, ASSIGNMENT, inbox, _roster(str(roster)))
    assert sorted(report.collected) == ["alice", "bob"], report.lines()
    assert report.lines()[0].startswith("collected 2 of 11 students on the roster")
    assert "id" not in report.missing and "zoe" in report.missing
    with Gradebook(course.db_url, course.course_id) as gb:
        bob = gb.find_student("bob")
        assert (bob.first_name, bob.last_name, bob.email, bob.lms_user_id) == (
            "Bob",
            "Brown",
            "bob@example.edu",
            "1002",
        )
        assert gb.find_student("zoe").email == "zoe@example.edu"
    plain = tmp_path / "plain.txt"
    plain.write_text("# ids\nalice\nbob, a note\n")
    assert [e.id for e in _roster(str(plain))] == ["alice", "bob"]


def test_no_roster_summary_says_so(tmp_path):
    course = _course(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "bob_1002_5002_ps1.ipynb").write_bytes(_nb(RIGHT))
    first = collect(course, ASSIGNMENT, inbox).lines()[0]
    assert first.startswith("collected 1 student(s) in this run; no roster given"), first


@pytest.mark.sandbox
@pytest.mark.slow
def test_hostile_warmup_class_through_collect_sandboxed_autograde_and_export(tmp_path):
    """00-warmup: two honest students, an impersonator and an encrypted upload, collected and
    graded by ``tpmlab-grade`` with the sandbox on; honest scores exact, LMS ids exported."""
    from tpmlab.grading import notebooks
    from tpmlab.grading.demo import make_course as demo_course
    from tpmlab.grading.demo import solution_answers

    assignment = "00-warmup"
    course = demo_course(tmp_path / "course", assignment)
    (name,) = course.source_notebooks(assignment)
    source_path = course.source_dir(assignment) / name
    source = notebooks.read(source_path)
    answers = solution_answers(source)
    half = dict(list(answers.items())[: len(answers) // 2])
    released = notebooks.release(source)
    tests = notebooks.autograded_test_ids(source)
    total = sum(
        float(m.get("points", 0))
        for gid, m in notebooks.grade_cells(source).items()
        if gid in tests
    )
    stubs = notebooks.grade_cells(released)
    blank = {gid: stubs[gid]["cell"].source for gid in answers if gid not in half}
    half_score = sum(r.points for r in notebooks.run(source_path, {**half, **blank}).values())
    assert 0 < half_score < total

    def nb(chosen):
        return nbformat.writes(notebooks.substitute(released, chosen) if chosen else released)

    def manifest(student, when):
        return json.dumps(
            {"student": student, "assignment": assignment, "handed_in_at": when}
        ).encode()

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _zip(
        inbox / f"adams_2001_7001_ada--{assignment}.zip",
        {f"{assignment}/{name}": nb(answers).encode(),
         f"{assignment}/tpmlab-handin.json": manifest("ada", _iso(T0 - 60))},
    )  # fmt: skip
    (inbox / f"brown_LATE_2002_7002_{name}").write_bytes(nb(half).encode())
    os.utime(inbox / f"brown_LATE_2002_7002_{name}", (T0, T0))
    _zip(
        inbox / f"moore_2003_7003_mo--{assignment}.zip",
        {f"{assignment}/{name}": nb({}).encode(),
         f"{assignment}/tpmlab-handin.json": manifest("ada", "2099-01-01T00:00:00+00:00")},
        mtime=T0 + 3600,
    )  # fmt: skip
    payload = nb(answers).encode()
    _raw_zip(
        inbox / f"evans_2004_7004_eve--{assignment}.zip",
        [(f"{assignment}/{name}", payload, zlib.crc32(payload), len(payload), 1, 0)],
    )
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "id,first_name,last_name,email,lms_id\n"
        "ada,Ada,Adams,ada@example.edu,2001\nben,Ben,Brown,ben@example.edu,2002\n"
        "mo,Mo,Moore,mo@example.edu,2003\neve,Eve,Evans,eve@example.edu,2004\n"
    )
    base = [sys.executable, "-m", "tpmlab.grading", "--course", str(course.root)]
    collected = subprocess.run(
        [*base, "collect", assignment, "--from", str(inbox), "--roster", str(roster)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert collected.stdout.startswith("collected 3 of 4 students on the roster"), collected.stdout
    assert "names 'ada'" in _line(collected.stdout.splitlines(), "flagged: mo:")
    graded = subprocess.run(
        [*base, "autograde", assignment, "--workers", "2", "--no-progress",
         "--cell-timeout", "20", "--student-timeout", "120"],
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert graded.returncode == 0, graded.stdout + graded.stderr
    exported = subprocess.run(
        [*base, "export", assignment], capture_output=True, text=True, timeout=300
    )
    assert exported.returncode == 0, exported.stdout + exported.stderr
    grades = pd.read_csv(
        course.root / "exports" / f"{assignment}-grades.csv", dtype={"lms_user_id": str}
    ).set_index("student")
    assert grades.loc["ada", "score"] == total, grades.loc["ada"].to_dict()
    assert grades.loc["ben", "score"] == pytest.approx(half_score), grades.loc["ben"].to_dict()
    assert grades.loc["mo", "score"] == 0 and grades.loc["eve", "score"] == 0
    assert "could not be collected" in grades.loc["eve", "reason"]
    assert "encrypted" in grades.loc["eve", "reason"]
    assert "names 'ada'" in grades.loc["mo", "flags"]
    assert not isinstance(grades.loc["ada", "flags"], str), grades.loc["ada", "flags"]
    assert grades["lms_user_id"].to_dict() == {
        "ada": "2001",
        "ben": "2002",
        "eve": "2004",
        "mo": "2003",
    }
    assert grades.loc["ben", "late"] and not grades.loc["ada", "late"]
    assert str(grades.loc["ada", "submission_id"]) == "7001"
    assert grades.loc["ada", "collected_at"].endswith("UTC")
    # nbgrader's own export fills names and emails from the roster
    out = tmp_path / "nbgrader-grades.csv"
    course.nbgrader("export", f"--CsvExportPlugin.to={out}")
    rows = pd.read_csv(out).set_index("student_id")
    assert rows.loc["ben", "first_name"] == "Ben" and rows.loc["ben", "email"] == "ben@example.edu"
