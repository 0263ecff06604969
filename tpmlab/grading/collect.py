"""Collect submissions into nbgrader's layout, reporting every problem instead of guessing.

Accepted inputs (one folder or zip file given with ``--from``):

- **nbgrader layout**: ``<student>/<assignment>/<notebook>.ipynb`` (as the exchange or a shared
  drive produces), or ``<student>/<notebook>.ipynb``;
- **hand-in zips**: ``<anything>.zip`` files made by ``python -m tpmlab.handin``; each carries a
  ``tpmlab-handin.json`` naming the student and the assignment;
- **LMS bulk download** (Canvas style): files named
  ``<login>[_LATE]_<userid>_<submissionid>_<original name>.ipynb`` or per-student zips named the
  same way, all in one folder or one zip.

Everything lands in ``autograder/submitted/<student>/<assignment>/`` with a ``timestamp.txt``.
Reported: students on the roster with no submission, duplicates (the newest is kept and the
others are named), misnamed notebooks (renamed only when the assignment has exactly one notebook
and the submission has exactly one), unreadable files, and files that are not notebooks.
Nothing in the input is modified; a student's earlier collected submission is replaced only by a
newer one.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tpmlab.grading.course import Course

HANDIN_MANIFEST = "tpmlab-handin.json"
CANVAS = re.compile(
    r"^(?P<login>[A-Za-z0-9.\-]+?)(?:_LATE)?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<name>.+)$"
)
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass
class Candidate:
    student: str
    files: dict[str, Path]  # name in the submission -> file on disk
    timestamp: datetime
    origin: str


@dataclass
class CollectReport:
    collected: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"collected: {len(self.collected)} student(s)"]
        out += [f"missing: {s} (on the roster, no submission)" for s in self.missing]
        out += [f"duplicate: {d}" for d in self.duplicates]
        out += [f"renamed: {r}" for r in self.renamed]
        out += [f"problem: {p}" for p in self.problems]
        return out


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


def _safe_extract(archive: Path, dest: Path, report: CollectReport) -> bool:
    """Extract a zip, refusing absolute paths, '..', links and oversized members."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = info.filename
                if name.startswith("/") or ".." in Path(name).parts:
                    report.problems.append(f"{archive.name}: unsafe path {name!r} skipped")
                    continue
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    report.problems.append(f"{archive.name}: symlink {name!r} skipped")
                    continue
                if info.file_size > MAX_FILE_BYTES:
                    report.problems.append(f"{archive.name}: {name!r} is too large, skipped")
                    continue
                zf.extract(info, dest)
        return True
    except (zipfile.BadZipFile, OSError) as exc:
        report.problems.append(f"{archive.name}: not a readable zip file ({exc})")
        return False


def _notebooks(folder: Path) -> dict[str, Path]:
    """Regular notebook files under ``folder``; symlinks and devices are never followed."""
    return {
        p.name: p
        for p in sorted(folder.rglob("*"))
        if not p.is_symlink()
        and p.is_file()
        and p.suffix == ".ipynb"
        and ".ipynb_checkpoints" not in p.parts
    }


def _from_handin(folder: Path, assignment: str, origin: str, report) -> Candidate | None:
    manifest = json.loads((folder / HANDIN_MANIFEST).read_text())
    if manifest.get("assignment") != assignment:
        report.problems.append(
            f"{origin}: hand-in is for {manifest.get('assignment')!r}, not {assignment!r}; skipped"
        )
        return None
    stamp = datetime.fromisoformat(manifest["handed_in_at"])
    return Candidate(manifest["student"], _notebooks(folder), stamp, origin)


def _scan(source: Path, assignment: str, work: Path, report: CollectReport) -> list[Candidate]:
    """Every candidate submission found in ``source`` (a folder or a zip)."""
    if source.is_file():
        target = work / "input"
        if not _safe_extract(source, target, report):
            return []
        source = target
    out: list[Candidate] = []
    for entry in sorted(source.iterdir()):
        if entry.name.startswith(".") or entry.name == "__MACOSX":
            continue
        if entry.is_symlink():
            report.problems.append(f"{entry.name}: a symbolic link; skipped")
            continue
        if entry.is_dir() and (entry / HANDIN_MANIFEST).exists():
            found = _from_handin(entry, assignment, entry.name, report)
            if found:
                out.append(found)
        elif entry.is_dir():  # nbgrader layout: <student>/<assignment>/ or <student>/
            inner = entry / assignment if (entry / assignment).is_dir() else entry
            nbs = _notebooks(inner)
            if nbs:
                out.append(
                    Candidate(entry.name, nbs, _mtime(max(nbs.values(), key=_mtime)), entry.name)
                )
            else:
                report.problems.append(f"{entry.name}: folder holds no notebook; skipped")
        elif entry.suffix == ".zip":
            target = work / f"zip-{len(out)}-{entry.stem}"
            if not _safe_extract(entry, target, report):
                continue
            manifests = list(target.rglob(HANDIN_MANIFEST))
            if manifests:
                found = _from_handin(manifests[0].parent, assignment, entry.name, report)
                if found:
                    out.append(found)
                continue
            match = CANVAS.match(entry.stem)
            nbs = _notebooks(target)
            if match and nbs:
                out.append(Candidate(match["login"], nbs, _mtime(entry), entry.name))
            else:
                report.problems.append(
                    f"{entry.name}: no hand-in manifest and not an LMS file name; skipped"
                )
        elif entry.suffix == ".ipynb":
            match = CANVAS.match(entry.name)
            if match:
                out.append(
                    Candidate(match["login"], {match["name"]: entry}, _mtime(entry), entry.name)
                )
            else:
                report.problems.append(f"{entry.name}: cannot tell whose notebook this is; skipped")
        else:
            report.problems.append(f"{entry.name}: not a notebook, folder or zip; skipped")
    return out


def collect(
    course: Course,
    assignment: str,
    source: str | Path,
    roster: list[str] | None = None,
) -> CollectReport:
    """Lay out the submissions found in ``source`` for nbgrader and report what was odd."""
    source = Path(source)
    if not source.exists():
        raise SystemExit(f"Nothing to collect: {source} does not exist.")
    expected = course.source_notebooks(assignment)
    report = CollectReport()
    with tempfile.TemporaryDirectory() as tmp:
        candidates = _scan(source, assignment, Path(tmp), report)
        by_student: dict[str, list[Candidate]] = {}
        for cand in candidates:
            if not STUDENT_ID.match(cand.student):
                report.problems.append(f"{cand.origin}: unusable student id {cand.student!r}")
                continue
            by_student.setdefault(cand.student, []).append(cand)
        for student, cands in sorted(by_student.items()):
            cands.sort(key=lambda c: c.timestamp)
            chosen = cands[-1]
            if len(cands) > 1:
                others = ", ".join(c.origin for c in cands[:-1])
                report.duplicates.append(f"{student}: kept {chosen.origin}, ignored {others}")
            files = dict(chosen.files)
            unknown = sorted(set(files) - set(expected))
            if unknown and len(expected) == 1 and len(files) == 1:
                (only,) = unknown
                files = {expected[0]: files.pop(only)}
                report.renamed.append(f"{student}: {only} -> {expected[0]}")
            elif unknown:
                report.problems.append(
                    f"{student}: notebook(s) {unknown} are not part of {assignment} "
                    f"(expected {expected}); ignored"
                )
                for name in unknown:
                    files.pop(name)
            if not files:
                report.problems.append(f"{student}: no usable notebook; not collected")
                continue
            dest = course.submitted_dir(student, assignment)
            old_stamp = course.submission_timestamp(student, assignment)
            if old_stamp and old_stamp > chosen.timestamp.replace(tzinfo=None):
                report.duplicates.append(
                    f"{student}: already collected a newer submission; kept it"
                )
                continue
            staging = dest.parent / f".{assignment}.collecting"
            if staging.exists():
                shutil.rmtree(staging)
            staging.mkdir(parents=True)
            for name, path in files.items():
                if path.stat().st_size > MAX_FILE_BYTES:
                    report.problems.append(f"{student}: {name} is too large; skipped")
                    continue
                shutil.copyfile(path, staging / name)
            stamp = chosen.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
            (staging / "timestamp.txt").write_text(stamp)
            if dest.exists():
                shutil.rmtree(dest)
            staging.rename(dest)
            report.collected.append(student)
    if roster:
        report.missing = sorted(
            set(roster) - set(report.collected) - set(course.submitted_students(assignment))
        )
    return report
