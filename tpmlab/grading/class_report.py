"""The class report: the page an instructor opens after grading an assignment.

``tpmlab-grade report ASSIGNMENT`` writes ``autograder/reports/<assignment>-report.html``, one
self-contained file (inline CSS, plots as PNG data URIs drawn by matplotlib, no script, nothing
from the network) that reads well in a browser and prints cleanly. Sections:

- **Summary**: submissions graded, failed and missing (apart: they are not in the mean and
  median), mean and median share of the autograded points, hand grading done and waiting;
- **Score distribution** of the graded submissions (% of autograded points);
- **Questions**: every question by its title, in the notebook's order (q1, q2, ..., q10), with
  its pass rate or mean score and the two most common failure messages, taken from the public checks
  and the judge's verdicts in the autograded notebooks (an error raised inside a hidden test is
  named by its type only, so hidden test code never appears);
- **Hand grading**: per hand-graded question, answers graded and waiting, who waits, and whose
  grade was cleared because a resubmission changed the answer; for an answer scored with a
  rubric (:mod:`tpmlab.grading.rubric`), each criterion's mean and spread of levels, and the
  graders' comments that miss a criterion or do not add up to the score;
- **Late submissions** under the course's late policy (collected time, deadline, days late,
  penalty and the points after it), and the failed, missing and flagged submissions (**Flagged for review**),
  with reasons;
- **All students**, and **Progress across assignments** once several are graded.

Students control their notebooks' outputs, names and messages: every string that comes from a
submission is HTML-escaped, so nothing of theirs becomes markup. Grades come from
:func:`tpmlab.grading.report.grades_table` and the last autograde run's log
(:func:`tpmlab.grading.report.review_log`).
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from tpmlab.errors import TPMLabError
from tpmlab.grading.class_tables import (
    NOT_GRADED,
    graded_assignments,
    hand_grading,
    late_submissions,
    progress_table,
    question_table,
    student_table,
)
from tpmlab.grading.coursedir import Course
from tpmlab.grading.late import describe, load_policy
from tpmlab.grading.questions import natural_key, readable_id

__all__ = [
    "class_report",
    "graded_assignments",
    "hand_grading",
    "progress_table",
    "question_table",
    "render",
    "student_table",
]


def e(value) -> str:
    """HTML-escaped text of any value (None is empty)."""
    return "" if value is None else html.escape(str(value), quote=True)


# ---- plots -----------------------------------------------------------------------------------
def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def histogram(percents: list[float]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    ax.hist(percents, bins=range(0, 105, 5), color="#3b6ea8", edgecolor="white")
    ax.set_xlim(0, 100)
    ax.set_xlabel("score (% of the autograded points)")
    ax.set_ylabel("students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _png(fig)


def difficulty_plot(questions: pd.DataFrame) -> str:
    plt = _plt()
    auto = questions[questions["kind"] == "autograded"]
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * max(len(auto), 3) + 0.9))
    labels = [readable_id(q) for q in auto["question"]]
    ax.barh(labels, 100 * auto["pass_rate"].astype(float), color="#4c9a6a")
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("students passing (%)")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _png(fig)


# ---- HTML ------------------------------------------------------------------------------------
CSS = """
:root { --ink: #1f2933; --muted: #5f6b7a; --line: #d9dee5; --accent: #3b6ea8; --warn: #b54708; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  max-width: 68em; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.7em; margin-bottom: .2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 2px solid var(--line); padding-bottom: .2em; }
p.meta { color: var(--muted); margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: .8em; margin: 1em 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .5em .9em; min-width: 9em; }
.card b { display: block; font-size: 1.4em; }
.card span { color: var(--muted); font-size: .9em; }
table { border-collapse: collapse; width: 100%; margin: .6em 0; font-size: .93em; }
th, td { border-bottom: 1px solid var(--line); padding: .35em .6em; text-align: left;
  vertical-align: top; }
th { background: #f3f5f8; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.msg { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .88em;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.warn { color: var(--warn); font-weight: 600; }
.muted { color: var(--muted); }
img.plot { max-width: 100%; height: auto; display: block; margin: .5em 0; }
nav.toc a { margin-right: 1em; }
@media print {
  body { max-width: none; margin: 0; font-size: 11pt; }
  nav.toc { display: none; }
  h2 { page-break-after: avoid; }
  table, img.plot, .cards { page-break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def _num(x, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and pd.isna(x)):
        return "–"
    return f"{x:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{x:g}"


def _table(headers: list[tuple[str, str]], rows: list[list[str]]) -> str:
    """``headers``: (label, css class); ``rows``: already-escaped cell HTML."""
    head = "".join(f'<th class="{cls}">{e(label)}</th>' for label, cls in headers)
    body = "\n".join(
        "<tr>"
        + "".join(
            f'<td class="{cls}">{cell}</td>' for (_, cls), cell in zip(headers, row, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _penalty(percent: float, zeroed: bool) -> str:
    if zeroed:
        return "0 (after the cut-off)"
    return f"-{percent:g}%" if percent else "none"


def _duration(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} h"


def _rubric_section(course: Course, assignment: str) -> list[str]:
    """Per-criterion results of the rubric-graded answers, once a person has graded some."""
    from tpmlab.grading.rubric import rubric_results

    parts = []
    for entry in rubric_results(course, assignment):
        rubric, scores = entry["rubric"], entry["scores"]
        if not scores and not entry["problems"]:
            continue
        parts.append(f"<h3 id='rubric-{e(entry['question'])}'>Rubric: {e(entry['question'])}</h3>")
        parts.append(
            f"<p>{len(scores)} answers scored per criterion (from the graders' comments, one line "
            "per criterion such as <code>framing: 4</code>).</p>"
        )
        rows = []
        for name in rubric.names:
            got = [s[name] for s in scores.values() if name in s]
            counts = [sum(1 for g in got if g == level) for level in rubric.levels]
            mean = _num(sum(got) / len(got), 2) if got else "–"
            rows.append([e(name), e(str(len(got))), e(mean), *(e(str(c)) for c in counts)])
        parts.append(
            _table(
                [("Criterion", ""), ("Scored", "num"), ("Mean", "num")]
                + [(f"{level} points", "num") for level in rubric.levels],
                rows,
            )
        )
        if entry["problems"]:
            parts.append(
                "<p class='warn'>Comments to fix in the formgrader (the score stands; the "
                "per-criterion results above leave these out where a criterion is missing):</p>"
            )
            parts.append(
                _table(
                    [("Student", ""), ("Problem", "msg")],
                    [[e(student), e(problem)] for student, problem in entry["problems"]],
                )
            )
    return parts


def _variants_section(graded: pd.DataFrame) -> str:
    """Mean score per variant of an assignment with per-learner variants: a variant much harder
    than the others shows here."""
    rows = []
    by = graded.groupby("variant", sort=False)["percent"]
    for variant in sorted(by.groups, key=natural_key):
        values = by.get_group(variant).dropna()
        mean = f"{values.mean():.1f}%" if len(values) else "–"
        rows.append([e(variant), e(str(len(values))), e(mean)])
    return (
        '<h2 id="variants">Variants</h2><p>Each learner was graded on the parameters of their '
        "own variant (the variant column below). Mean % of the autograded points per variant:</p>"
        + _table([("Variant", "num"), ("Graded", "num"), ("Mean", "num")], rows)
    )


def render(course: Course, assignment: str) -> str:
    """The report's HTML."""
    students = student_table(course, assignment)
    if not len(students):
        raise TPMLabError(
            f"Nothing of {assignment!r} is in the gradebook yet.",
            f"Run `tpmlab-grade autograde {assignment}` first.",
        )
    graded = students[~students["status"].isin(NOT_GRADED)]
    apart = students[students["status"].isin(NOT_GRADED)]
    questions = question_table(course, assignment, list(graded["student"]))
    hand_rows, redo = hand_grading(course, assignment)
    percents = [float(p) for p in graded["percent"] if p is not None and not pd.isna(p)]
    auto_max = float(graded["auto_max"].max()) if len(graded) else 0.0
    hand_max = float(students["hand_max"].max()) if len(students) else 0.0
    hand_total = sum(r["to_grade"] for r in hand_rows)
    hand_done = sum(r["graded"] for r in hand_rows)
    late = students[students["late_seconds"] > 0]
    flagged = students[(students["flags"].map(len) > 0) | students["status"].isin(NOT_GRADED)]

    mean = f"{sum(percents) / len(percents):.1f}%" if percents else "–"
    median = f"{pd.Series(percents).median():.1f}%" if percents else "–"
    cards = [
        (str(len(graded)), "graded"),
        (str(len(apart)), "failed or missing (not in mean/median)"),
        (mean, "mean, % of autograded points"),
        (median, "median"),
        (f"{hand_done} / {hand_total}", "hand-graded answers done"),
        (str(len(late)), "late"),
        (str(len(flagged)), "failed or flagged"),
    ]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Class report: {e(assignment)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Class report: {e(assignment)}</h1>",
        f'<p class="meta">{len(students)} students; autograded points: {_num(auto_max, 0)}'
        + (f", hand-graded points: {_num(hand_max, 0)}" if hand_max else "")
        + f". Written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>",
        '<nav class="toc"><a href="#distribution">Score distribution</a>'
        '<a href="#questions">Questions</a><a href="#hand">Hand grading</a>'
        '<a href="#late">Late</a><a href="#flagged">Failed and flagged</a>'
        '<a href="#students">All students</a></nav>',
        '<div class="cards">'
        + "".join(f"<div class='card'><b>{e(v)}</b><span>{e(k)}</span></div>" for v, k in cards)
        + "</div>",
        '<h2 id="distribution">Score distribution</h2>',
    ]
    if percents:
        parts.append(
            f'<img class="plot" alt="Histogram of the graded submissions\' scores, as % of the '
            f'autograded points" src="data:image/png;base64,{histogram(percents)}">'
        )
        parts.append(
            f"<p>{len(percents)} graded submissions: mean {mean}, median {median} of the "
            f"{_num(auto_max, 0)} autograded points. Failed and missing submissions are listed "
            "below and not counted here.</p>"
        )
    else:
        parts.append("<p>No submission could be graded.</p>")

    parts.append('<h2 id="questions">Questions</h2>')
    if len(questions):
        auto_q = questions[questions["kind"] == "autograded"]
        if len(auto_q):
            parts.append(
                '<img class="plot" alt="Share of students passing each autograded question" '
                f'src="data:image/png;base64,{difficulty_plot(questions)}">'
            )
            hardest = auto_q.sort_values("pass_rate", kind="stable").head(3)
            parts.append(
                "<p>Hardest: "
                + e(
                    ", ".join(
                        f"{t} ({100 * p:.0f}% pass)"
                        for t, p in zip(hardest["title"], hardest["pass_rate"], strict=True)
                    )
                )
                + "</p>"
            )
        by_hand = {r["question"]: r for r in hand_rows}
        rows = []
        for q in questions.itertuples():
            h = by_hand.get(q.question, {})
            how = (
                f"{100 * q.pass_rate:.0f}% pass"
                if q.kind == "autograded"
                else f"{h.get('graded', 0)} of {h.get('to_grade', 0)} graded by hand"
            )
            failure = "<br>".join(
                f"{e(message)} <span class='muted'>({count}×)</span>"
                for message, count in q.failures
            )
            rows.append(
                [
                    f"{e(q.title)}<br><code>{e(q.question)}</code>",
                    e(q.kind),
                    e(_num(q.max_score, 0)),
                    e(how),
                    # a hand-graded mean only once a person has graded something
                    e(_num(q.mean_score, 2) if q.kind == "autograded" or h.get("graded") else "–"),
                    failure,
                ]
            )
        parts.append(
            _table(
                [
                    ("Question", ""),
                    ("Kind", ""),
                    ("Points", "num"),
                    ("Passed / graded", "num"),
                    ("Mean score", "num"),
                    ("Most common failures", "msg"),
                ],
                rows,
            )
        )

    parts.append('<h2 id="hand">Hand grading</h2>')
    if hand_rows:
        rows = [
            [
                e(r["title"]),
                e(f"{r['graded']} / {r['to_grade']}"),
                e(", ".join(r["waiting"]) or "nobody"),
                e(str(r["zero"])),
            ]
            for r in hand_rows
        ]
        parts.append(
            f"<p>{hand_done} of {hand_total} hand-graded answers are graded; grade the rest in "
            "the formgrader (Manual Grading), where each answer shows its mark scheme. A blank "
            "answer, or a submission that could not be graded, scores 0 without waiting for "
            "you (last column).</p>"
        )
        parts.append(
            _table(
                [
                    ("Question", ""),
                    ("Graded", "num"),
                    ("Waiting", ""),
                    ("Scored 0, nothing to read", "num"),
                ],
                rows,
            )
        )
    else:
        parts.append("<p>This assignment has no hand-graded questions.</p>")
    if redo:
        parts.append(
            "<p class='warn'>Hand grading to redo: these students resubmitted a changed answer "
            "after it was graded, so its grade was cleared.</p>"
        )
        parts.append(
            _table(
                [("Student", ""), ("Questions", "")],
                [[e(s), e(", ".join(qs))] for s, qs in sorted(redo.items())],
            )
        )

    parts.extend(_rubric_section(course, assignment))

    parts.append('<h2 id="late">Late submissions</h2>')
    parts.append(
        f"<p>Late policy: {e(describe(load_policy(course), assignment))}. Lateness is measured from "
        "when each submission was collected (never a time written in the notebook); the "
        "penalty applies to the total score on export (<code>tpmlab-grade export</code>), the "
        "scores here are before it.</p>"
    )
    if len(late):
        lateness = late_submissions(course, assignment)
        rows = []
        for row in late.itertuples():
            info = lateness.get(row.student, {})
            total = row.auto_score + row.hand_score
            after = 0.0 if info.get("zeroed") else total * (1 - row.late_penalty / 100)
            rows.append(
                [
                    e(row.student),
                    e(f"{info.get('timestamp'):%Y-%m-%d %H:%M}" if info.get("timestamp") else ""),
                    e(f"{info.get('duedate'):%Y-%m-%d %H:%M}" if info.get("duedate") else ""),
                    e(_duration(row.late_seconds)),
                    e(str(row.late_days)),
                    e(_penalty(row.late_penalty, bool(info.get("zeroed")))),
                    e(f"{_num(total, 2)} → {_num(after, 2)}"),
                ]
            )
        parts.append(
            _table(
                [
                    ("Student", ""),
                    ("Submitted (UTC)", ""),
                    ("Due (UTC)", ""),
                    ("Late by", "num"),
                    ("Days late", "num"),
                    ("Penalty", "num"),
                    ("Points after penalty", "num"),
                ],
                rows,
            )
        )
    else:
        parts.append("<p>None.</p>")

    parts.append('<h2 id="flagged">Flagged for review</h2>')
    if len(flagged):
        rows = [
            [e(r.student), e(r.status), e("; ".join(r.flags)), e(r.reason)]
            for r in flagged.itertuples()
        ]
        parts.append(
            "<p>Flags never change a score: look at the submission, then decide. A failed or "
            "missing submission scores 0 on the autograded items until it is fixed and graded "
            "again.</p>"
        )
        parts.append(
            _table([("Student", ""), ("Status", ""), ("Flags", "msg"), ("Reason", "msg")], rows)
        )
    else:
        parts.append("<p>None.</p>")

    has_variants = bool(len(students)) and bool(students["variant"].astype(bool).any())
    if has_variants:
        parts.append(_variants_section(graded))
    parts.append('<h2 id="students">All students</h2>')
    rows = []
    for r in students.itertuples():
        hand = ""
        if r.hand_max:
            hand = f"{_num(r.hand_score, 2)} / {_num(r.hand_max, 0)}"
            if r.hand_waiting:
                hand = f"waiting ({r.hand_waiting}) / {_num(r.hand_max, 0)}"
        rows.append(
            [
                e(r.student),
                e(r.status),
                e(f"{_num(r.auto_score, 2)} / {_num(r.auto_max, 0)}"),
                e("–" if r.percent is None or pd.isna(r.percent) else f"{r.percent:.1f}%"),
                e(hand),
                e(
                    f"{_duration(r.late_seconds)}, {_penalty(r.late_penalty, False)}"
                    if r.late_seconds
                    else ""
                ),
                e("; ".join(r.flags)),
            ]
            + ([e(r.variant)] if has_variants else [])
        )
    parts.append(
        _table(
            [
                ("Student", ""),
                ("Status", ""),
                ("Autograded", "num"),
                ("% of autograded", "num"),
                ("Hand-graded", "num"),
                ("Late (penalty)", "num"),
                ("Flags", "msg"),
            ]
            + ([("Variant", "num")] if has_variants else []),
            rows,
        )
    )

    progress = progress_table(course)
    if progress.shape[1] > 1:
        parts.append("<h2 id='progress'>Progress across assignments</h2>")
        parts.append("<p>% of the autograded points in each graded assignment.</p>")
        columns = sorted(progress.columns, key=natural_key)
        rows = []
        for student in sorted(progress.index, key=natural_key):
            cells = [e(student)]
            for a in columns:
                value = progress.loc[student, a]
                cells.append(e("–" if value is None or pd.isna(value) else f"{value:.1f}%"))
            rows.append(cells)
        parts.append(_table([("Student", "")] + [(a, "num") for a in columns], rows))
    parts.append("</body></html>")
    return "\n".join(parts)


def class_report(course: Course, assignment: str, out: str | Path | None = None) -> Path:
    """Write the HTML class report for ``assignment`` and return its path."""
    if assignment not in course.assignments():
        raise TPMLabError(
            f"There is no assignment {assignment!r} in {course.source_root}.",
            f"Use one of: {', '.join(course.assignments()) or 'none'}.",
        )
    body = render(course, assignment)
    path = Path(out) if out else course.reports_dir() / f"{assignment}-report.html"
    path.write_text(body, encoding="utf-8")
    return path
