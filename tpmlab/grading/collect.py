"""Collect submissions into nbgrader's layout, reporting every problem instead of guessing.

Accepted inputs (one folder or zip file given with ``--from``):

- **LMS bulk download** (Canvas style): files named
  ``<login>[_LATE]_<userid>_<submissionid>_<original name>.ipynb`` or per-student zips named the
  same way, all in one folder or one zip;
- **hand-in zips**: ``<anything>.zip`` files made by ``python -m tpmlab.handin`` (named
  ``<student>--<assignment>.zip``); each carries a ``tpmlab-handin.json`` manifest;
- **nbgrader layout**: ``<student>/<assignment>/<notebook>.ipynb`` (as the exchange or a shared
  drive produces), or ``<student>/<notebook>.ipynb``.

Whose work and when: only what the student cannot write decides.

=====================  ===============================================  ============================
input                  student                                          upload time
=====================  ===============================================  ============================
LMS bulk download      the LMS user id when the roster maps it to a     the LMS zip member's date
                       student (``lms_id`` column), else the login in   (bulk zip), else the file's
                       the file name; ``_LATE``, user and submission    modification time
                       ids are kept from the file name
hand-in zip, no LMS    the id in the file name ``<id>--<assignment>``   the file's modification time
name                   (as ``tpmlab.handin`` names it), else the        (or the bulk zip member's
                       manifest's ``student``, reported as unverified   date)
nbgrader layout        the folder name                                  the newest notebook's
                                                                        modification time
=====================  ===============================================  ============================

The collect time is used only when the upload's own time is missing or in the future. The
hand-in manifest (``student``, ``handed_in_at``) is never an override: a manifest naming another
student, a date that is not a date, or one after the upload or more than
:data:`BACKDATE_LIMIT` before it, is a review flag for the uploader.

Nothing a student wrote stops the collection: every upload is handled on its own, and one that
cannot be used (not a zip, a zip bomb, encrypted or unsafe members, no notebook of the
assignment) gives that student a recorded result. If the student has no usable work at all,
``submitted/<student>/<assignment>/`` is created without a notebook and the sidecar says
"not collected" with the reason; ``tpmlab-grade autograde`` then gives 0 with that reason.

Limits per upload (a student's zip): :data:`MAX_UPLOAD_MEMBERS` members,
:data:`MAX_UPLOAD_BYTES` uncompressed in total, :data:`MAX_FILE_BYTES` per file; a whole bulk
download: :data:`MAX_BULK_MEMBERS` members and :data:`MAX_BULK_BYTES`. The declared sizes are
checked before anything is written, and bytes are counted while extracting (headers can lie).

Everything lands in ``autograder/submitted/<student>/<assignment>/`` with a ``timestamp.txt``
(the upload time). Beside that folder, ``submitted/<student>/<assignment>.collect.json`` (the
*sidecar*) records where the submission came from: LMS user id, submission id, the ``_LATE``
marker, upload and collect times, the files' checksums and the review flags. It sits outside the
graded folder so that nbgrader never copies it into autograded notebooks or feedback, and a
re-collect of the same upload changes nothing that is graded. Roster names, emails and LMS ids
are written to the gradebook's student records (what ``nbgrader export`` reads).

Reported: students on the roster with no submission, duplicates (the newest upload is kept and
the others are named), misnamed notebooks (renamed only when the assignment has exactly one
notebook and the submission has exactly one), flags per student, and files nobody can be named
for. Nothing in the input is modified; a student's earlier collected submission is replaced only
by a newer one.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tpmlab.errors import TPMLabError
from tpmlab.grading.coursedir import Course
from tpmlab.handin import MANIFEST as HANDIN_MANIFEST

CANVAS = re.compile(
    r"^(?P<login>[A-Za-z0-9.\-]+?)(?P<late>_LATE)?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<name>.+)$"
)
HANDIN_NAME = re.compile(r"^(?P<student>[A-Za-z0-9][A-Za-z0-9._\-]{0,63}?)--(?P<assignment>.+)$")
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
SIDECAR_SUFFIX = ".collect.json"

MAX_FILE_BYTES = 20 * 1024 * 1024  # one file of a submission (autograde refuses larger ones too)
MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # all members of one student's zip, uncompressed
MAX_UPLOAD_MEMBERS = 200  # members of one student's zip
MAX_BULK_BYTES = 4 * 1024**3  # a whole class's bulk-download zip, uncompressed
MAX_BULK_MEMBERS = 20_000  # members of a bulk-download zip
MAX_MANIFEST_BYTES = 64 * 1024
BACKDATE_LIMIT = timedelta(hours=24)  # manifest earlier than the upload by more: flagged
CLOCK_SKEW = timedelta(minutes=15)  # manifest later than the upload by more: flagged
ZIP_DATE_SKEW = timedelta(hours=14)  # zip member dates are local time of unknown zone


class UploadRefused(Exception):
    """An upload that cannot be used; the message says why."""


@dataclass
class RosterEntry:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_id: str = ""


ROSTER_COLUMNS = ("id", "first_name", "last_name", "email", "lms_id")


def read_roster(path: str | Path) -> list[RosterEntry]:
    """A roster file: one student id per line (``#`` comments allowed; anything after a comma is
    ignored), or a CSV with a header ``id,first_name,last_name,email[,lms_id]``."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TPMLabError(
            f"Cannot read the roster {path}: {exc}.",
            "Give a text file with one student id per line, or a CSV with the columns "
            "id,first_name,last_name,email (and optionally lms_id).",
        ) from None
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        return []
    header = [h.strip().lower() for h in next(csv.reader([lines[0]]))]
    entries: list[RosterEntry] = []
    if set(header) & set(ROSTER_COLUMNS[1:]) or header[0] == "id":
        if "id" not in header:
            raise TPMLabError(
                f"The roster {path} has a header ({', '.join(header)}) but no 'id' column.",
                "Name the column of student ids 'id' (columns: id,first_name,last_name,email"
                "[,lms_id]).",
            )
        for row in csv.DictReader(lines[1:], fieldnames=header):
            values = {k: (row.get(k) or "").strip() for k in ROSTER_COLUMNS}
            if values["id"]:
                entries.append(RosterEntry(**values))
    else:
        entries = [RosterEntry(line.split(",")[0].strip()) for line in lines]
    bad = [e.id for e in entries if not STUDENT_ID.match(e.id)]
    if bad:
        raise TPMLabError(
            f"The roster {path} has ids that cannot be student ids: {bad[:5]}.",
            "Use letters, digits, dots, dashes or underscores (the ids the LMS uses as logins).",
        )
    seen: dict[str, RosterEntry] = {}
    for entry in entries:
        seen.setdefault(entry.id, entry)
    return list(seen.values())


@dataclass
class Candidate:
    """One upload, attributed to a student (or not), with what was wrong with it."""

    origin: str
    student: str | None = None
    identity: str = ""
    files: dict[str, Path] = field(default_factory=dict)  # name in the submission -> file
    uploaded_at: datetime | None = None
    time_source: str = ""
    skew: timedelta = CLOCK_SKEW
    lms_user_id: str = ""
    submission_id: str = ""
    late: bool = False
    flags: list[str] = field(default_factory=list)
    refused: str = ""  # why nothing of this upload can be used

    @property
    def verified(self) -> bool:
        """Named by something the student cannot write (not only by the manifest)."""
        return not self.identity.startswith("hand-in manifest")

    def order(self):
        sid = int(self.submission_id) if self.submission_id.isdigit() else -1
        return (not self.refused, self.verified, self.uploaded_at, sid)


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


# ---- the sidecar, read by autograde and export ----------------------------------------------
def sidecar_path(course: Course, student: str, assignment: str) -> Path:
    return course.root / "submitted" / student / f"{assignment}{SIDECAR_SUFFIX}"


def collect_record(course: Course, student: str, assignment: str) -> dict:
    """What collect recorded for this student's submission ({} if nothing, e.g. the exchange)."""
    try:
        data = json.loads(sidecar_path(course, student, assignment).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def not_collected_reason(course: Course, student: str, assignment: str) -> str:
    """The reason this student's upload could not be collected, or "" if it was."""
    record = collect_record(course, student, assignment)
    return str(record.get("reason") or "unknown") if record.get("status") == "not collected" else ""


def collect_flags(course: Course, student: str, assignment: str) -> list[str]:
    """Collect's review flags for this student, each starting with ``collect:``."""
    flags = collect_record(course, student, assignment).get("flags") or []
    return [f"collect: {f}" for f in flags if isinstance(f, str)]


def _write_sidecar(course: Course, student: str, assignment: str, data: dict) -> None:
    path = sidecar_path(course, student, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)


# ---- times ----------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


def _zip_date(info: zipfile.ZipInfo) -> tuple[datetime | None, bool]:
    """A member's date: (when, exact). Exact when the extended-timestamp field (UTC) is there;
    otherwise the DOS date, local time of an unknown zone, read as UTC. None if unset."""
    extra = info.extra
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[i : i + 4])
        body = extra[i + 4 : i + 4 + size]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            (seconds,) = struct.unpack("<i", body[1:5])
            return datetime.fromtimestamp(seconds, tz=UTC), True
        i += 4 + size
    if info.date_time[:3] <= (1980, 1, 1):
        return None, False
    try:
        return datetime(*info.date_time, tzinfo=UTC), False
    except ValueError:
        return None, False


# ---- safe extraction ------------------------------------------------------------------------
def _unsafe_name(name: str) -> str:
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in parts:
        return "a path out of the folder ('..')"
    if "\\" in name or "\0" in name:
        return "a path with backslashes or NUL"
    return ""


def _safe_extract(
    archive: Path,
    dest: Path,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_members: int = MAX_UPLOAD_MEMBERS,
    member_limit: int = MAX_FILE_BYTES,
) -> tuple[dict[str, tuple[datetime | None, bool]], list[str]]:
    """Extract a zip into ``dest``; return (member dates by path, warnings about skipped members).

    Raises :class:`UploadRefused` for a file that is not a zip, or one past the bounds (members,
    declared total size, or bytes actually produced). Absolute paths, '..', links, encrypted and
    unreadable members are skipped with a warning; nothing is written outside ``dest``.
    """
    limit_mib = max_bytes // 2**20
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UploadRefused(f"not a readable zip file ({exc})") from None
    dates: dict[str, tuple[datetime | None, bool]] = {}
    warnings: list[str] = []
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise UploadRefused(
                f"the zip has {len(infos)} members, over the limit of {max_members}"
            )
        declared = sum(max(info.file_size, 0) for info in infos)
        if declared > max_bytes:
            raise UploadRefused(
                f"the zip would expand to {declared / 2**20:.0f} MiB, over the limit of "
                f"{limit_mib} MiB (a zip bomb?); nothing was extracted"
            )
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        total = 0
        for info in infos:
            name = info.filename
            why = _unsafe_name(name)
            if why:
                warnings.append(f"zip member {_short(name)} is {why}; skipped")
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                warnings.append(f"zip member {_short(name)} is a symbolic link; skipped")
                continue
            target = (dest / name).resolve()
            if target != root and root not in target.parents:
                warnings.append(f"zip member {_short(name)} points outside the upload; skipped")
                continue
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if info.flag_bits & 0x1:
                warnings.append(
                    f"zip member {_short(name)} is encrypted (password-protected zips cannot be "
                    "graded); skipped"
                )
                continue
            if info.file_size > member_limit:
                warnings.append(
                    f"zip member {_short(name)} is over {member_limit // 2**20} MiB; skipped"
                )
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 16):
                        written += len(chunk)
                        total += len(chunk)
                        if written > member_limit or total > max_bytes:
                            raise UploadRefused(
                                f"zip member {_short(name)} expands past the limits ({member_limit // 2**20}"
                                f" MiB per file, {limit_mib} MiB per upload; its header declared "
                                f"{info.file_size} bytes)"
                            )
                        out.write(chunk)
            except UploadRefused:
                target.unlink(missing_ok=True)
                raise
            except Exception as exc:  # bad CRC, unsupported compression, truncated data...
                target.unlink(missing_ok=True)
                total -= written
                warnings.append(
                    f"zip member {_short(name)} could not be read ({type(exc).__name__}: {exc}); skipped"
                )
                continue
            dates[name] = _zip_date(info)
    return dates, warnings


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


# ---- identity and manifest ------------------------------------------------------------------
class _Context:
    """What every upload of one collect run is checked against."""

    def __init__(self, assignment: str, roster: list[RosterEntry] | None, now: datetime):
        self.assignment = assignment
        self.now = now
        self.roster = {e.id: e for e in roster or []}
        self.by_lms = {e.lms_id: e.id for e in roster or [] if e.lms_id}


def _name_identity(cand: Candidate, name: str, ctx: _Context) -> str:
    """Fill the student from an LMS or hand-in file name; return the name without LMS prefix."""
    match = CANVAS.match(name)
    if match:
        cand.lms_user_id, cand.submission_id = match["uid"], match["sid"]
        cand.late = bool(match["late"])
        login = match["login"]
        if cand.lms_user_id in ctx.by_lms:
            cand.student = ctx.by_lms[cand.lms_user_id]
            cand.identity = f"LMS user id {cand.lms_user_id} on the roster"
            if login != cand.student and login in ctx.roster:
                cand.flags.append(
                    f"LMS file name login {login!r} is another roster student; the roster's LMS "
                    f"id {cand.lms_user_id} is {cand.student}'s"
                )
        else:
            cand.student, cand.identity = login, "LMS file name"
            known = ctx.roster.get(login)
            if known and known.lms_id and known.lms_id != cand.lms_user_id:
                cand.flags.append(
                    f"LMS user id {cand.lms_user_id} in the file name is not {login}'s "
                    f"(the roster says {known.lms_id})"
                )
        return match["name"]
    stem = name.removesuffix(".zip")
    match = HANDIN_NAME.match(stem)
    if match and match["assignment"] == ctx.assignment:
        cand.student, cand.identity = match["student"], "hand-in file name"
    return name


def _check_manifest(cand: Candidate, folder: Path, ctx: _Context) -> None:
    """Compare the hand-in manifest with what the upload is known to be; flag disagreements.
    With no name to go by, the manifest's student is used, marked unverified."""
    manifests = sorted(folder.rglob(HANDIN_MANIFEST))
    if not manifests:
        return
    path = manifests[0]
    try:
        if path.is_symlink() or path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ValueError("not a small regular file")
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        cand.flags.append(f"hand-in manifest is unreadable ({exc}); ignored")
        return
    named = manifest.get("student")
    if not isinstance(named, str):
        named = None
        cand.flags.append("hand-in manifest names no student")
    if cand.student is None and named is not None:
        cand.student, cand.identity = named, "hand-in manifest (unverified: no LMS name)"
    elif named is not None and named != cand.student:
        cand.flags.append(
            f"hand-in manifest names {_short(named)}, but the upload is {cand.student}'s "
            f"({cand.identity}); counted as {cand.student}'s"
        )
    for_assignment = manifest.get("assignment")
    if for_assignment != ctx.assignment:
        cand.flags.append(
            f"hand-in manifest is for assignment {_short(for_assignment)}, not {ctx.assignment!r}"
        )
        if cand.identity.startswith("hand-in manifest"):
            cand.refused = f"the hand-in is for {_short(for_assignment)}, not {ctx.assignment!r}"
    raw = manifest.get("handed_in_at")
    try:
        claimed = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        claimed = None
    if claimed is None:
        cand.flags.append(f"hand-in manifest date {raw!r} is not a date; the upload time is used")
        return
    if claimed.tzinfo is None:
        claimed = claimed.replace(tzinfo=UTC)
    upload = cand.uploaded_at
    if upload is None:
        return
    try:
        _compare_dates(cand, claimed, upload)
    except (OverflowError, ValueError):  # a date at the edge of the calendar
        cand.flags.append(f"hand-in manifest date {_short(raw)} is out of range; ignored")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _printable(name: str) -> str:
    """A file name as it may be printed (LMS names include the student's own file name)."""
    return "".join(c if c.isprintable() else "?" for c in name)[:200]


def _compare_dates(cand: Candidate, claimed: datetime, upload: datetime) -> None:
    if claimed > upload + cand.skew:
        cand.flags.append(
            f"hand-in manifest says {_iso(claimed)}, after the upload ({_iso(upload)}, "
            f"{cand.time_source}); the upload time is used"
        )
    elif claimed < upload - BACKDATE_LIMIT - cand.skew:
        cand.flags.append(
            f"hand-in manifest says {_iso(claimed)}, more than "
            f"{BACKDATE_LIMIT.total_seconds() / 3600:g} h before the upload ({_iso(upload)}, "
            f"{cand.time_source}): backdated?; the upload time is used"
        )


def _iso(when: datetime) -> str:
    try:
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, ValueError):
        return str(when)


def _set_time(cand: Candidate, when: datetime | None, source: str, exact: bool, ctx) -> None:
    skew = CLOCK_SKEW if exact else ZIP_DATE_SKEW
    if when is None or when > ctx.now + skew or when.year < 1990:
        reason = "missing" if when is None else f"unusable ({_iso(when)})"
        cand.uploaded_at, cand.time_source, cand.skew = ctx.now, "collect time", CLOCK_SKEW
        if when is not None:
            cand.flags.append(f"upload time {reason}; the collect time is used")
        return
    cand.uploaded_at, cand.time_source, cand.skew = when, source, skew


# ---- scanning -------------------------------------------------------------------------------
def _entry_time(
    entry: Path, dates: dict | None, nbs: dict[str, Path] | None = None
) -> tuple[datetime | None, str, bool]:
    """(when, source, exact) of an input entry: the bulk zip's member dates, else mtimes."""
    if dates is not None:
        key = entry.name
        found = [
            d for name, d in dates.items() if (name == key or name.startswith(key + "/")) and d[0]
        ]
        if found:
            when, exact = max(found, key=lambda d: d[0])
            return when, "LMS zip member date", exact
        return None, "", True
    if entry.is_dir():
        files = list((nbs or {}).values()) or [p for p in entry.rglob("*") if p.is_file()]
        if not files:
            return None, "", True
        return max(_mtime(p) for p in files), "file modification time", True
    return _mtime(entry), "file modification time", True


def _scan_entry(entry: Path, work: Path, dates, ctx: _Context, index: int) -> Candidate | None:
    cand = Candidate(origin=_printable(entry.name))
    if entry.is_symlink():
        cand.refused = "a symbolic link"
        _name_identity(cand, entry.stem if entry.suffix == ".zip" else entry.name, ctx)
        return cand
    if entry.is_dir():
        _name_identity(cand, entry.name, ctx)
        has_manifest = (entry / HANDIN_MANIFEST).exists()
        if cand.student is None and not has_manifest:
            cand.student, cand.identity = entry.name, "folder name (nbgrader layout)"
        inner = entry / ctx.assignment if (entry / ctx.assignment).is_dir() else entry
        cand.files = _notebooks(inner)
        _set_time(cand, *_entry_time(entry, dates, cand.files), ctx)
        _check_manifest(cand, entry, ctx)
        if not cand.files and not cand.refused:
            cand.refused = "the folder holds no notebook"
        return cand
    if entry.suffix.lower() == ".zip":
        _name_identity(cand, entry.stem, ctx)
        _set_time(cand, *_entry_time(entry, dates), ctx)
        target = work / f"zip-{index}"
        try:
            _, warnings = _safe_extract(entry, target)
        except UploadRefused as exc:
            cand.refused = str(exc)
            return cand
        cand.flags += warnings
        _check_manifest(cand, target, ctx)
        cand.files = _notebooks(target)
        if not cand.files and not cand.refused:
            cand.refused = "the zip holds no usable notebook" + (
                f" ({'; '.join(warnings)})" if warnings else ""
            )
        return cand
    if entry.suffix.lower() == ".ipynb":
        name = _name_identity(cand, entry.name, ctx)
        if cand.identity != "LMS file name" and not cand.identity.startswith("LMS user id"):
            return None  # reported as a problem: nobody can be named for it
        _set_time(cand, *_entry_time(entry, dates), ctx)
        size = entry.stat().st_size
        if not entry.is_file():
            cand.refused = "not a regular file"
        elif size > MAX_FILE_BYTES:
            cand.refused = (
                f"the notebook is {size / 2**20:.0f} MiB, over {MAX_FILE_BYTES // 2**20} MiB"
            )
        else:
            cand.files = {name: entry}
        return cand
    _name_identity(cand, entry.name, ctx)
    if cand.student is None:
        return None
    _set_time(cand, *_entry_time(entry, dates), ctx)
    cand.refused = f"{cand.origin} is not a notebook or a zip"
    return cand


def _scan(source: Path, work: Path, ctx: _Context, report: CollectReport) -> list[Candidate]:
    """Every upload found in ``source`` (a folder or a bulk zip), each on its own."""
    dates = None
    if source.is_file():
        target = work / "input"
        try:
            dates, warnings = _safe_extract(
                source,
                target,
                max_bytes=MAX_BULK_BYTES,
                max_members=MAX_BULK_MEMBERS,
                member_limit=MAX_UPLOAD_BYTES,
            )
        except UploadRefused as exc:
            report.problems.append(f"{source.name}: {exc}; nothing collected")
            return []
        report.problems += [f"{source.name}: {w}" for w in warnings]
        source = target
    out: list[Candidate] = []
    for index, entry in enumerate(sorted(source.iterdir())):
        if entry.name.startswith(".") or entry.name == "__MACOSX":
            continue
        try:
            cand = _scan_entry(entry, work, dates, ctx, index)
        except Exception as exc:  # nothing a student wrote may stop the collection
            cand = Candidate(origin=_printable(entry.name))
            try:
                _name_identity(cand, entry.stem if entry.suffix == ".zip" else entry.name, ctx)
            except Exception:
                cand.student = None
            cand.uploaded_at, cand.time_source = ctx.now, "collect time"
            cand.refused = f"could not be read ({type(exc).__name__}: {exc})"
        if cand is not None and cand.uploaded_at is None:
            cand.uploaded_at, cand.time_source = ctx.now, "collect time"
        if cand is None or cand.student is None:
            why = cand.refused if cand and cand.refused else "cannot tell whose upload this is"
            report.problems.append(f"{_printable(entry.name)}: {why}; skipped")
            continue
        if not STUDENT_ID.match(cand.student):
            report.problems.append(
                f"{_printable(entry.name)}: unusable student id {_short(cand.student)}; skipped"
            )
            continue
        if cand.identity.startswith("hand-in manifest") and cand.refused:
            report.problems.append(f"{_printable(entry.name)}: {cand.refused}; skipped")
            continue
        out.append(cand)
    return out


# ---- laying out -----------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _has_work(course: Course, student: str, assignment: str) -> bool:
    return course.submitted_dir(student, assignment).is_dir() and not not_collected_reason(
        course, student, assignment
    )


def _record_of(cand: Candidate, status: str, reason: str, flags: list[str], files) -> dict:
    assert cand.uploaded_at is not None, "_scan gives every candidate a time"
    return {
        "status": status,
        "reason": reason,
        "origin": cand.origin,
        "identity": cand.identity,
        "lms_user_id": cand.lms_user_id,
        "submission_id": cand.submission_id,
        "late": cand.late,
        "uploaded_at": _stamp(cand.uploaded_at),
        "time_source": cand.time_source,
        "collected_at": _stamp(_now()),
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
    (staging / "timestamp.txt").write_text(_stamp(cand.uploaded_at))
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
        report.renamed.append(f"{student}: {_printable(only)} -> {expected[0]}")
    elif unknown:
        cand.flags.append(
            f"notebook(s) {unknown} are not part of the assignment (expected {expected}); ignored"
        )
        for name in unknown:
            files.pop(name)
    for name, path in list(files.items()):
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            cand.flags.append(f"{_short(name)} is over {MAX_FILE_BYTES // 2**20} MiB; skipped")
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
        if _has_work(course, student, assignment):
            # an earlier usable submission stays; the bad upload is recorded against it
            flags += [line for _, line in refusals]
            if old_record:
                old_record["flags"] = list(dict.fromkeys([*old_record.get("flags", []), *flags]))
                _write_sidecar(course, student, assignment, old_record)
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
            (dest / "timestamp.txt").write_text(_stamp(newest.uploaded_at))
            record = _record_of(newest, "not collected", reason, flags, {})
            _write_sidecar(course, student, assignment, record)
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
    if _has_work(course, student, assignment) and (
        keep_old or (old_verified and not cand.verified)
    ):
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
            _write_sidecar(course, student, assignment, old_record)
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
    _write_sidecar(course, student, assignment, record)
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
    ctx = _Context(assignment, entries, _now())
    report = CollectReport(roster=[e.id for e in entries] if entries is not None else None)
    with tempfile.TemporaryDirectory() as tmp:
        candidates = _scan(source, Path(tmp), ctx, report)
        by_student: dict[str, list[Candidate]] = {}
        for cand in candidates:
            assert cand.student is not None, "_scan keeps only uploads it can name"
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
        s for s in course.submitted_students(assignment) if _has_work(course, s, assignment)
    ]
    if report.roster is not None:
        report.missing = sorted(
            set(report.roster) - set(report.have_work) - set(report.not_collected)
        )
    return report
