"""The instructor command line, ``tpmlab-grade`` (or ``python -m tpmlab.grading``).

A thin layer over nbgrader for the whole loop::

    tpmlab-grade collect 01-sql-analytics --from downloads/ [--roster roster.txt]
    tpmlab-grade autograde 01-sql-analytics [--workers N] [--cell-timeout S] [--student-timeout S]
                                            [--unsafe] [--cluster tcp://HOST:PORT
                                            [--shared-folder PATH]]
    tpmlab-grade feedback 01-sql-analytics
    tpmlab-grade export 01-sql-analytics        # CSVs in autograder/exports/
    tpmlab-grade export 01-sql-analytics --format canvas|moodle --roster roster.csv
    tpmlab-grade report 01-sql-analytics        # HTML class report in autograder/reports/

``--course DIR`` selects another nbgrader course folder, ``--db URL`` another gradebook (for
example PostgreSQL); both default to ``autograder/`` and its SQLite gradebook.

Exit status: 0 when the command did its job; 2 for a wrong assignment name or a command that
cannot run (the message says what exists or what to do); ``autograde`` exits 3 when some student
has no recorded result at all (see the grading guide, "Exit status"); ``export`` exits 1 when it
wrote the LMS file but had to leave out graded students the roster does not map (it names them).

``autograde --cluster tcp://HOST:PORT`` grades each student on a worker of that Dask
scheduler instead of this machine (``pip install 'tpmlab[cluster]'``; the grading guide's
"Grading on a cluster"); the gradebook is still written here only. With ``--shared-folder
PATH`` (a folder mounted at the same path on every worker) the answer keys and submissions
reach the workers through that folder instead of through Dask.

``autograde`` runs every student's kernel in a bubblewrap sandbox (see
``autograder/SECURITY.md``) and refuses to grade on a machine where it cannot, unless
``--unsafe`` is given.
"""

from __future__ import annotations

import argparse
import os
import sys

from tpmlab.grading.coursedir import Course


def _roster(path: str | None):
    """The roster given with ``--roster``: a plain list of ids (one per line) or a CSV with the
    columns ``id,first_name,last_name,email[,lms_id]`` (see :func:`tpmlab.grading.collect.
    read_roster`); None without one."""
    if not path:
        return None
    from tpmlab.errors import TPMLabError
    from tpmlab.grading.collect import read_roster

    try:
        return read_roster(path)
    except TPMLabError as exc:
        raise SystemExit(f"tpmlab-grade: {exc}") from None


def _check_assignment(parser, course: Course, assignment: str, *, graded: bool) -> None:
    """Stop with exit status 2 and a list of what exists when ``assignment`` is not one of the
    course's (or, with ``graded``, has nothing in the gradebook yet); never a traceback."""
    try:
        known = course.assignments()
    except OSError:
        known = []
    if assignment not in known:
        parser.exit(
            2,
            f"tpmlab-grade: there is no assignment {assignment!r} in {course.source_root}. "
            f"Assignments: {', '.join(known) or 'none'}.\n",
        )
    if graded:
        from nbgrader.api import Gradebook

        try:
            with Gradebook(course.db_url, course.course_id) as gb:
                names = {a.name for a in gb.assignments}
                count = len(gb.assignment_submissions(assignment)) if assignment in names else 0
                done = sorted(a.name for a in gb.assignments if gb.assignment_submissions(a.name))
        except Exception as exc:  # no gradebook yet, or one that cannot be opened
            parser.exit(2, f"tpmlab-grade: cannot read the gradebook {course.db_url}: {exc}\n")
        if not count:
            parser.exit(
                2,
                f"tpmlab-grade: nothing of {assignment!r} is graded yet: run `tpmlab-grade "
                f"autograde {assignment}` first. Graded assignments: {', '.join(done) or 'none'}."
                "\n",
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tpmlab-grade",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--course", help="nbgrader course folder (default autograder/)")
    parser.add_argument("--db", help="gradebook database URL (default SQLite in the course)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("collect", help="lay out submissions for nbgrader")
    p.add_argument("assignment")
    p.add_argument("--from", dest="source", required=True, help="folder or zip of submissions")
    p.add_argument(
        "--roster",
        help="one student id per line, or a CSV id,first_name,last_name,email[,lms_id] "
        "(reports who is missing; names and LMS ids go to the gradebook)",
    )

    p = sub.add_parser("autograde", help="grade submissions in parallel")
    p.add_argument("assignment")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell")
    p.add_argument("--student-timeout", type=int, default=300, help="seconds per student")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--force", action="store_true", help="grade again even if unchanged")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--unsafe",
        action="store_true",
        help="grade without the sandbox: students' code runs with your permissions",
    )
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="grade on the workers of this Dask scheduler (tcp://HOST:PORT) instead of here",
    )
    p.add_argument(
        "--shared-folder",
        metavar="PATH",
        help="with --cluster: send the answer keys and submissions through this folder, "
        "mounted at the same path on every worker, instead of through Dask",
    )

    for name, text in [
        ("feedback", "write per-student HTML feedback"),
        ("export", "write grade CSVs, or the grade import file of Canvas or Moodle"),
        ("report", "write the class report"),
    ]:
        p = sub.add_parser(name, help=text)
        p.add_argument("assignment")
    p = sub.choices["export"]
    p.add_argument(
        "--format",
        choices=["csv", "canvas", "moodle"],
        default="csv",
        help="csv: the course's grade CSVs; canvas: Canvas's gradebook import CSV; moodle: "
        "Moodle's CSV grade import (grades after the late policy in every format)",
    )
    p.add_argument(
        "--roster",
        help="CSV mapping course ids to the LMS's: id,first_name,last_name,email,lms_id and "
        "sis_user_id,sis_login_id,section (Canvas) or username,idnumber (Moodle); default: the "
        "students in the gradebook",
    )
    p.add_argument(
        "--lms-column",
        help="the LMS's grade column: Canvas 'Name (assignment id)' of an existing assignment, "
        "Moodle the grade item's name (default: the assignment's name)",
    )

    args = parser.parse_args(argv)
    course = Course(args.course, args.db)

    if args.command in ("autograde", "feedback", "export", "report"):
        _check_assignment(parser, course, args.assignment, graded=args.command != "autograde")
    if args.command in ("autograde", "export", "report"):
        from tpmlab.errors import TPMLabError
        from tpmlab.grading.late import load_policy

        try:
            load_policy(course)  # deadlines and late policy of nbgrader_config.py, checked
        except TPMLabError as exc:
            parser.exit(2, f"tpmlab-grade: {exc}\n")

    if args.command == "collect":
        from tpmlab.grading.collect import collect

        report = collect(course, args.assignment, args.source, _roster(args.roster))
        print("\n".join(report.lines()))
    elif args.command == "autograde":
        from tpmlab.grading.autograde import autograde
        from tpmlab.grading.cluster import ClusterUnavailable
        from tpmlab.grading.results import summary
        from tpmlab.grading.sandbox import SandboxUnavailable

        if args.shared_folder and not args.cluster:
            parser.exit(2, "tpmlab-grade: --shared-folder needs --cluster ADDRESS.\n")
        if args.unsafe:
            print(
                "Grading WITHOUT a sandbox (--unsafe): students' code runs as you, with your "
                "files, network and permissions.",
                file=sys.stderr,
            )
        try:
            results = autograde(
                course,
                args.assignment,
                workers=args.workers,
                cell_timeout=args.cell_timeout,
                student_timeout=args.student_timeout,
                students=args.student,
                force=args.force,
                progress=not args.no_progress,
                sandbox="off" if args.unsafe else "required",
                cluster=args.cluster,
                shared_folder=args.shared_folder,
            )
        except (SandboxUnavailable, ClusterUnavailable) as exc:
            parser.exit(2, f"tpmlab-grade: {exc}\n")
        print(_result_lines(results))
        line, status = summary(results)
        print(line)
        return status
    elif args.command == "feedback":
        from tpmlab.grading.feedback import generate_feedback

        for path in generate_feedback(course, args.assignment):
            print(path)
    elif args.command == "export":
        from tpmlab.grading.lms import export_lms

        done = export_lms(
            course, args.assignment, args.format, _roster(args.roster), args.lms_column
        )
        print("\n".join(done.lines()))
        return done.status
    elif args.command == "report":
        from tpmlab.grading.class_report import class_report

        print(class_report(course, args.assignment))
    return 0


def _result_lines(results) -> str:
    """One line per student: status, autograded score, and the total with hand-graded points."""
    lines = []
    for r in results:
        status = "failed" if r.failed else r.status
        text = f"{r.student:<24} {status:<8} {_score_text(r.score, r.max_score, r.hand_max_score)}"
        if r.flags:
            text += f"  flags: {'; '.join(r.flags)}"
        if r.reason:
            text += f"  reason: {r.reason}"
        lines.append(text)
    return "\n".join(lines)


def _score_text(score: float, auto_max: float, hand_max: float) -> str:
    """``32/32 (autograded; 36 total with 4 hand-graded points)``."""
    if not hand_max:
        return f"{score:g}/{auto_max:g} (autograded)"
    total = auto_max + hand_max
    return (
        f"{score:g}/{auto_max:g} (autograded; {total:g} total with {hand_max:g} hand-graded points)"
    )


if __name__ == "__main__":
    sys.exit(main())
