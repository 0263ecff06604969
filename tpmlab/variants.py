"""Per-learner variants: each learner's assignment asks about its own numbers.

An assignment declares its parameters in one place, a locked **parameters cell** (nbgrader
``grade_id`` ``"parameters"``) right after the learner's ``STUDENT_ID`` cell::

    from tpmlab.variants import Parameters

    PARAMETERS = Parameters(
        "sql-analytics",
        variants=8,
        q1={"platform": ["ios", "android", "web"], "channel": ["paid_social", "referral"]},
        q5={"month": ["2025-03", "2025-04"]},
    )
    V = PARAMETERS.of(STUDENT_ID)
    V

Each keyword is a *group* (usually one question) of parameters with their allowed values; the
questions refer to ``V.q1_platform``, ``V.q5_month`` and so on, and the solution computes from
them. A learner's variant number is a hash of the assignment's name and their course id, so it is
the same on every machine and at grading. Variant 0 takes the first value of every parameter (the
assignment as it reads without variants); variant *k* > 0 takes, in each group, the *k*-th of the
group's other combinations in a seeded shuffled order. Within a group, two variants therefore ask
about different values whenever the group has at least ``variants`` combinations (the
constructor refuses fewer), so a classmate's answer to a question is the answer to another
question.

Where the learner's id comes from (:meth:`Parameters.of`): the ``STUDENT_ID`` the learner typed;
when it is empty, the JupyterHub login (``JUPYTERHUB_USER``, which is nbgrader's student id on a
hub), else ``TPMLAB_STUDENT_ID`` (:data:`STUDENT_ENV`). An empty id anywhere else is an error
saying what to type. The grader never trusts the
submitted id: it puts the submission's owner in the parameters cell
(:func:`pin`, :mod:`tpmlab.grading.preprocessors.pin_variant`) and judges the hidden tests with the
answer key of the owner's variant (:func:`tpmlab.grading.keys.load_key`).

The grading process reads a parameters cell without running it (:func:`parse`): the call must use
literal values only.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import os
import random
from dataclasses import dataclass

from tpmlab.errors import TPMLabError

__all__ = [
    "GRADE_ID",
    "Parameters",
    "Variant",
    "VariantError",
    "next_month",
    "parse",
    "pin",
    "variant_of",
]

#: The nbgrader grade_id of an assignment's parameters cell.
GRADE_ID = "parameters"
#: A default course id where the login is not one (an author running the source notebooks, the
#: test suite's nbval run, a course image that knows its learner): used when STUDENT_ID is empty.
STUDENT_ENV = "TPMLAB_STUDENT_ID"
#: The first line :func:`pin` writes into a parameters cell.
PIN_MARK = "# set by the grader:"


class VariantError(TPMLabError):
    """A learner has no id yet, or an assignment's parameters are declared wrongly."""


def next_month(month: str) -> str:
    """The month after ``month``, both as ``'YYYY-MM'`` (``'2025-12'`` -> ``'2026-01'``): the
    exclusive end of a month's window, ``event_time < '2025-05-01'`` for April."""
    year, mon = (int(x) for x in month.split("-"))
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"


@dataclass(frozen=True)
class Variant:
    """One learner's parameters: ``V.q1_platform`` or ``V["q1_platform"]``."""

    assignment: str
    number: int
    count: int
    student: str | None
    values: dict

    def __getattr__(self, name: str):
        values = object.__getattribute__(self, "values")
        if name in values:
            return values[name]
        raise AttributeError(
            f"Your parameters have no {name!r}; they are: {', '.join(values)}. Use one of these "
            "names, as the question writes it."
        )

    def __getitem__(self, name: str):
        return getattr(self, name)

    def label(self) -> str:
        return f"variant {self.number} of {self.count}"

    def _repr_markdown_(self) -> str:
        who = f" for `{self.student}`" if self.student else ""
        rows = "\n".join(f"| `V.{k}` | `{v!r}` |" for k, v in self.values.items())
        return (
            f"**Your parameters** ({self.label()}{who}). The questions ask about these values; "
            "your classmates have other ones.\n\n"
            f"| name | your value |\n|---|---|\n{rows}"
        )

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"Variant({self.label()}: {body})"


class Parameters:
    """The parameters of an assignment, in groups of allowed values (see the module docstring)."""

    def __init__(self, assignment: str, variants: int = 8, **groups: dict):
        if not isinstance(assignment, str) or not assignment:
            raise VariantError("Parameters needs the assignment's name first, as text.")
        if not isinstance(variants, int) or variants < 1:
            raise VariantError(f"variants must be a whole number of 1 or more, not {variants!r}.")
        self.assignment = assignment
        self.count = variants
        self.groups: dict[str, dict[str, list]] = {}
        for group, params in groups.items():
            if not isinstance(params, dict) or not params:
                raise VariantError(
                    f"Group {group!r} must be a dictionary of parameter -> list of values.",
                )
            for name, values in params.items():
                if not isinstance(values, list) or not values:
                    raise VariantError(f"{group}.{name}: give its allowed values as a list.")
            combos = list(itertools.product(*params.values()))
            if len(combos) < variants:
                raise VariantError(
                    f"Group {group!r} has only {len(combos)} combinations of values for "
                    f"{variants} variants, so two variants would ask the same question.",
                    f"Add values to {group!r} or lower variants=.",
                )
            self.groups[group] = params

    def _combo(self, group: str, number: int) -> tuple:
        params = self.groups[group]
        combos = list(itertools.product(*params.values()))
        if number == 0:
            return combos[0]
        rest = combos[1:]
        random.Random(f"{self.assignment}:{group}").shuffle(rest)
        return rest[(number - 1) % len(rest)]

    def number_of(self, student: str) -> int:
        """The variant number of a course id (the same everywhere: a hash, not a random draw;
        letter case and surrounding spaces do not count)."""
        # ids compare without case or surrounding spaces: "Ada " is ada (as a learner types it)
        key = f"{self.assignment}:{student.strip().lower()}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        return int(digest, 16) % self.count

    def at(self, number: int, student: str | None = None) -> Variant:
        """Variant ``number`` (0 to ``count - 1``)."""
        if not 0 <= number < self.count:
            raise VariantError(f"There are {self.count} variants (0 to {self.count - 1}).")
        values = {}
        for group, params in self.groups.items():
            for name, value in zip(params, self._combo(group, number), strict=True):
                values[f"{group}_{name}"] = value
        return Variant(self.assignment, number, self.count, student, values)

    def of(self, student: str | int) -> Variant:
        """The variant of a learner's course id (an int picks a variant by number)."""
        if isinstance(student, int) and not isinstance(student, bool):
            return self.at(student)
        student = (student or "").strip() if isinstance(student, str) else ""
        for variable in ("JUPYTERHUB_USER", STUDENT_ENV):
            student = student or os.environ.get(variable, "").strip()
        if not student:
            raise VariantError(
                "This assignment gives each learner their own numbers, and it does not know "
                "who you are yet: STUDENT_ID is empty.",
                'In the cell above, type your course id between the quotes (STUDENT_ID = "ada"), '
                "the one your instructor uses for your submissions; run that cell, then this one. "
                "Studying on your own? Any name works: it picks your set of numbers.",
            )
        return self.at(self.number_of(student), student)


# ---- the grading side: read and pin a parameters cell without running it ----------------------
def _call(source: str) -> ast.Call | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) == "Parameters"
        ):
            return node
    return None


def parameters_cell(nb):
    """The parameters cell of a notebook (``grade_id`` :data:`GRADE_ID`), or None."""
    for cell in nb.cells:
        meta = (cell.get("metadata", {}) or {}).get("nbgrader") or {}
        if cell.get("cell_type") == "code" and meta.get("grade_id") == GRADE_ID:
            return cell
    return None


def parse(nb) -> Parameters | None:
    """The :class:`Parameters` a notebook's parameters cell declares (read, never run), or None
    for an assignment without variants."""
    cell = parameters_cell(nb)
    if cell is None:
        return None
    call = _call(cell.source)
    if call is None:
        raise VariantError(
            "The parameters cell does not call Parameters(...).",
            "Write it as the docstring of tpmlab.variants shows.",
        )
    try:
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    except ValueError as exc:
        raise VariantError(
            f"The parameters cell must use literal values only ({exc}).",
            "Write the allowed values out as lists of numbers or text.",
        ) from exc
    return Parameters(*args, **kwargs)


def variant_of(nb, student: str) -> Variant | None:
    """The variant the owner ``student`` of a submission of ``nb``'s assignment is graded on."""
    params = parse(nb)
    return None if params is None else params.of(student)


def pin(source: str, who: str | int) -> str:
    """A parameters cell's source with ``STUDENT_ID`` set to ``who`` first (what the grader runs:
    a submission's owner, or a variant number to build that variant's answer key)."""
    return f"{PIN_MARK}\nSTUDENT_ID = {who!r}\n{source}"


def _assigned(tree) -> list[tuple[str, ast.expr | None]]:
    """(name, value) of every top-level assignment of a cell (``x = ...``, ``x: T = ...``)."""
    out: list[tuple[str, ast.expr | None]] = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            out += [(t.id, node.value) for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.append((node.target.id, node.value))
    return out


def _cells_with_trees(nb):
    """(after the parameters cell?, parsed code) of every other code cell that parses."""
    params = parameters_cell(nb)
    seen = False
    for cell in nb.cells:
        if cell is params:
            seen = True
            continue
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except (SyntaxError, ValueError):
            continue
        yield seen, tree


def claimed_id(nb) -> str | None:
    """The ``STUDENT_ID`` a notebook's learner typed (the last text assigned to it before the
    parameters cell), or None."""
    claimed = None
    for after, tree in _cells_with_trees(nb):
        if after:
            break
        for name, value in _assigned(tree):
            if name == "STUDENT_ID" and isinstance(value, ast.Constant):
                claimed = value.value if isinstance(value.value, str) else None
    return claimed


def rebound(nb) -> list[str]:
    """Names of the parameters cell set again elsewhere: ``V`` or ``PARAMETERS`` in any other
    cell, ``STUDENT_ID`` after it (or before it, to anything but text)."""
    names = set()
    for after, tree in _cells_with_trees(nb):
        for name, value in _assigned(tree):
            typed = isinstance(value, ast.Constant) and isinstance(value.value, str)
            if name in ("V", "PARAMETERS") or (name == "STUDENT_ID" and (after or not typed)):
                names.add(name)
    return sorted(names)


def review_flags(nb, source_nb, owner: str) -> list[str]:
    """Review flags for a submission ``nb`` of ``owner`` whose source is ``source_nb``: a
    parameters cell deleted or edited, a ``STUDENT_ID`` that is not the owner's, or ``V``,
    ``PARAMETERS`` or ``STUDENT_ID`` set again in another cell. The grade is
    not affected (the owner's variant is graded, :func:`pin`); an instructor should look."""
    from tpmlab.grading.ipynb import same_code  # the review's comparison (grading side only)

    params = parse(source_nb)
    if params is None:
        return []
    own = params.of(owner)
    graded = f"graded on {owner}'s own {own.label()}"
    flags = []
    theirs, ours = parameters_cell(nb), parameters_cell(source_nb)
    if theirs is None:
        flags.append(f"variant: parameters cell deleted ({graded})")
    elif not same_code(theirs.source, ours.source):
        flags.append(f"variant: parameters cell edited ({graded})")
    claimed = (claimed_id(nb) or "").strip()
    if claimed and claimed.lower() != owner.strip().lower():
        flags.append(
            f"variant: STUDENT_ID says {claimed!r} ({params.of(claimed).label()}), {graded}"
        )
    again = rebound(nb)
    if again:
        flags.append(f"variant: another cell sets {', '.join(again)} ({graded})")
    return flags
