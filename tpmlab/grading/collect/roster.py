"""The instructor's roster: who should hand in, with the names and LMS ids to record."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from tpmlab.errors import TPMLabError

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")


@dataclass
class RosterEntry:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_id: str = ""
    # what an LMS's grade import matches students by (tpmlab-grade export --format canvas|moodle)
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    username: str = ""
    idnumber: str = ""


ROSTER_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "lms_id",
    "sis_user_id",
    "sis_login_id",
    "section",
    "username",
    "idnumber",
)


def read_roster(path: str | Path) -> list[RosterEntry]:
    """A roster file: one student id per line (``#`` comments allowed; anything after a comma is
    ignored), or a CSV with a header ``id,first_name,last_name,email[,lms_id]`` and, for grade
    exports, any of ``sis_user_id,sis_login_id,section`` (Canvas) and ``username,idnumber``
    (Moodle)."""
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
