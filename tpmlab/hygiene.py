"""Notebook hygiene: what every committed notebook must satisfy, as a list of readable problems.

Used by the test suite (and by ``python -m tpmlab.hygiene PATH...`` before a commit): valid
nbformat, no outputs or execution counts, the python3 kernelspec, clean metadata, no absolute
paths; and for lessons (:func:`is_lesson`: every ``course/NN-module/NN-topic.ipynb``) the one
lesson shape of CONTRIBUTING.md: the opening cell (numbered title, time to complete, learning
objectives, scenario), the closing cell (summary, common mistakes, further reading), **Try it**
sections in one form whose self-check goes through :func:`tpmlab.checks.try_it` (so that
``make test``'s strict mode can refuse a Try-it that comes already solved), and Orbit's data read
one way. Each problem names the notebook, what is missing and the shape expected.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat

from tpmlab.authoring import KEPT_CELL_METADATA

# Absolute paths that only exist on one author's machine.
ABSOLUTE_PATH = re.compile(r"(?<![\w.])(/home/|/Users/|/work/|/root/|/tmp/|[A-Z]:\\\\)")
TRY_IT_HEADING = re.compile(r"^#+\s*try it", re.I | re.M)
HEADING = re.compile(r"^#+\s", re.M)

# The one shape of a lesson (CONTRIBUTING.md, "The shape of a lesson"), quoted in every message.
OPENING_SHAPE = (
    "a lesson opens with one markdown cell: '# N.M Title', then "
    "'**Time to complete:** about NN minutes.', then '## Learning objectives' with "
    "'You will be able to:' and 2 to 5 '- ' bullets, then '## The scenario' and its paragraph"
)
CLOSING_SHAPE = (
    "a lesson closes with one markdown cell, the notebook's last: '## Summary', "
    "'## Common mistakes' and '## Further reading', in this order, each with '- ' bullets"
)
TRY_IT_SHAPE = (
    "a Try-it section is a markdown cell that starts with '## Try it' and states the task, then "
    "code cells: the learner's start ('...' or a deliberately wrong start) and the self-check "
    "calling tpmlab.checks.try_it(name, value, ok, hint=...)"
)
LESSON_PATH = re.compile(r"^(\d\d)-[^/]+/(\d\d)-[^/]+\.ipynb$")
TITLE = re.compile(r"^# (\d+)\.(\d+) \S")
TIME_LINE = re.compile(r"^\*\*Time to complete:\*\* about \d+ minutes\.$")
OPENING_HEADINGS = ["Learning objectives", "The scenario"]
CLOSING_HEADINGS = ["Summary", "Common mistakes", "Further reading"]
OBJECTIVES = (2, 5)
# Orbit's data is read one way in lessons: pandas.read_sql on tpmlab.data.engine() (or a tpmlab
# helper built on it). Module 1 also teaches tpmlab.sql's query() and %%sql: they are its subject.
OTHER_DATA_READS = {
    re.compile(r"\bread_(csv|parquet|json|excel)\("): "reads a data file",
    re.compile(r"\bsqlite3\.connect\((?!\s*[\"']:memory:)"): "opens a SQLite file itself",
    re.compile(r"\bcreate_engine\((?!\s*[\"']sqlite://[\"'])"): "makes its own engine",
    re.compile(r"\bdb_path\(|orbit\.sqlite"): "opens Orbit's database file by its path",
    re.compile(r"\b(eng|engine\(\))\.connect\("): "opens a connection to Orbit's engine itself",
}
SQL_MODULE_ONLY = {
    re.compile(r"^%%sql\b", re.M): "uses the %%sql magic",
    re.compile(r"from tpmlab\.sql(\.run)? import [^\n]*\bquery\b"): "uses tpmlab.sql.query",
}
SQL_MODULE = "01"


def is_lesson(path: str | Path) -> bool:
    """Whether the notebook at ``path`` (relative to the repository, or ending in
    ``course/NN-module/NN-topic.ipynb``) is a lesson: every numbered notebook in a numbered
    folder of ``course/``, orientation included; the course home ``course/index.ipynb`` is not."""
    parts = Path(path).parts
    return (
        len(parts) >= 3 and parts[-3] == "course" and bool(LESSON_PATH.match("/".join(parts[-2:])))
    )


def _lesson_number(path: Path) -> str | None:
    match = LESSON_PATH.match("/".join(path.parts[-2:]))
    return f"{int(match.group(1))}.{int(match.group(2))}" if match else None


def _headings(source: str) -> list[str]:
    return [line[3:].strip() for line in source.splitlines() if line.startswith("## ")]


def _sections(source: str) -> dict[str, list[str]]:
    """The non-blank lines under each ``## `` heading of ``source``."""
    out: dict[str, list[str]] = {}
    current = None
    for line in source.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            out[current] = []
        elif current is not None and line.strip():
            out[current].append(line)
    return out


def opening_problems(nb, path: Path) -> list[str]:
    """What the lesson's first cell lacks of :data:`OPENING_SHAPE`."""
    first = nb.cells[0] if nb.cells else None
    if first is None or first.cell_type != "markdown":
        return [f"{path}: lesson opening: the first cell is not markdown; {OPENING_SHAPE}"]
    lines = [line for line in first.source.splitlines() if line.strip()]
    missing = []
    title = TITLE.match(lines[0]) if lines else None
    number = _lesson_number(path)
    if not title:
        missing.append("the first line is not a numbered title '# N.M Title'")
    elif number and f"{int(title.group(1))}.{int(title.group(2))}" != number:
        missing.append(
            f"the title is numbered {title.group(1)}.{title.group(2)}, the file is {number}"
        )
    if len(lines) < 2 or not TIME_LINE.match(lines[1].strip()):
        missing.append("no time line '**Time to complete:** about NN minutes.' under the title")
    if _headings(first.source) != OPENING_HEADINGS:
        found = ", ".join(f"'## {h}'" for h in _headings(first.source)) or "none"
        missing.append(
            f"its '## ' headings are {found}, not '## Learning objectives', '## The scenario'"
        )
    sections = _sections(first.source)
    objectives = sections.get("Learning objectives")
    if objectives is not None:
        bullets = sum(line.startswith("- ") for line in objectives)
        if not objectives or objectives[0].strip() != "You will be able to:":
            missing.append("the objectives do not start with 'You will be able to:'")
        if not OBJECTIVES[0] <= bullets <= OBJECTIVES[1]:
            missing.append(f"{bullets} learning objectives, not {OBJECTIVES[0]} to {OBJECTIVES[1]}")
    if sections.get("The scenario") == []:
        missing.append("the scenario is empty")
    return [f"{path}: lesson opening: {m}; {OPENING_SHAPE}" for m in missing]


def closing_problems(nb, path: Path) -> list[str]:
    """What the lesson's last cell lacks of :data:`CLOSING_SHAPE`."""
    last = nb.cells[-1] if nb.cells else None
    if last is None or last.cell_type != "markdown":
        return [f"{path}: lesson closing: the last cell is not markdown; {CLOSING_SHAPE}"]
    missing = []
    found = _headings(last.source)
    for name in CLOSING_HEADINGS:
        if name not in found:
            missing.append(f"the last cell has no '## {name}'")
    if not missing and found != CLOSING_HEADINGS:
        missing.append(f"the last cell's '## ' headings are {found}")
    for name, lines in _sections(last.source).items():
        if name in CLOSING_HEADINGS and not any(line.startswith("- ") for line in lines):
            missing.append(f"'## {name}' has no bullet")
    return [f"{path}: lesson closing: {m}; {CLOSING_SHAPE}" for m in missing]


def try_it_problems(nb, path) -> list[str]:
    """Try-it sections (from a "Try it" heading to the next heading) not in the form of
    :data:`TRY_IT_SHAPE`, in particular those whose code cells never call ``try_it(``: their
    self-check could tick before the learner has written anything."""
    problems: list[str] = []
    open_at, calls, sections = None, False, 0

    def close() -> None:
        if open_at is not None and not calls:
            problems.append(
                f"{path}: the Try it section at cell {open_at} never calls try_it(; {TRY_IT_SHAPE}"
            )

    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if HEADING.match(line):
                    close()
                    open_at = index if TRY_IT_HEADING.match(line) else None
                    calls = False
                    if open_at is None:
                        continue
                    sections += 1
                    lines = cell.source.strip().splitlines()
                    after = index < len(nb.cells) and nb.cells[index].cell_type == "code"
                    for wrong, what in [
                        (line.strip() != "## Try it", f"its heading is {line.strip()!r}"),
                        (lines[0] != line, "'## Try it' does not start its cell"),
                        (not "".join(lines[1:]).strip(), "no task statement under '## Try it'"),
                        (not after, "the cell after it is not the learner's code cell"),
                    ]:
                        if wrong:
                            problems.append(
                                f"{path}: the Try it section at cell {index}: {what}; "
                                f"{TRY_IT_SHAPE}"
                            )
        elif open_at is not None and "try_it(" in cell.source:
            calls = True
    close()
    if not sections:
        problems.append(f"{path}: lesson has no '## Try it' section; {TRY_IT_SHAPE}")
    return problems


def data_read_problems(nb, path: Path) -> list[str]:
    """Code cells that read Orbit's data another way than ``pandas.read_sql`` on
    ``tpmlab.data.engine()`` (CONTRIBUTING.md, "Reading data")."""
    rules = dict(OTHER_DATA_READS)
    if not path.parent.name.startswith(SQL_MODULE + "-"):
        rules.update(SQL_MODULE_ONLY)
    problems = []
    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        for pattern, what in rules.items():
            if pattern.search(cell.source):
                problems.append(
                    f"{path}: cell {index} {what}: lessons read Orbit's data with "
                    "pd.read_sql(sql, eng) on eng = tpmlab.data.engine(), or a tpmlab helper "
                    "built on it (module 1 also teaches tpmlab.sql.query and %%sql)"
                )
    return problems


def lesson_problems(nb, path: str | Path) -> list[str]:
    """Everything in a lesson that is not in the lesson shape (opening, closing, Try it) or
    reads data another way than the course's one."""
    path = Path(path)
    return (
        opening_problems(nb, path)
        + closing_problems(nb, path)
        + try_it_problems(nb, path)
        + data_read_problems(nb, path)
    )


def notebook_problems(path: str | Path, *, lesson: bool = False) -> list[str]:
    """Everything wrong with the notebook at ``path`` (empty list when it is clean)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"{path}: not valid notebook JSON ({exc})"]
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several types
        return [f"{path}: invalid nbformat ({str(exc).splitlines()[0]})"]
    problems = []
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"{path}: kernelspec is {kernel!r}, expected 'python3'")
    extra_meta = set(nb.metadata) - {"kernelspec", "language_info"}
    if extra_meta:
        problems.append(f"{path}: notebook metadata has editor state {sorted(extra_meta)}")
    for index, cell in enumerate(nb.cells, start=1):
        where = f"{path}: cell {index}"
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            problems.append(f"{where} has outputs or an execution count (clear them)")
        extra = set(cell.metadata) - KEPT_CELL_METADATA
        if extra:
            problems.append(f"{where} has editor metadata {sorted(extra)}")
        match = ABSOLUTE_PATH.search(cell.source)
        if match:
            problems.append(f"{where} contains an absolute path ({match.group(0)}...)")
    if lesson:
        problems += lesson_problems(nb, path)
    return problems


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    problems = []
    for path in paths:
        files = sorted(path.rglob("*.ipynb")) if path.is_dir() else [path]
        for file in files:
            if ".ipynb_checkpoints" not in file.parts:
                problems += notebook_problems(file, lesson=is_lesson(file.resolve()))
    print("\n".join(problems) or "All notebooks are clean.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
