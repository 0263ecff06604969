"""Rubrics for hand-graded answers: the criteria and levels, the grader's per-criterion scores.

A hand-graded answer scored against a rubric (the capstone's memo) declares it in its mark scheme
with one line, ``Rubric criteria: framing, evidence, ... (levels 0, 2, 4)``, which
:func:`declared` reads. The grader scores the answer in nbgrader's formgrader as usual (the total,
in the score box) and writes the per-criterion scores in the comment box, one line per criterion::

    framing: 4
    evidence: 2
    ...

:func:`parse_scores` reads such a comment and says what is wrong with it (a criterion missing or
twice, a level the rubric does not have, a total that is not the score given).
:func:`rubric_results` collects, for an assignment, every graded answer's per-criterion scores
from the gradebook and the problems to fix, and the class report shows them
(:mod:`tpmlab.grading.class_report`). :data:`CAPSTONE` is the capstone memo's rubric; :func:`as_markdown`
renders a rubric as the table shown to learners and graders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DECLARATION = re.compile(
    r"^Rubric criteria: (?P<names>[\w, ]+?) \(levels (?P<levels>[\d, ]+)\)\s*$", re.M
)
SCORE_LINE = re.compile(
    r"^\s*[-*]?\s*(?P<name>[A-Za-z_ ]+?)\s*[:=]\s*(?P<score>-?\d+(?:\.\d+)?)\s*$"
)


@dataclass(frozen=True)
class Rubric:
    """Criteria (key, title, what each level looks like) and the levels a criterion can score."""

    criteria: tuple[tuple[str, str, tuple[str, ...]], ...]
    levels: tuple[int, ...] = (0, 2, 4)

    @property
    def names(self) -> list[str]:
        return [c[0] for c in self.criteria]

    @property
    def total(self) -> int:
        return len(self.criteria) * max(self.levels)

    def declaration(self) -> str:
        """The mark-scheme line that declares this rubric (read back by :func:`declared`)."""
        levels = ", ".join(str(v) for v in self.levels)
        return f"Rubric criteria: {', '.join(self.names)} (levels {levels})"


CAPSTONE = Rubric(
    criteria=(
        (
            "framing",
            "Problem framing",
            (
                "restates that activation dropped",
                "names the metric and the drop, but not since when, for whom or why it matters",
                "the metric defined (7-day activation), the size, since when, for whom, and the "
                "decision the memo asks for",
            ),
        ),
        (
            "evidence",
            "Evidence",
            (
                "claims without numbers",
                "some numbers, not tied to the claims or not said where they come from",
                "every claim backed by a number from the data (which table), showing that the "
                "timing, the segment, the step and the cause line up",
            ),
        ),
        (
            "alternatives",
            "Ruling out alternatives",
            (
                "no other explanation considered",
                "alternatives named, without evidence against them",
                "tracking, the experiment and the marketing mix each ruled out with a number",
            ),
        ),
        (
            "impact",
            "Impact sized",
            (
                "no size",
                "a size without a method, or in the wrong unit",
                "users lost per week, how it was estimated, how sure it is, what it costs next",
            ),
        ),
        (
            "recommendation",
            "Recommendation and owner",
            (
                "no recommendation, or 'investigate further'",
                "an action without an owner or a date",
                "a specific action, a named owning team, a date, and how we will know it worked",
            ),
        ),
        (
            "risks",
            "Risks and follow-up",
            (
                "none",
                "generic risks ('it might happen again')",
                "specific risks of the fix, the users already lost, the monitoring and the "
                "check that would have caught it",
            ),
        ),
        (
            "clarity",
            "Clarity",
            (
                "hard to follow, or much longer than a page",
                "readable, but the answer is buried or the jargon is not explained",
                "the answer first, one page, plain words a VP reads in two minutes",
            ),
        ),
    ),
)


def as_markdown(rubric: Rubric) -> str:
    """The rubric as a markdown table: one row per criterion, one column per level."""
    head = "| criterion | " + " | ".join(f"{v} points" for v in rubric.levels) + " |"
    rule = "|---" * (len(rubric.levels) + 1) + "|"
    rows = [
        f"| **{title}** (`{key}`) | " + " | ".join(levels) + " |"
        for key, title, levels in rubric.criteria
    ]
    return "\n".join([head, rule, *rows])


def declared(scheme: str) -> Rubric | None:
    """The rubric a mark scheme declares (criteria names and levels), or None."""
    found = DECLARATION.search(scheme or "")
    if not found:
        return None
    names = tuple(n.strip() for n in found["names"].split(",") if n.strip())
    levels = tuple(int(v) for v in found["levels"].replace(" ", "").split(",") if v)
    return Rubric(criteria=tuple((n, n, ()) for n in names), levels=levels)


@dataclass
class Scores:
    """A grader's per-criterion scores read from a comment, and what is wrong with them."""

    scores: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_scores(comment: str | None, rubric: Rubric, total: float | None = None) -> Scores:
    """Read ``criterion: score`` lines from a grader's comment (other lines are notes)."""
    out = Scores()
    wanted = {n.lower(): n for n in rubric.names}
    for line in (comment or "").splitlines():
        m = SCORE_LINE.match(line)
        if not m:
            continue
        key = m["name"].strip().lower().replace(" ", "_")
        if key not in wanted:
            continue
        name = wanted[key]
        if name in out.scores:
            out.problems.append(f"{name} is scored twice")
            continue
        value = float(m["score"])
        if value not in rubric.levels:
            levels = "/".join(str(v) for v in rubric.levels)
            out.problems.append(f"{name}: {m['score']} is not a level of the rubric ({levels})")
        out.scores[name] = value
    missing = [n for n in rubric.names if n not in out.scores]
    if missing and not out.scores:
        out.problems.append(
            "no per-criterion scores in the comment: write one line per criterion, such as "
            f"'{rubric.names[0]}: {max(rubric.levels)}'"
        )
    elif missing:
        out.problems.append("not scored: " + ", ".join(missing))
    if total is not None and not missing and abs(sum(out.scores.values()) - total) > 1e-9:
        out.problems.append(
            f"the criteria add up to {sum(out.scores.values()):g}, but the score given is {total:g}"
        )
    return out


def rubric_results(course, assignment: str) -> list[dict]:
    """Per rubric-graded question: each graded answer's scores, and the problems to fix.

    Returns ``[{"question", "rubric", "scores": {student: {criterion: score}}, "problems":
    [(student, problem)]}]``, one entry per hand-graded cell whose mark scheme declares a rubric
    (none for an assignment without one)."""
    from nbgrader.api import Gradebook

    from tpmlab.grading import notebooks
    from tpmlab.grading.markscheme import schemes

    rubrics: dict[str, Rubric] = {}
    for path in sorted(course.source_dir(assignment).glob("*.ipynb")):
        for gid, text in schemes(notebooks.read(path)).items():
            found = declared(text)
            if found is not None:
                rubrics[gid] = found
    if not rubrics:
        return []
    scores: dict[str, dict[str, dict[str, float]]] = {gid: {} for gid in rubrics}
    problems: dict[str, list[tuple[str, str]]] = {gid: [] for gid in rubrics}
    with Gradebook(course.db_url, course.course_id) as gb:
        for sub in gb.assignment_submissions(assignment):
            for nb in sub.notebooks:
                comments = {c.name: c.comment for c in nb.comments}
                for grade in nb.grades:
                    if grade.name not in rubrics or grade.manual_score is None:
                        continue
                    parsed = parse_scores(
                        comments.get(grade.name), rubrics[grade.name], float(grade.manual_score)
                    )
                    if parsed.scores and not any("twice" in p for p in parsed.problems):
                        scores[grade.name][sub.student_id] = parsed.scores
                    problems[grade.name].extend((sub.student_id, p) for p in parsed.problems)
    return [
        {"question": g, "rubric": rubrics[g], "scores": scores[g], "problems": problems[g]}
        for g in sorted(rubrics)
    ]
