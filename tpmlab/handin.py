"""Hand in an assignment from Binder or a laptop: package your notebooks into one zip.

In a notebook cell::

    from tpmlab.handin import handin
    handin("01-sql-analytics", student="your-id")

or in a terminal: ``python -m tpmlab.handin 01-sql-analytics --student your-id``.

The zip (``handin/<student>--<assignment>.zip``) holds the assignment's notebooks and a small
manifest (who, which assignment, when, a checksum per file). Download it from JupyterLab's file
browser (right click, Download) and upload it where your instructor asked; the instructor's
``tpmlab-grade collect`` reads it as it is.

The manifest is a check, not a claim the grader believes: who handed in and when come from the
upload itself (your LMS login and the time the LMS received the file). A manifest that names
someone else, or a date that is not when the file was uploaded, is flagged for the instructor.
Upload your own zip under your own login, and upload it soon after making it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from tpmlab.errors import TPMLabError
from tpmlab.paths import REPO_ROOT

MANIFEST = "tpmlab-handin.json"
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
#: Ids copied from the course's examples instead of the learner's own.
PLACEHOLDER_IDS = {"your-id", "your_id", "yourid", "student-id", "student", "my-id", "id", "xxx"}
#: What an answer cell of a student version says until the learner writes their answer.
UNANSWERED = ("raise NotImplementedError", "YOUR ANSWER HERE")


def _unanswered(path: Path) -> list[str]:
    """Grade ids of the answer cells of ``path`` that still hold the released placeholder."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return ["(the notebook could not be read: open it in JupyterLab and save it again)"]
    missing = []
    for cell in cells if isinstance(cells, list) else []:
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        if meta.get("solution") and any(mark in text for mark in UNANSWERED):
            missing.append(str(meta.get("grade_id", "?")))
    return missing


def _report(notebooks: list[Path]) -> None:
    """Say what the zip will hold: when each notebook was last saved, what is unanswered."""
    now = datetime.now(UTC)
    for path in notebooks:
        saved = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        minutes = max(0, int((now - saved).total_seconds() // 60))
        print(f"{path.name}: last saved {saved:%Y-%m-%d %H:%M} UTC ({minutes} min ago)")
        missing = _unanswered(path)
        if missing:
            print(f"  not answered yet: {', '.join(missing)}")
    print(
        "The zip holds your notebooks as last saved: if you changed one since, save it "
        "(Ctrl+S) and hand in again. Before handing in, press Validate in the notebook's "
        "toolbar: it runs every public check the way the grader does."
    )


def handin(
    assignment: str,
    student: str,
    *,
    folder: str | Path | None = None,
    out_dir: str | Path | None = None,
) -> Path:
    """Zip the notebooks of ``assignment`` (from ``assignments/<assignment>/`` by default)."""
    if (student or "").strip().strip("<>").lower() in PLACEHOLDER_IDS:
        raise TPMLabError(
            f"{student!r} is the example id from the course's instructions, not yours.",
            "Use your own id: the login your instructor or your course's LMS gave you, e.g. "
            'handin("01-sql-analytics", student="jdoe").',
        )
    if not STUDENT_ID.match(student or ""):
        raise TPMLabError(
            f"{student!r} cannot be used as a student id.",
            "Use the id your instructor gave you: letters, digits, dots, dashes or underscores.",
        )
    folder = Path(folder) if folder else REPO_ROOT / "assignments" / assignment
    notebooks = sorted(p for p in folder.glob("*.ipynb")) if folder.is_dir() else []
    if not notebooks:
        raise TPMLabError(
            f"No notebooks found for assignment {assignment!r} in {folder}.",
            "Check the assignment name (the folder name under assignments/), save your "
            "notebook, and try again.",
        )
    _report(notebooks)
    out_dir = Path(out_dir) if out_dir else REPO_ROOT / "handin"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{student}--{assignment}.zip"
    manifest = {
        "student": student,
        "assignment": assignment,
        "handed_in_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in notebooks},
    }
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in notebooks:
            zf.write(path, f"{assignment}/{path.name}")
        zf.writestr(f"{assignment}/{MANIFEST}", json.dumps(manifest, indent=1))
    tmp.replace(target)
    print(f"Handed in {len(notebooks)} notebook(s): {target}")
    print("Download this file (right click it in the file browser, Download) and upload it.")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tpmlab.handin",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("assignment", help="assignment folder name, e.g. 01-sql-analytics")
    parser.add_argument("--student", required=True, help="your student id")
    parser.add_argument("--folder", help="where your notebooks are (default assignments/NAME)")
    parser.add_argument("--out", help="where to write the zip (default handin/)")
    args = parser.parse_args(argv)
    try:
        handin(args.assignment, args.student, folder=args.folder, out_dir=args.out)
    except TPMLabError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
