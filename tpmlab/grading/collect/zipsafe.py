"""Opening what students uploaded without trusting it: the size bounds of an upload and of
a bulk download, extraction that writes nothing outside its folder, zip member dates, and
how a name a student wrote may be printed."""

from __future__ import annotations

import re
import struct
import zipfile
from datetime import UTC, datetime
from pathlib import Path

MAX_FILE_BYTES = 20 * 1024 * 1024  # one file of a submission (autograde refuses larger ones too)
MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # all members of one student's zip, uncompressed
MAX_UPLOAD_MEMBERS = 200  # members of one student's zip
MAX_BULK_BYTES = 4 * 1024**3  # a whole class's bulk-download zip, uncompressed
MAX_BULK_MEMBERS = 20_000  # members of a bulk-download zip


class UploadRefused(Exception):
    """An upload that cannot be used; the message says why."""


def short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def printable(name: str) -> str:
    """A file name as it may be printed (LMS names include the student's own file name)."""
    return "".join(c if c.isprintable() else "?" for c in name)[:200]


def zip_date(info: zipfile.ZipInfo) -> tuple[datetime | None, bool]:
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


def _unsafe_name(name: str) -> str:
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in parts:
        return "a path out of the folder ('..')"
    if "\\" in name or "\0" in name:
        return "a path with backslashes or NUL"
    return ""


def safe_extract(
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
                warnings.append(f"zip member {short(name)} is {why}; skipped")
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                warnings.append(f"zip member {short(name)} is a symbolic link; skipped")
                continue
            target = (dest / name).resolve()
            if target != root and root not in target.parents:
                warnings.append(f"zip member {short(name)} points outside the upload; skipped")
                continue
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if info.flag_bits & 0x1:
                warnings.append(
                    f"zip member {short(name)} is encrypted (password-protected zips cannot be "
                    "graded); skipped"
                )
                continue
            if info.file_size > member_limit:
                warnings.append(
                    f"zip member {short(name)} is over {member_limit // 2**20} MiB; skipped"
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
                                f"zip member {short(name)} expands past the limits ({member_limit // 2**20}"
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
                    f"zip member {short(name)} could not be read ({type(exc).__name__}: {exc}); skipped"
                )
                continue
            dates[name] = zip_date(info)
    return dates, warnings


def notebook_files(folder: Path) -> dict[str, Path]:
    """Regular notebook files under ``folder``; symlinks and devices are never followed."""
    return {
        p.name: p
        for p in sorted(folder.rglob("*"))
        if not p.is_symlink()
        and p.is_file()
        and p.suffix == ".ipynb"
        and ".ipynb_checkpoints" not in p.parts
    }
