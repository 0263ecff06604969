"""Module 7's lessons 7.1, 7.2 and 7.5 (course/07-shipping-software): the helpers they call
(``tpmlab.gitdemo``...), every number their text states, and their Try-its ticking once answered.

Running the lessons (nbval with TPMLAB_STRICT_TRY_IT=1 in ``make test``) proves every cell runs
and that no Try-it passes as released; the ``slow`` tests here run each lesson with its Try-its
answered (right and wrong) and check what it printed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tpmlab import gitdemo
from tpmlab.errors import TPMLabError

LESSONS = Path(__file__).resolve().parents[1] / "course" / "07-shipping-software"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def run_lesson(name: str, answers: dict[str, str], probe: str = "None") -> tuple[str, object]:
    """Run lesson ``name`` (its file name's start, e.g. ``"01"``) with each line of ``answers``
    (an exact line of the released lesson) replaced, then ``probe`` (code whose last line is an
    expression); return everything the lesson printed and the probe's value (via JSON)."""
    import nbformat
    from nbclient import NotebookClient

    from tpmlab.checks import STRICT_TRY_IT

    path = next(LESSONS.glob(f"{name}-*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    for line, replacement in answers.items():
        cells = [c for c in nb.cells if c.cell_type == "code" and line in c.source.splitlines()]
        assert len(cells) == 1, f"{path.name}: the line {line!r} is not in exactly one cell"
        cells[0].source = cells[0].source.replace(line, replacement)
    *body, last = probe.strip().splitlines()
    probe_code = "\n".join(["import json as _json", *body, f"print('PROBE' + _json.dumps({last}))"])
    at = len(nb.cells) - 1  # before the closing cell, and before a clean-up cell ahead of it
    if nb.cells[at - 1].cell_type == "code" and re.search(
        r"\.(stop|close)\(", nb.cells[at - 1].source
    ):
        at -= 1
    nb.cells.insert(at, nbformat.v4.new_code_cell(probe_code))
    strict = os.environ.pop(STRICT_TRY_IT, None)  # answered Try-its must tick, not raise
    try:
        NotebookClient(
            nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": path.parent}}
        ).execute()
    finally:
        if strict is not None:
            os.environ[STRICT_TRY_IT] = strict
    outputs = {
        id(c): "".join(o.get("text", "") for o in c.outputs)
        for c in nb.cells
        if c.cell_type == "code"
    }
    probe_cell = nb.cells[at]
    probe_out = outputs.pop(id(probe_cell))
    return "".join(outputs.values()), json.loads(probe_out.split("PROBE", 1)[1])


# --------------------------------------------------------------------- tpmlab.gitdemo


def _two_commit_repo() -> gitdemo.DemoRepo:
    repo = gitdemo.DemoRepo()
    repo.write("tasks.py", gitdemo.FILES["tasks.py: card titles"])
    repo.write("test_tasks.py", gitdemo.FILES["test_tasks.py: card titles"])
    repo.commit("one")
    repo.write("tasks.py", gitdemo.FILES["tasks.py: assignee label"])
    repo.commit("two")
    return repo


@needs_git
def test_demo_repos_get_the_same_commit_ids_whatever_the_users_git_config(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Someone Else\n[commit]\n\tgpgsign = true\n")
    with _two_commit_repo() as a:
        ids_a = a.git("log", "--format=%H %an %ad")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Someone Else")
    with _two_commit_repo() as b:
        ids_b = b.git("log", "--format=%H %an %ad")
    assert ids_a == ids_b and "Orbit Developer" in ids_a and len(ids_a.splitlines()) == 2


@needs_git
def test_ci_runs_the_committed_tests_only():
    with _two_commit_repo() as repo:
        assert gitdemo.run_ci(repo).passed and gitdemo.run_ci(repo).tests_run == 2
        # a broken file that is not committed does not reach CI ...
        repo.write("tasks.py", gitdemo.FILES["tasks.py: (!) marker"])
        assert gitdemo.run_ci(repo).passed
        # ... and once committed it turns CI red
        repo.commit("marker")
        red = gitdemo.run_ci(repo)
        assert not red.passed and red.tests_run == 2 and "FAILED" in red.output
        assert "blocks the merge" in str(red)


@needs_git
def test_ci_without_any_test_is_not_green():
    with gitdemo.DemoRepo() as repo:
        repo.write("tasks.py", gitdemo.FILES["tasks.py: card titles"])
        repo.commit("no tests")
        result = gitdemo.run_ci(repo)
        assert result.tests_run == 0 and not result.passed


def test_missing_git_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(gitdemo.shutil, "which", lambda name: None)
    with pytest.raises(gitdemo.GitMissing) as error:
        gitdemo.DemoRepo()
    assert "apt-get install git" in str(error.value) and "brew install git" in str(error.value)


@needs_git
def test_a_failing_git_command_names_itself_and_what_to_do():
    with (
        gitdemo.DemoRepo() as repo,
        pytest.raises(TPMLabError, match="`git revert --no-edit HEAD` failed"),
    ):
        repo.git("revert", "--no-edit", "HEAD")


def test_flag_buckets_are_sticky_per_flag_and_near_the_percentage():
    users = range(1, 20_001)
    at = {p: {u for u in users if gitdemo.flag_on("f", u, p)} for p in (0, 5, 10, 25, 100)}
    assert at[0] == set() and at[100] == set(users)
    assert at[5] <= at[10] <= at[25]
    # binomial(20,000, p): 4 standard deviations either side
    for p in (5, 10, 25):
        sd = (20_000 * p / 100 * (1 - p / 100)) ** 0.5
        assert abs(len(at[p]) - 200 * p) < 4 * sd, p
    other = {u for u in users if gitdemo.flag_on("g", u, 10)}
    assert 0.05 < len(other & at[10]) / len(at[10]) < 0.15  # another flag: other users
    with pytest.raises(TPMLabError, match="between 0 and 100"):
        gitdemo.flag_on("f", 1, 120)


def test_canary_counts_requests_and_errors_per_version():
    def stable(x):
        return "ok"

    def candidate(x):
        if x is None:
            raise TypeError("no assignee")
        return "ok"

    items = [None if i % 3 == 0 else i for i in range(3_000)]
    table = gitdemo.canary(items, stable, candidate, percent=20)
    routed = [i for i in range(3_000) if gitdemo.flag_on("canary", i, 20)]
    assert table.loc["canary", "requests"] == len(routed)
    assert table.loc["stable", "requests"] == 3_000 - len(routed)
    assert table.loc["canary", "errors"] == sum(items[i] is None for i in routed)
    assert table.loc["stable", "errors"] == 0 and table.loc["stable", "error_rate"] == 0
    assert table.loc["canary", "error_rate"] == pytest.approx(
        table.loc["canary", "errors"] / len(routed)
    )


def _lesson_history(repo: gitdemo.DemoRepo) -> None:
    """deploy-1, then a squash-merged bad change tagged deploy-2 at HEAD (as in lesson 7.1)."""
    files = gitdemo.FILES
    repo.write("tasks.py", files["tasks.py: assignee label"])
    repo.write("test_tasks.py", files["test_tasks.py: assignee label"])
    repo.commit("good")
    repo.git("tag", "deploy-1")
    repo.write("tasks.py", files["tasks.py: short labels"])
    repo.write("test_tasks.py", files["test_tasks.py: short labels"])
    repo.commit("Shorter assignee labels (#2)")
    repo.git("tag", "deploy-2")


@needs_git
def test_a_rollback_must_be_a_revert_that_keeps_history():
    with gitdemo.DemoRepo() as repo:
        _lesson_history(repo)
        with pytest.raises(AssertionError, match="still differ"):
            gitdemo.check_rolled_back(repo)
        repo.git("reset", "--hard", "deploy-1")
        with pytest.raises(AssertionError, match="rewrote history"):
            gitdemo.check_rolled_back(repo)
        repo.git("reset", "--hard", "deploy-2")  # the way back the message gives
        repo.git("revert", "--no-edit", "HEAD")
        assert gitdemo.check_rolled_back(repo) is True
    with gitdemo.DemoRepo() as repo:  # same files as deploy-1, but by a new commit, not a revert
        _lesson_history(repo)
        repo.write("tasks.py", gitdemo.FILES["tasks.py: assignee label"])
        repo.write("test_tasks.py", gitdemo.FILES["test_tasks.py: assignee label"])
        repo.commit("put it back by hand")
        with pytest.raises(AssertionError, match="not a revert commit"):
            gitdemo.check_rolled_back(repo)


@needs_git
def test_load_runs_a_file_as_it_was_in_a_commit():
    with gitdemo.DemoRepo() as repo:
        _lesson_history(repo)
        old = gitdemo.load(repo, "deploy-1", "tasks.py")["assignee_label"]
        new = gitdemo.load(repo, "deploy-2", "tasks.py")["assignee_label"]
        assert old(None) == "Unassigned" and new(7) == "@u0007"
        with pytest.raises(TypeError):
            new(None)


# --------------------------------------------------------------------- lesson 7.1


def test_0701_the_canary_fails_exactly_the_unassigned_cards_it_serves(orbit_engine):
    """'The canary's errors are the cards of unassigned tasks ... only 5% of traffic went to the
    canary, only 5% of those cards failed before the halt' (within a point: the flag's buckets)."""
    cards = pd.read_sql(
        "SELECT assignee_id FROM tasks ORDER BY task_id DESC LIMIT 20000", orbit_engine
    )
    assignees = [None if pd.isna(a) else int(a) for a in cards["assignee_id"]]
    with gitdemo.DemoRepo() as repo:
        _lesson_history(repo)
        stable = gitdemo.load(repo, "deploy-1", "tasks.py")["assignee_label"]
        candidate = gitdemo.load(repo, "deploy-2", "tasks.py")["assignee_label"]
    health = gitdemo.canary(assignees, stable, candidate, percent=5)
    served = [a for i, a in enumerate(assignees) if gitdemo.flag_on("canary", i, 5)]
    assert health.loc["canary", "errors"] == sum(a is None for a in served) > 0
    assert health.loc["stable", "errors"] == 0
    failed_share = health.loc["canary", "errors"] / sum(a is None for a in assignees)
    assert 0.04 <= failed_share <= 0.06
    assert health.loc["canary", "error_rate"] > 0.01  # the halt rule fires


@pytest.mark.slow
@needs_git
def test_0701_try_its_tick_when_answered_and_a_reset_is_not_a_rollback(orbit_engine):
    deploys = pd.read_sql("SELECT service, status FROM deploys", orbit_engine)
    worst = deploys.assign(rb=deploys.status.eq("rolled_back")).groupby("service").rb.mean()
    start = "my_worst_service = ..."
    rollback = "my_rollback = ...  # repo.git(...)"
    printed, _ = run_lesson(
        "01",
        {
            start: f"my_worst_service = {worst.idxmax()!r}",
            rollback: 'my_rollback = repo.git("revert", "--no-edit", "HEAD")',
        },
    )
    assert "✅ my_worst_service: right." in printed and "✅ my_rollback: right." in printed
    second = worst.drop(worst.idxmax()).idxmax()
    printed, _ = run_lesson(
        "01",
        {
            start: f"my_worst_service = {second!r}",
            rollback: 'my_rollback = repo.git("reset", "--hard", "deploy-1")',
        },
    )
    assert "Not yet: `my_worst_service`" in printed and "Not yet: `my_rollback`" in printed
    assert "rewrote history" in printed and "✅" not in printed


# --------------------------------------------------------------------- tpmlab.acceptance


@pytest.fixture(scope="module")
def servers():
    from tpmlab.api import start_server

    good, uncapped = start_server(), start_server(max_page_size=1000)
    yield good, uncapped
    good.stop()
    uncapped.stop()


CAP_RIGHT = """
def test_limit_is_capped():
    r = requests.get(f"{URL}/v1/tasks", headers=READ, params={"limit": 500})
    assert r.status_code == 200
    assert len(r.json()["data"]) <= 100
"""
#: Plausible wrong answers to lesson 7.2's Try it, from its text alone.
CAP_WRONG = {
    "asserts nothing": """
def test_limit_is_capped():
    requests.get(f"{URL}/v1/tasks", headers=READ, params={"limit": 500})
""",
    "checks the status only": """
def test_limit_is_capped():
    r = requests.get(f"{URL}/v1/tasks", headers=READ, params={"limit": 500})
    assert r.status_code == 200
""",
    "expects exactly 500": """
def test_limit_is_capped():
    r = requests.get(f"{URL}/v1/tasks", headers=READ, params={"limit": 500})
    assert len(r.json()["data"]) == 500
""",
    "not named test_": """
def limit_is_capped():
    r = requests.get(f"{URL}/v1/tasks", headers=READ, params={"limit": 500})
    assert len(r.json()["data"]) <= 100
""",
}


def test_run_tests_reports_each_test_and_its_assertion_message(servers):
    from tpmlab import acceptance

    good, _ = servers
    source = (
        acceptance.PREAMBLE
        + """
def test_reads():
    assert requests.get(f"{URL}/v1/tasks/42", headers=READ).status_code == 200

def test_wrong():
    code = requests.get(f"{URL}/v1/tasks/999999999", headers=READ).status_code
    assert code == 200, f"got {code}"
"""
    )
    run = acceptance.run_tests(source, good)
    assert not run.passed and run.exit_code == 1 and "1 failed, 1 passed" in run.summary
    assert run.table.set_index("test")["outcome"].to_dict() == {
        "test_reads": "passed",
        "test_wrong": "failed",
    }
    assert run.table.set_index("test").loc["test_wrong", "message"].endswith("got 404")


def test_run_tests_names_a_broken_file_and_a_missing_pytest(servers, monkeypatch):
    from tpmlab import acceptance

    good, _ = servers
    with pytest.raises(TPMLabError, match="could not run the tests") as error:
        acceptance.run_tests("def test_x(:\n    pass\n", good)
    assert "syntax error" in str(error.value)
    monkeypatch.setattr(acceptance.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(acceptance.PytestMissing, match="pip install pytest"):
        acceptance.run_tests("def test_x():\n    pass\n", good)


def test_0702_try_it_accepts_the_cap_test_and_refuses_plausible_wrong_ones(servers):
    from tpmlab import acceptance

    good, uncapped = servers

    def check(body):
        return acceptance.check_catches(
            acceptance.PREAMBLE + body, good, uncapped, bad_is="returns 500 tasks on one page"
        )

    assert check(CAP_RIGHT) is True
    messages = {}
    for name, body in CAP_WRONG.items():
        with pytest.raises(AssertionError) as error:
            check(body)
        messages[name] = str(error.value)
    assert "also passes against a server that returns 500" in messages["asserts nothing"]
    assert "also passes" in messages["checks the status only"]
    assert "fails against the correct server" in messages["expects exactly 500"]
    assert "found no test" in messages["not named test_"]


# --------------------------------------------------------------------- lesson 7.2


@pytest.mark.slow
def test_0702_runs_four_passing_criteria_catches_the_misconfiguration_and_the_bad_week(
    orbit_engine,
):
    """'(above: 4 of 4)', 'Criterion 4 caught it', 'One week misses both targets: it holds the
    API's sev1 incident of 18 June'; and the Try it ticks once answered."""
    sev1 = pd.read_sql(
        "SELECT started_at FROM incidents WHERE service = 'api' AND severity = 'sev1' "
        "AND started_at >= '2025-06-16' AND started_at < '2025-06-23'",
        orbit_engine,
    )
    assert sev1["started_at"].str[:10].tolist() == ["2025-06-18"]
    start = "my_test = ...  # a string: 'def test_limit_is_capped(): ...'"
    printed, probe = run_lesson(
        "02",
        {start: f"my_test = {CAP_RIGHT!r}"},
        "[result.table.outcome.tolist(), broken.table.outcome.tolist(), "
        "[str(w.date()) for w in scorecard.index[~scorecard.meets_targets]], "
        "bool(((scorecard.share_5xx > TARGETS['max_5xx_share']) "
        "== (scorecard.p99_ms > TARGETS['max_p99_ms'])).all()), len(scorecard)]",
    )
    good, broken, failing_weeks, both_together, weeks = probe
    assert good == ["passed"] * 4
    assert broken == ["passed", "passed", "passed", "failed"]
    assert failing_weeks == ["2025-06-16"] and both_together and weeks == 4  # 16-22 June
    assert "✅ my_test: right." in printed


# --------------------------------------------------------------------- tpmlab.riskreg


def test_likelihood_levels_follow_the_scales_bounds():
    from tpmlab import riskreg

    cases = {0: 1, 0.05: 1, 0.0501: 2, 0.2: 2, 0.35: 3, 0.5: 3, 0.8: 4, 0.81: 5, 1: 5}
    assert {p: riskreg.likelihood_level(p) for p in cases} == cases
    with pytest.raises(riskreg.RegisterError, match="between 0 and 1"):
        riskreg.likelihood_level(30)


def _register(**change):
    row = {
        "risk": "r",
        "likelihood": 4,
        "impact": 5,
        "owner": "Ana",
        "mitigation": "m",
        "trigger": "t",
    }
    rows = {"R1": dict(row), "R2": {**row, "likelihood": 1, "impact": 4}, "R3": {**row, **change}}
    return pd.DataFrame.from_dict(rows, orient="index")


def test_score_register_scores_bands_and_sorts():
    from tpmlab import riskreg

    scored = riskreg.score_register(_register(likelihood=3, impact=3))
    assert scored.index.tolist() == ["R1", "R3", "R2"]
    assert scored["score"].tolist() == [20, 9, 4]
    assert scored["band"].tolist() == ["high", "medium", "low"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"likelihood": 6}, r"`likelihood` is not a whole number from 1 to 5 in row\(s\) \['R3'\]"),
        ({"impact": 0}, "`impact` is not a whole number"),
        ({"owner": "  "}, r"`owner` is empty in row\(s\) \['R3'\]"),
        ({"trigger": None}, "`trigger` is empty"),
    ],
)
def test_score_register_names_the_bad_row(change, message):
    from tpmlab import riskreg

    with pytest.raises(riskreg.RegisterError, match=message):
        riskreg.score_register(_register(**change))


def test_score_register_names_a_missing_column():
    from tpmlab import riskreg

    with pytest.raises(riskreg.RegisterError, match="no column 'trigger'"):
        riskreg.score_register(_register().drop(columns="trigger"))


def test_heatmap_writes_each_risk_in_its_likelihood_impact_cell():
    import matplotlib

    matplotlib.use("Agg")
    from tpmlab import riskreg

    ax = riskreg.heatmap(_register(likelihood=4, impact=5))
    placed = {(t.get_position(), t.get_text()) for t in ax.texts}
    assert placed == {((5, 4), "R1\nR3"), ((4, 1), "R2")}  # x = impact, y = likelihood


def test_total_cost_of_delay_by_hand_and_bad_orders():
    from tpmlab import riskreg

    items = pd.DataFrame({"cost_of_delay": {"A": 10, "B": 3}, "weeks": {"A": 2, "B": 1}})
    assert riskreg.total_cost_of_delay(items, ["A", "B"]) == 10 * 2 + 3 * 3
    assert riskreg.total_cost_of_delay(items, ["B", "A"]) == 3 * 1 + 10 * 3
    assert riskreg.cd3_order(items) == ["A", "B"]
    with pytest.raises(TPMLabError, match="exactly once"):
        riskreg.total_cost_of_delay(items, ["A", "A"])
    with pytest.raises(TPMLabError, match="not positive"):
        riskreg.total_cost_of_delay(items.assign(weeks=[0, 1]), ["A", "B"])


def test_cd3_order_is_the_cheapest_of_all_orders_smiths_rule():
    """W. E. Smith (1956): sequencing by value/duration minimises the weighted completion time.
    Checked against every permutation of 200 random instances."""
    import itertools

    import numpy as np

    from tpmlab import riskreg

    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(2, 6))
        items = pd.DataFrame(
            {"cost_of_delay": rng.integers(0, 5_000, n), "weeks": rng.integers(1, 9, n)},
            index=[f"i{k}" for k in range(n)],
        )
        best = min(
            riskreg.total_cost_of_delay(items, o) for o in itertools.permutations(items.index)
        )
        assert riskreg.total_cost_of_delay(items, riskreg.cd3_order(items)) == pytest.approx(best)


# --------------------------------------------------------------------- lesson 7.5


def test_0705_poisson_chance_and_the_first_half_of_2025(orbit_engine):
    """'the chance of at least one is 1 - exp(-rate)'; 'how often that happened in the first half
    of 2025'."""
    import math

    from scipy import stats

    for rate in (0.3, 1.0, 1.5):
        assert 1 - math.exp(-rate) == pytest.approx(stats.poisson(rate).sf(0))
    first, last = pd.read_sql(
        "SELECT MIN(deployed_at), MAX(deployed_at) FROM deploys", orbit_engine
    ).iloc[0]
    assert first.startswith("2025-01") and last.startswith("2025-06")


@pytest.mark.slow
def test_0705_cd3_is_the_best_order_and_the_try_its_tick_when_answered(orbit_db):
    keys = [
        "Slack beta shipped with a hard-coded channel list, a ticket booked to replace it after "
        "the launch",
        "billing deploys stay hand-run scripts because 'there is never time for a pipeline'",
        "a contractor put SQL queries in the page templates, not knowing the app has a data layer",
        "a year in, the team sees that boards and projects should have been separate models",
    ]
    right = ["prudent-deliberate", "reckless-deliberate", "reckless-inadvertent"]
    right.append("prudent-inadvertent")
    answers = {
        f"    {json.dumps(k)}: ...,": f"    {json.dumps(k)}: {v!r},"
        for k, v in zip(keys, right, strict=True)
    }
    printed, probe = run_lesson(
        "05",
        {**answers, "my_order = ...": "my_order = riskreg.cd3_order(items_8)"},
        "wrong = {'by value': list(items_8.sort_values('cost_of_delay', ascending=False).index), "
        "'shortest first': list(items_8.sort_values('weeks', kind='stable').index), "
        "'the old order': riskreg.cd3_order(items)}\n"
        "[riskreg.total_cost_of_delay(items, riskreg.cd3_order(items)), "
        "riskreg.total_cost_of_delay(items, best), "
        "{k: riskreg.total_cost_of_delay(items_8, v) > lowest for k, v in wrong.items()}, "
        "riskreg.cd3_order(items).index('Billing deploy pipeline') + 1, "
        "bool(riskreg.cd3_order(items) != riskreg.cd3_order(items_8))]",
    )
    cd3_total, best_total, wrong_fail, pipeline_rank, order_changed = probe
    assert cd3_total == best_total  # 'here it is the best of all of them'
    assert wrong_fail == {"by value": True, "shortest first": True, "the old order": True}
    assert pipeline_rank > 1 and order_changed  # the prose's question, and the Try it's point
    assert "✅ my_order: right." in printed
    assert "✅ my_quadrants: right." in printed
