"""Notebook hygiene: what every committed notebook must satisfy, as a list of readable problems.

Used by the test suite (and by ``python -m tpmlab.hygiene PATH...`` before a commit): valid
nbformat, no outputs or execution counts, the python3 kernelspec, clean metadata, no absolute
paths, and for lessons the required opening (learning objectives) and closing (summary, further
reading) sections, and a **Try it** section whose self-check goes through
:func:`tpmlab.checks.try_it` (so that ``make test``'s strict mode can refuse a Try-it that comes
already solved).
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
LESSON_SECTIONS = {
    "learning objectives": re.compile(
        r"^#+\s*(learning objectives|you will be able to)", re.I | re.M
    ),
    "summary": re.compile(r"^#+\s*summary", re.I | re.M),
    "further reading": re.compile(r"^#+\s*further reading", re.I | re.M),
}
TRY_IT_HEADING = re.compile(r"^#+\s*try it", re.I | re.M)
HEADING = re.compile(r"^#+\s", re.M)


def try_it_problems(nb, path) -> list[str]:
    """Try-it sections (from a "Try it" heading to the next heading) whose code cells never call
    ``try_it(``: their self-check could tick before the learner has written anything."""
    problems: list[str] = []
    open_at, calls = None, False

    def close() -> None:
        if open_at is not None and not calls:
            problems.append(f"{path}: the Try it section at cell {open_at} never calls try_it(")

    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if HEADING.match(line):
                    close()
                    open_at = index if TRY_IT_HEADING.match(line) else None
                    calls = False
        elif open_at is not None and "try_it(" in cell.source:
            calls = True
    close()
    return problems


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
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        for name, pattern in LESSON_SECTIONS.items():
            if not pattern.search(text):
                problems.append(f"{path}: lesson has no '{name}' heading")
        problems += try_it_problems(nb, path)
    return problems


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    problems = []
    for path in paths:
        files = sorted(path.rglob("*.ipynb")) if path.is_dir() else [path]
        for file in files:
            if ".ipynb_checkpoints" not in file.parts:
                lesson = file.parts[0] == "course" and file.name != "index.ipynb"  # not the home
                problems += notebook_problems(file, lesson=lesson)
    print("\n".join(problems) or "All notebooks are clean.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
