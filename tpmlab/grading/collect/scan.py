"""Reading the input (a folder or a bulk-download zip): every upload in it becomes one
:class:`~tpmlab.grading.collect.identity.Candidate`, or a problem in the report."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tpmlab.grading.collect.identity import (
    Candidate,
    Context,
    check_manifest,
    mtime,
    name_identity,
    set_time,
)
from tpmlab.grading.collect.roster import STUDENT_ID
from tpmlab.grading.collect.zipsafe import (
    MAX_BULK_BYTES,
    MAX_BULK_MEMBERS,
    MAX_FILE_BYTES,
    MAX_UPLOAD_BYTES,
    UploadRefused,
    notebook_files,
    printable,
    safe_extract,
    short,
)
from tpmlab.handin import MANIFEST as HANDIN_MANIFEST


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
        return max(mtime(p) for p in files), "file modification time", True
    return mtime(entry), "file modification time", True


def _scan_entry(entry: Path, work: Path, dates, ctx: Context, index: int) -> Candidate | None:
    cand = Candidate(origin=printable(entry.name))
    if entry.is_symlink():
        cand.refused = "a symbolic link"
        name_identity(cand, entry.stem if entry.suffix == ".zip" else entry.name, ctx)
        return cand
    if entry.is_dir():
        name_identity(cand, entry.name, ctx)
        has_manifest = (entry / HANDIN_MANIFEST).exists()
        if cand.student is None and not has_manifest:
            cand.student, cand.identity = entry.name, "folder name (nbgrader layout)"
        inner = entry / ctx.assignment if (entry / ctx.assignment).is_dir() else entry
        cand.files = notebook_files(inner)
        set_time(cand, *_entry_time(entry, dates, cand.files), ctx)
        check_manifest(cand, entry, ctx)
        if not cand.files and not cand.refused:
            cand.refused = "the folder holds no notebook"
        return cand
    if entry.suffix.lower() == ".zip":
        name_identity(cand, entry.stem, ctx)
        set_time(cand, *_entry_time(entry, dates), ctx)
        target = work / f"zip-{index}"
        try:
            _, warnings = safe_extract(entry, target)
        except UploadRefused as exc:
            cand.refused = str(exc)
            return cand
        cand.flags += warnings
        check_manifest(cand, target, ctx)
        cand.files = notebook_files(target)
        if not cand.files and not cand.refused:
            cand.refused = "the zip holds no usable notebook" + (
                f" ({'; '.join(warnings)})" if warnings else ""
            )
        return cand
    if entry.suffix.lower() == ".ipynb":
        name = name_identity(cand, entry.name, ctx)
        if cand.identity != "LMS file name" and not cand.identity.startswith("LMS user id"):
            return None  # reported as a problem: nobody can be named for it
        set_time(cand, *_entry_time(entry, dates), ctx)
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
    name_identity(cand, entry.name, ctx)
    if cand.student is None:
        return None
    set_time(cand, *_entry_time(entry, dates), ctx)
    cand.refused = f"{cand.origin} is not a notebook or a zip"
    return cand


def scan_source(source: Path, work: Path, ctx: Context, problems: list[str]) -> list[Candidate]:
    """Every upload found in ``source`` (a folder or a bulk zip), each on its own; what
    cannot be used goes into ``problems`` (the report's)."""
    dates = None
    if source.is_file():
        target = work / "input"
        try:
            dates, warnings = safe_extract(
                source,
                target,
                max_bytes=MAX_BULK_BYTES,
                max_members=MAX_BULK_MEMBERS,
                member_limit=MAX_UPLOAD_BYTES,
            )
        except UploadRefused as exc:
            problems.append(f"{source.name}: {exc}; nothing collected")
            return []
        problems += [f"{source.name}: {w}" for w in warnings]
        source = target
    out: list[Candidate] = []
    for index, entry in enumerate(sorted(source.iterdir())):
        if entry.name.startswith(".") or entry.name == "__MACOSX":
            continue
        try:
            cand = _scan_entry(entry, work, dates, ctx, index)
        except Exception as exc:  # nothing a student wrote may stop the collection
            cand = Candidate(origin=printable(entry.name))
            try:
                name_identity(cand, entry.stem if entry.suffix == ".zip" else entry.name, ctx)
            except Exception:
                cand.student = None
            cand.uploaded_at, cand.time_source = ctx.now, "collect time"
            cand.refused = f"could not be read ({type(exc).__name__}: {exc})"
        if cand is not None and cand.uploaded_at is None:
            cand.uploaded_at, cand.time_source = ctx.now, "collect time"
        if cand is None or cand.student is None:
            why = cand.refused if cand and cand.refused else "cannot tell whose upload this is"
            problems.append(f"{printable(entry.name)}: {why}; skipped")
            continue
        if not STUDENT_ID.match(cand.student):
            problems.append(
                f"{printable(entry.name)}: unusable student id {short(cand.student)}; skipped"
            )
            continue
        if cand.identity.startswith("hand-in manifest") and cand.refused:
            problems.append(f"{printable(entry.name)}: {cand.refused}; skipped")
            continue
        out.append(cand)
    return out
