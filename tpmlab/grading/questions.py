"""Question names an instructor and a student can read, and the order they come in.

nbgrader knows questions by their cell ids (``q1-tests``, ``q6_first_question``); the course
names them in the markdown heading above the question ("## Question 1 (1 point): how many
users?"). :func:`titles` maps each graded cell's id to that heading without the points
("Question 1: how many users?"), falling back to the id made readable ("q1"). :func:`natural_key`
sorts ids as a person counts (q1, q2, ..., q10, not q1, q10, q2).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

POINTS = re.compile(r"\s*\((?:[^()]*\b(?:points?|pts?)\b[^()]*)\)", re.I)
SUFFIX = re.compile(r"[-_ ]?(?:tests?|checks?)$", re.I)


def natural_key(text: str) -> tuple:
    """Sort key that orders the numbers inside ``text`` by value (q2 before q10)."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.lower())
        for part in re.split(r"(\d+)", str(text))
        if part
    )


def readable_id(grade_id: str) -> str:
    """``q1-tests`` -> ``q1``; ``q6_first_question`` -> ``q6 first question``."""
    text = SUFFIX.sub("", grade_id) or grade_id
    return re.sub(r"[-_]+", " ", text).strip()


def _heading(cell) -> str | None:
    """The last heading line of a markdown cell, as plain text, or None."""
    if cell.get("cell_type") != "markdown":
        return None
    lines = [line for line in cell.source.splitlines() if re.match(r"^#{2,6}\s", line)]
    if not lines:
        return None
    text = re.sub(r"^#+\s*", "", lines[-1])
    text = POINTS.sub("", text)
    text = re.sub(r"[*`]", "", text)
    text = re.sub(r"\s+:", ":", text)
    return text.strip().rstrip(":") or None


def notebook_titles(nb) -> dict[str, str]:
    """grade id -> title of every graded cell of a notebook (a source or a student's)."""
    out: dict[str, str] = {}
    heading = None
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("solution") and not meta.get("grade"):
            heading = _heading(cell) or heading
        gid = meta.get("grade_id")
        if gid and (meta.get("grade") or meta.get("task")):
            out[gid] = heading or readable_id(gid)
    # two questions under one heading (q7a, q7b): tell them apart by id
    counts: dict[str, int] = {}
    for title in out.values():
        counts[title] = counts.get(title, 0) + 1
    return {
        gid: f"{title} ({readable_id(gid)})" if counts[title] > 1 else title
        for gid, title in out.items()
    }


def titles(course, assignment: str) -> dict[str, str]:
    """grade id -> title for every notebook of an assignment's source."""
    out: dict[str, str] = {}
    folder = Path(course.source_dir(assignment))
    for path in sorted(folder.glob("*.ipynb")):
        try:
            out.update(notebook_titles(nbformat.read(str(path), as_version=4)))
        except Exception:  # an unreadable source is reported by the commands that need it
            continue
    return out
