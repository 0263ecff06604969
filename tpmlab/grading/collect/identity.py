"""Whose work an upload is and when it was handed in: the LMS and hand-in file names, the
hand-in manifest (checked, never trusted), and the upload time (see the table in
:mod:`tpmlab.grading.collect`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tpmlab.grading.collect.roster import RosterEntry
from tpmlab.grading.collect.zipsafe import short
from tpmlab.handin import MANIFEST as HANDIN_MANIFEST

CANVAS = re.compile(
    r"^(?P<login>[A-Za-z0-9.\-]+?)(?P<late>_LATE)?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<name>.+)$"
)
HANDIN_NAME = re.compile(r"^(?P<student>[A-Za-z0-9][A-Za-z0-9._\-]{0,63}?)--(?P<assignment>.+)$")
MAX_MANIFEST_BYTES = 64 * 1024
BACKDATE_LIMIT = timedelta(hours=24)  # manifest earlier than the upload by more: flagged
CLOCK_SKEW = timedelta(minutes=15)  # manifest later than the upload by more: flagged
ZIP_DATE_SKEW = timedelta(hours=14)  # zip member dates are local time of unknown zone


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


def utc_now() -> datetime:
    return datetime.now(UTC)


def mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


class Context:
    """What every upload of one collect run is checked against."""

    def __init__(self, assignment: str, roster: list[RosterEntry] | None, now: datetime):
        self.assignment = assignment
        self.now = now
        self.roster = {e.id: e for e in roster or []}
        self.by_lms = {e.lms_id: e.id for e in roster or [] if e.lms_id}


def name_identity(cand: Candidate, name: str, ctx: Context) -> str:
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


def check_manifest(cand: Candidate, folder: Path, ctx: Context) -> None:
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
            f"hand-in manifest names {short(named)}, but the upload is {cand.student}'s "
            f"({cand.identity}); counted as {cand.student}'s"
        )
    for_assignment = manifest.get("assignment")
    if for_assignment != ctx.assignment:
        cand.flags.append(
            f"hand-in manifest is for assignment {short(for_assignment)}, not {ctx.assignment!r}"
        )
        if cand.identity.startswith("hand-in manifest"):
            cand.refused = f"the hand-in is for {short(for_assignment)}, not {ctx.assignment!r}"
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
        cand.flags.append(f"hand-in manifest date {short(raw)} is out of range; ignored")


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


def set_time(cand: Candidate, when: datetime | None, source: str, exact: bool, ctx) -> None:
    skew = CLOCK_SKEW if exact else ZIP_DATE_SKEW
    if when is None or when > ctx.now + skew or when.year < 1990:
        reason = "missing" if when is None else f"unusable ({_iso(when)})"
        cand.uploaded_at, cand.time_source, cand.skew = ctx.now, "collect time", CLOCK_SKEW
        if when is not None:
            cand.flags.append(f"upload time {reason}; the collect time is used")
        return
    cand.uploaded_at, cand.time_source, cand.skew = when, source, skew
