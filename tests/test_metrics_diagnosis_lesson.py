"""Lessons 2.2 (metric definitions as code) and 2.3 (diagnosing a metric drop): their Try its
tick once answered (and not before), and what 2.3's prose says about the planted drop and decoy is
what the manifest planted (the lessons type no number about Orbit)."""

from __future__ import annotations

import json
import os

import nbformat
import pytest

from tpmlab.checks import STRICT_TRY_IT
from tpmlab.paths import REPO_ROOT

LESSON = REPO_ROOT / "course" / "02-metrics" / "03-diagnosing-a-metric-drop.ipynb"
PLACEHOLDER = "my_decoy_platform = ...  # the platform whose app stopped logging task_completed"


def _run(answer: str | None):
    from nbclient import NotebookClient

    nb = nbformat.read(LESSON, as_version=4)
    if answer is not None:
        cells = [c for c in nb.cells if c.cell_type == "code" and PLACEHOLDER in c.source]
        assert len(cells) == 1
        cells[0].source = cells[0].source.replace(PLACEHOLDER, f"my_decoy_platform = {answer!r}")
    probe = (
        "import json as _j\nprint('PROBE' + _j.dumps({'first': first, 'last': last, "
        "'decoy': per_day['ratio'].idxmin(), 'drop': drop_platform, "
        "'release': int(release.deploy_id), 'rate_total': float(mix_rate(tables[0], "
        "tables[1]).iloc[-1]['rate'])}))"
    )
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    strict = os.environ.pop(STRICT_TRY_IT, None)
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    finally:
        if strict is not None:
            os.environ[STRICT_TRY_IT] = strict
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    probe_line = next(x for x in text.splitlines() if x.startswith("PROBE"))
    return text, json.loads(probe_line[5:])


@pytest.mark.slow
def test_lesson_finds_the_planted_truth_and_its_try_it_ticks_when_right(orbit_manifest):
    drop, decoy = orbit_manifest["metric_drop"], orbit_manifest["metric_decoy"]
    text, got = _run(decoy["segment"]["platform"])
    assert "✅ my_decoy_platform" in text, text
    assert (got["first"], got["last"]) == (decoy["start_date"], decoy["end_date"])
    assert got["decoy"] == decoy["segment"]["platform"]
    assert got["drop"] == drop["segment"]["platform"]
    assert got["release"] == drop["release_deploy_id"]
    assert got["rate_total"] < 0  # "the change is in one platform's rate"
    wrong, _ = _run("web")
    assert "✅ my_decoy_platform" not in wrong and "Not yet" in wrong, wrong


DEFS = REPO_ROOT / "course" / "02-metrics" / "02-metric-definitions-as-code.ipynb"
DEFS_PLACEHOLDER = "my_metric = ...  # a Metric(name, description, numerator=..., denominator=...)"
RIGHT = (
    'my_metric = Metric("tasks_per_active_user", "task_created events per active user", '
    "numerator=Measure('events', 'event_time', where={'event_name': 'task_created'}), "
    "denominator=Measure('events', 'event_time', distinct='user_id'))"
)


def _run_defs(line: str) -> str:
    from nbclient import NotebookClient

    nb = nbformat.read(DEFS, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and DEFS_PLACEHOLDER in c.source]
    assert len(cells) == 1
    cells[0].source = cells[0].source.replace(DEFS_PLACEHOLDER, line)
    strict = os.environ.pop(STRICT_TRY_IT, None)
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    finally:
        if strict is not None:
            os.environ[STRICT_TRY_IT] = strict
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


@pytest.mark.slow
def test_definitions_lesson_try_it_ticks_for_a_right_metric_only():
    assert "✅ my_metric" in _run_defs(RIGHT)
    # counting distinct task creators instead of events: 2 users over 3, not 3 events over 3
    wrong = RIGHT.replace("'task_created'})", "'task_created'}, distinct='user_id')")
    assert "Not yet" in _run_defs(wrong)
