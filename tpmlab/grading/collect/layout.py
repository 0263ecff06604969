"""Laying out: the chosen upload of each student copied into nbgrader's ``submitted/``
folder with its sidecar, the roster into the gradebook, and the report of what was odd."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

from tpmlab.grading.collect.identity import Candidate, Context, utc_now
from tpmlab.grading.collect.roster import RosterEntry
from tpmlab.grading.collect.scan import scan_source
from tpmlab.grading.collect.sidecar import collect_record, has_work, stamp, write_sidecar
from tpmlab.grading.collect.zipsafe import MAX_FILE_BYTES, printable, short
from tpmlab.grading.coursedir import Course


@dataclass
class CollectReport:
    collected: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    flagged: dict[str, list[str]] = field(default_factory=dict)
    not_collected: dict[str, str] = field(default_factory=dict)
    roster: list[str] | None = None
    have_work: list[str] = field(default_factory=list)  # usable submission, this run or before
    unverified: list[str] = field(default_factory=list)  # named only by a hand-in manifest

    def lines(self) -> list[str]:
        if self.roster is not None:
            on = sorted(set(self.roster) & set(self.have_work))
            out = [
                f"collected {len(on)} of {len(self.roster)} students on the roster "
                f"({len(self.collected)} collected in this run)"
            ]
            out += [f"missing: {s} (on the roster, no submission)" for s in self.missing]
            extra = sorted(set(self.collected) - set(self.roster))
            out += [f"not on the roster: {s} (collected; check the roster)" for s in extra]
        else:
            out = [
                f"collected {len(self.collected)} student(s) in this run; no roster given, so "
                "nobody can be reported missing (pass --roster FILE)"
            ]
        out += [f"could not be collected: {s}: {r}" for s, r in sorted(self.not_collected.items())]
        out += [
            f"unverified: {u} (named only by its hand-in manifest; check who sent it)"
            for u in self.unverified
        ]
        out += [f"flagged: {s}: {'; '.join(f)}" for s, f in sorted(self.flagged.items())]
        out += [f"duplicate: {d}" for d in self.duplicates]
        out += [f"renamed: {r}" for r in self.renamed]
        out += [f"problem: {p}" for p in self.problems]
        return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record_of(cand: Candidate, status: str, reason: str, flags: list[str], files) -> dict:
    assert cand.uploaded_at is not None, "scan_source gives every candidate a time"
    return {
        "status": status,
        "reason": reason,
        "origin": cand.origin,
        "identity": cand.identity,
        "lms_user_id": cand.lms_user_id,
        "submission_id": cand.submission_id,
        "late": cand.late,
        "uploaded_at": stamp(cand.uploaded_at),
        "time_source": cand.time_source,
        "collected_at": stamp(utc_now()),
        "flags": flags,
        "files": files,
    }


def _place(course: Course, student: str, assignment: str, files: dict[str, Path], cand) -> dict:
    """Copy ``files`` into the student's submitted folder, atomically; return their checksums."""
    dest = course.submitted_dir(student, assignment)
    staging = dest.parent / f".{assignment}.collecting"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    sums = {}
    for name, path in files.items():
        shutil.copyfile(path, staging / name)
        sums[name] = _sha256(staging / name)
    (staging / "timestamp.txt").write_text(stamp(cand.uploaded_at))
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    return sums


def _usable_files(cand: Candidate, expected: list[str], student: str, report) -> dict[str, Path]:
    files = dict(cand.files)
    unknown = sorted(set(files) - set(expected))
    if unknown and len(expected) == 1 and len(files) == 1:
        (only,) = unknown
        files = {expected[0]: files.pop(only)}
        report.renamed.append(f"{student}: {printable(only)} -> {expected[0]}")
    elif unknown:
        cand.flags.append(
            f"notebook(s) {unknown} are not part of the assignment (expected {expected}); ignored"
        )
        for name in unknown:
            files.pop(name)
    for name, path in list(files.items()):
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            cand.flags.append(f"{short(name)} is over {MAX_FILE_BYTES // 2**20} MiB; skipped")
            files.pop(name)
    return files


def _collect_student(course, assignment, student, cands, expected, report) -> None:
    cands.sort(key=Candidate.order)
    flags: list[str] = []
    for cand in cands:
        for flag in cand.flags:
            line = flag if len(cands) == 1 else f"{cand.origin}: {flag}"
            if line not in flags:
                flags.append(line)
    chosen = None
    for cand in reversed([c for c in cands if not c.refused]):
        files = _usable_files(cand, expected, student, report)
        if files:
            chosen = cand, files
            break
        cand.refused = "no notebook of the assignment"
    refusals = [
        (cand, f"upload {cand.origin} could not be used: {cand.refused}")
        for cand in cands
        if cand.refused
    ]
    if chosen and len(cands) > 1:
        others = ", ".join(c.origin for c in cands if c is not chosen[0])
        report.duplicates.append(f"{student}: kept {chosen[0].origin}, ignored {others}")
    old_record = collect_record(course, student, assignment)
    if chosen is None:
        newest = cands[-1]
        reason = newest.refused
        if has_work(course, student, assignment):
            # an earlier usable submission stays; the bad upload is recorded against it
            flags += [line for _, line in refusals]
            if old_record:
                old_record["flags"] = list(dict.fromkeys([*old_record.get("flags", []), *flags]))
                write_sidecar(course, student, assignment, old_record)
            report.duplicates.append(
                f"{student}: kept the submission collected before; {newest.origin} could not be "
                f"used ({reason})"
            )
        else:
            # the reason says it once: no flag repeats it
            flags = [f for f in flags if f.split(": ", 1)[-1] not in reason]
            flags += [line for cand, line in refusals if cand is not newest]
            dest = course.submitted_dir(student, assignment)
            if dest.exists():
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            (dest / "timestamp.txt").write_text(stamp(newest.uploaded_at))
            record = _record_of(newest, "not collected", reason, flags, {})
            write_sidecar(course, student, assignment, record)
            report.not_collected[student] = reason
        if flags:
            report.flagged[student] = flags
        return
    cand, files = chosen
    flags += [line for _, line in refusals]
    old_stamp = course.submission_timestamp(student, assignment)
    if old_stamp is not None and old_stamp.tzinfo is None:
        old_stamp = old_stamp.replace(tzinfo=UTC)
    old_verified = not str(old_record.get("identity", "")).startswith("hand-in manifest")
    keep_old = old_stamp is not None and old_stamp > cand.uploaded_at
    if has_work(course, student, assignment) and (keep_old or (old_verified and not cand.verified)):
        if keep_old:
            report.duplicates.append(f"{student}: already collected a newer submission; kept it")
        else:
            flags.append(
                f"{cand.origin} names {student} only in its hand-in manifest; it does not replace "
                f"the submission collected from {old_record.get('identity') or 'a named source'}"
            )
            report.duplicates.append(f"{student}: kept the submission collected before")
        if old_record and flags:
            old_record["flags"] = list(dict.fromkeys([*old_record.get("flags", []), *flags]))
            write_sidecar(course, student, assignment, old_record)
        if flags:
            report.flagged[student] = flags
        return
    sums = _place(course, student, assignment, files, cand)
    if not cand.verified:
        report.unverified.append(f"{student}: {cand.origin}")
    record = _record_of(cand, "collected", "", flags, sums)
    if (
        old_record.get("files") == sums
        and old_record.get("uploaded_at") == record["uploaded_at"]
        and old_record.get("collected_at")
    ):
        record["collected_at"] = old_record["collected_at"]  # the same upload, collected again
    write_sidecar(course, student, assignment, record)
    report.collected.append(student)
    if flags:
        report.flagged[student] = flags


def _update_gradebook(course: Course, roster, report) -> None:
    """The roster's names, emails and LMS ids into the gradebook's student records (what
    ``nbgrader export`` reads). Without a roster the gradebook is not touched: the LMS ids of
    the file names are in the sidecars, where ``tpmlab-grade export`` reads them."""
    updates: dict[str, dict[str, str]] = {}
    for entry in roster or []:
        details = {
            "first_name": entry.first_name,
            "last_name": entry.last_name,
            "email": entry.email,
            "lms_user_id": entry.lms_id,
        }
        details = {k: v for k, v in details.items() if v}
        if details:
            updates[entry.id] = details
    if not updates:
        return
    import os

    from nbgrader.api import Gradebook

    path = os.environ.get("PATH")
    # a new gradebook is stamped by nbgrader with the `alembic` command of this environment
    os.environ["PATH"] = course.env()["PATH"]
    try:
        with Gradebook(course.db_url, course.course_id) as gb:
            for student, details in sorted(updates.items()):
                gb.update_or_create_student(student, **details)
    except Exception as exc:
        report.problems.append(
            f"could not write names and LMS ids to the gradebook ({type(exc).__name__}: {exc}); "
            "the submissions were collected"
        )
    finally:
        if path is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = path


def collect(
    course: Course,
    assignment: str,
    source: str | Path,
    roster: list[str] | list[RosterEntry] | None = None,
) -> CollectReport:
    """Lay out the submissions found in ``source`` for nbgrader and report what was odd."""
    source = Path(source)
    if not source.exists():
        raise SystemExit(f"Nothing to collect: {source} does not exist.")
    expected = course.source_notebooks(assignment)
    entries = None
    if roster is not None:
        entries = [e if isinstance(e, RosterEntry) else RosterEntry(str(e)) for e in roster]
    ctx = Context(assignment, entries, utc_now())
    report = CollectReport(roster=[e.id for e in entries] if entries is not None else None)
    with tempfile.TemporaryDirectory() as tmp:
        candidates = scan_source(source, Path(tmp), ctx, report.problems)
        by_student: dict[str, list[Candidate]] = {}
        for cand in candidates:
            assert cand.student is not None, "scan_source keeps only uploads it can name"
            by_student.setdefault(cand.student, []).append(cand)
        for student, cands in sorted(by_student.items()):
            try:
                _collect_student(course, assignment, student, cands, expected, report)
            except Exception as exc:  # a disk error, say: this student only
                report.problems.append(
                    f"{student}: could not be laid out ({type(exc).__name__}: {exc})"
                )
    _update_gradebook(course, entries, report)
    report.have_work = [
        s for s in course.submitted_students(assignment) if has_work(course, s, assignment)
    ]
    if report.roster is not None:
        report.missing = sorted(
            set(report.roster) - set(report.have_work) - set(report.not_collected)
        )
    return report
