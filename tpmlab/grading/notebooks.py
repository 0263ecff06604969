"""Run assignment notebooks outside the gradebook: release, substitute answers, execute, score.

This is what the test suite uses to prove that an assignment is sound: the solution passes every
test cell, the released version fails every one, and each plausible wrong answer fails the
question it targets. Scoring is the grader's: the hidden tests' recorded answers are judged
against the source notebook's answer key (:mod:`tpmlab.grading.keys`) by
:mod:`tpmlab.grading.judge`, then nbgrader's rule for autograded test cells applies: full points
when the cell shows no error, zero otherwise. Reading, executing and nbgrader's cell metadata are
:mod:`tpmlab.grading.ipynb`'s (``read``, ``execute``, ``grade_cells``, ``autograded_test_ids``,
used here, are the same functions).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions
from traitlets.config import Config

from tpmlab.grading.ipynb import (
    CODE_STUB,
    TEXT_STUB,
    autograded_test_ids,
    execute,
    grade_cells,
    read,
)
from tpmlab.grading.judge import judged_copy
from tpmlab.grading.keys import load_key, pinned
from tpmlab.variants import parameters_cell


@dataclass(frozen=True)
class CellResult:
    """The outcome of one graded test cell."""

    grade_id: str
    points: float
    max_points: float
    error: str | None  # "ExceptionName: message" of the first error, or None when it passed

    @property
    def passed(self) -> bool:
        return self.error is None


def release(nb):
    """The student version of a source notebook, as ``nbgrader generate_assignment`` makes it:
    solutions replaced by stubs, hidden tests removed, outputs cleared."""
    config = Config()
    config.ClearSolutions.code_stub = {"python": CODE_STUB}
    config.ClearSolutions.text_stub = TEXT_STUB
    nb = copy.deepcopy(nb)
    resources = {"language": "python"}
    for pre in (ClearOutput, ClearSolutions, ClearHiddenTests):
        nb, resources = pre(config=config).preprocess(nb, resources)
    return nb


def substitute(nb, answers: dict[str, str]):
    """A copy of ``nb`` in which the answer cells named in ``answers`` get new source code."""
    nb = copy.deepcopy(nb)
    cells = grade_cells(nb)
    unknown = set(answers) - set(cells)
    if unknown:
        raise KeyError(f"no cell with grade_id {sorted(unknown)}; known: {sorted(cells)}")
    for gid, source in answers.items():
        cells[gid]["cell"].source = source
    return nb


def results(executed_nb, key: dict | None = None) -> dict[str, CellResult]:
    """Per-test-cell results of an executed notebook (nbgrader's all-or-nothing rule), after
    judging its recorded answers with ``key`` when one is given."""
    if key is not None:
        executed_nb = judged_copy(executed_nb, key)
    out = {}
    for gid in autograded_test_ids(executed_nb):
        meta = grade_cells(executed_nb)[gid]
        error = None
        for output in meta["cell"].get("outputs", []):
            if output.get("output_type") == "error":
                error = f"{output.get('ename')}: {output.get('evalue')}"
                break
        max_points = float(meta.get("points", 0))
        out[gid] = CellResult(gid, 0.0 if error else max_points, max_points, error)
    return out


def run(
    path: str | Path,
    answers: dict[str, str] | None = None,
    *,
    released: bool = False,
    timeout: int = 120,
    variant: int | None = None,
) -> dict[str, CellResult]:
    """Execute the source notebook at ``path`` (or its released version) with optional
    substituted answers, in the notebook's own folder, and return per-test-cell results judged
    with the source's answer key. On an assignment with per-learner variants
    (:mod:`tpmlab.variants`) the notebook runs as ``variant`` (0 when not given) and is judged
    with that variant's key, as the grader does for a learner of that variant."""
    path = Path(path)
    key = load_key(path, variant=variant)
    nb = read(path)
    if released:
        nb = release(nb)
    if answers:
        nb = substitute(nb, answers)
    if parameters_cell(nb) is not None:
        nb = pinned(nb, variant)
    return results(execute(nb, cwd=path.parent, timeout=timeout), key)
