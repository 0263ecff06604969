"""The sidecar ``submitted/<student>/<assignment>.collect.json``: what collect recorded about a
submission, written here and read by autograde and export."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tpmlab.grading.coursedir import Course

SIDECAR_SUFFIX = ".collect.json"


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


def write_sidecar(course: Course, student: str, assignment: str, data: dict) -> None:
    path = sidecar_path(course, student, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def has_work(course: Course, student: str, assignment: str) -> bool:
    return course.submitted_dir(student, assignment).is_dir() and not not_collected_reason(
        course, student, assignment
    )
