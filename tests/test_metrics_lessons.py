"""Module 2's lessons 2.1 (metric trees) and 2.4 (dashboards): the helpers of
``tpmlab.dashboards`` on tiny hand-made tables with answers worked out by hand, the week-over-week
noise band against statsmodels and a simulation, and each lesson's Try-its ticking only once
answered (running the lessons under ``TPMLAB_STRICT_TRY_IT=1`` proves they do not tick as
released).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine
from statsmodels.stats.rates import confint_poisson_2indep

from tpmlab import dashboards
from tpmlab.errors import TPMLabError

matplotlib.use("Agg")

# --------------------------------------------------------------------- weeks


def test_week_start_is_the_monday_and_partial_weeks_at_both_ends_are_not_complete():
    # Orbit's data runs from Wednesday 1 January to Monday 30 June 2025
    days = ["2025-01-01", "2025-01-05", "2025-01-06", "2025-06-29", "2025-06-30"]
    weeks = dashboards.week_start(days)
    assert weeks.dt.strftime("%Y-%m-%d").tolist() == [
        "2024-12-30",
        "2024-12-30",
        "2025-01-06",
        "2025-06-23",
        "2025-06-30",
    ]
    complete = dashboards.complete_weeks(weeks, "2025-01-01", "2025-06-30 23:59:59")
    assert complete.tolist() == [False, False, True, True, False]


# --------------------------------------------------------------------- the noise band


@pytest.mark.parametrize("previous,current", [(3000, 3130), (680, 881), (50, 41), (12_000, 11_400)])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_wow_band_is_statsmodels_log_ratio_wald_interval_moved_to_a_ratio_of_one(
    previous, current, level
):
    low, high = dashboards.wow_band(previous, current, level)
    ref_low, ref_high = confint_poisson_2indep(
        current, 1, previous, 1, method="wald-log", compare="ratio", alpha=1 - level
    )
    ratio = current / previous
    assert (low, high) == pytest.approx((ref_low / ratio - 1, ref_high / ratio - 1), rel=1e-12)
    # around an expected change the band is the same ratio band, scaled
    low4, high4 = dashboards.wow_band(previous, current, level, expected=0.04)
    assert (low4, high4) == pytest.approx((1.04 * (1 + low) - 1, 1.04 * (1 + high) - 1))


def test_wow_band_covers_95_percent_of_changes_between_two_poisson_weeks():
    """The assumption made true by construction: 5,000 pairs of Poisson(3,000) weeks. The
    Monte-Carlo SE of a 95% coverage over 5,000 pairs is 0.0031; the tolerance is 3 SEs."""
    rng = np.random.default_rng(2)
    before, after = rng.poisson(3000, 5_000), rng.poisson(3000, 5_000)
    inside = [
        lo <= a / b - 1 <= hi
        for b, a in zip(before, after, strict=True)
        for lo, hi in [dashboards.wow_band(b, a)]
    ]
    assert np.mean(inside) == pytest.approx(0.95, abs=0.0093)


def test_wow_band_refuses_what_it_cannot_compute():
    with pytest.raises(TPMLabError, match="two positive counts"):
        dashboards.wow_band(0, 10)
    with pytest.raises(TPMLabError, match="between 0 and 1"):
        dashboards.wow_band(10, 10, level=95)
    with pytest.raises(TPMLabError, match="above -1"):
        dashboards.wow_band(10, 10, expected=-1)


def test_wow_table_flags_the_weeks_outside_the_band_around_no_change_and_around_the_trend():
    weeks = pd.date_range("2025-03-03", periods=7, freq="7D")
    # steady +5% growth, then a flat week (week 6), then growth again
    counts = pd.Series([1000, 1050, 1102, 1157, 1215, 1215, 1276], index=weeks)
    flat = dashboards.wow_table(counts)
    assert flat.index.tolist() == weeks[1:].tolist()
    assert flat["change"].tolist() == pytest.approx((counts / counts.shift(1) - 1).iloc[1:])
    bands = [dashboards.wow_band(b, a) for b, a in zip(counts[:-1], counts[1:], strict=True)]
    assert flat["low"].tolist() == pytest.approx([lo for lo, _ in bands])
    # +5% is inside the band around 0 at about 1,000 a week (the band is about +-9%)
    assert not flat["outside"].any()
    trend = dashboards.wow_table(counts, trend_weeks=3)
    assert trend["expected"].isna().tolist() == [True, True, True, False, False, False]
    assert trend.loc[weeks[4], "expected"] == pytest.approx(np.median(flat["change"][:3]))
    assert trend["low"].isna().sum() == 3 and not trend["outside"][:3].any()
    with pytest.raises(TPMLabError, match="trend_weeks"):
        dashboards.wow_table(counts, trend_weeks=-1)


def test_a_flat_week_falls_outside_the_band_around_the_trend_on_large_counts():
    weeks = pd.date_range("2025-03-03", periods=6, freq="7D")
    counts = pd.Series([100_000, 105_000, 110_250, 115_762, 121_550, 121_550], index=weeks)
    table = dashboards.wow_table(counts, trend_weeks=3)
    assert table["outside"].tolist() == [False, False, False, False, True]


# --------------------------------------------------------------------- the metric tree


def _tiny_orbit(tmp_path):
    """Two workspaces over the weeks of 2 and 9 June 2025 (and a Sunday before them).

    Workspace 1: users 1 and 2; workspace 2: user 3; workspace 3: user 4 (active only on 1 June,
    the Sunday before the first week). Week of 2 June: user 1 on Mon and Tue, user 2 on Mon,
    user 3 on Wed; tasks completed: two in workspace 1 (after 10 h and 30 h), none in 2.
    Week of 9 June: user 3 on Mon; tasks completed: one in workspace 2 (after 4 h) and one in
    workspace 1 (after 48 h), whose members logged no event that week."""
    eng = create_engine(f"sqlite:///{tmp_path / 'tiny.sqlite'}")
    with eng.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE users (user_id INTEGER, platform TEXT, workspace_id INTEGER)"
        )
        conn.exec_driver_sql("CREATE TABLE events (user_id INTEGER, event_date TEXT)")
        conn.exec_driver_sql("CREATE TABLE projects (project_id INTEGER, workspace_id INTEGER)")
        conn.exec_driver_sql(
            "CREATE TABLE tasks (project_id INTEGER, created_at TEXT, completed_at TEXT)"
        )
        conn.exec_driver_sql("CREATE TABLE dataset_info (key TEXT, value TEXT)")
        conn.exec_driver_sql(
            "INSERT INTO users VALUES (1, 'web', 1), (2, 'ios', 1), (3, 'web', 2), (4, 'web', 3)"
        )
        conn.exec_driver_sql(
            "INSERT INTO events VALUES (1, '2025-06-02'), (1, '2025-06-02'), (1, '2025-06-03'), "
            "(2, '2025-06-02'), (3, '2025-06-04'), (3, '2025-06-09'), (4, '2025-06-01')"
        )
        conn.exec_driver_sql("INSERT INTO projects VALUES (10, 1), (20, 2)")
        conn.exec_driver_sql(
            "INSERT INTO tasks VALUES "
            "(10, '2025-06-02 08:00:00', '2025-06-02 18:00:00'), "
            "(10, '2025-06-02 09:00:00', '2025-06-03 15:00:00'), "
            "(20, '2025-06-09 10:00:00', '2025-06-09 14:00:00'), "
            "(20, '2025-06-01 10:00:00', NULL), "
            "(10, '2025-06-08 10:00:00', '2025-06-10 10:00:00'), "
            "(20, '2025-05-01 10:00:00', '2025-06-01 23:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO dataset_info VALUES ('start', '2025-06-01 00:00:00'), "
            "('end', '2025-06-12 23:59:59')"
        )
    return eng


def test_metric_tree_on_a_tiny_table_counts_teams_users_days_and_hours(tmp_path):
    eng = _tiny_orbit(tmp_path)
    tree = dashboards.metric_tree(eng, ["2025-06-09", "2025-06-02"]).set_index("week")
    first, second = tree.loc["2025-06-02"], tree.loc["2025-06-09"]
    assert first["teams_completing"] == 1 and first["active_teams"] == 2
    assert first["completing_share"] == 0.5
    assert first["tasks_per_active_user"] == pytest.approx(2 / 3)
    assert first["active_days_per_user"] == pytest.approx(4 / 3)  # four user-days, three users
    assert first["median_hours_to_complete"] == pytest.approx(20.0)
    # workspace 1 completed a task without a logged event: still an active team (share <= 1)
    assert second[["teams_completing", "active_teams", "completing_share"]].tolist() == [2, 2, 1]
    assert second["tasks_per_active_user"] == 2 and second["median_hours_to_complete"] == 26
    assert tree.index.tolist() == [pd.Timestamp("2025-06-02"), pd.Timestamp("2025-06-09")]
    # the north star is breadth times the completing share, exactly
    assert (tree.teams_completing == tree.active_teams * tree.completing_share).all()
    assert dashboards.data_range(eng) == (pd.Timestamp("2025-06-01"), pd.Timestamp("2025-06-12"))
    with pytest.raises(TPMLabError, match="Mondays"):
        dashboards.metric_tree(eng, ["2025-06-03"])


def test_user_days_are_distinct_and_carry_platform_and_workspace(tmp_path):
    eng = _tiny_orbit(tmp_path)
    days = dashboards.user_days(eng, since="2025-06-02", until="2025-06-09")
    assert len(days) == 4  # user 1's two events on 2 June are one user-day
    assert days.groupby("platform")["user_id"].nunique().to_dict() == {"ios": 1, "web": 2}
    assert set(days["week"]) == {pd.Timestamp("2025-06-02")}


# --------------------------------------------------------------------- drawing


def _tree():
    a, b = dashboards.Node("A"), dashboards.Node("B", "1.0")
    c = dashboards.Node("C", children=[dashboards.Node("C1"), dashboards.Node("C2")])
    return dashboards.Node("Root", "42", [a, b, c], kind="north star"), a, b, c


def test_layout_spreads_leaves_and_centres_each_parent_over_its_children():
    root, a, b, c = _tree()
    pos = dashboards.layout(root)
    c1, c2 = c.children
    assert [pos[id(n)] for n in (a, b, c1, c2)] == [(0, -1), (1, -1), (2, -2), (3, -2)]
    assert pos[id(c)] == (2.5, -1)
    assert pos[id(root)] == (1.25, 0)  # centred between its first (0) and last (2.5) child


def test_draw_tree_draws_one_box_per_node_and_one_arrow_per_edge():
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    root, *_ = _tree()
    fig, ax = plt.subplots()
    dashboards.draw_tree(ax, root)
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    arrows = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(boxes) == 6 and len(arrows) == 5
    fig.canvas.draw()  # the mathtext labels render
    with pytest.raises(TPMLabError, match="kind"):
        dashboards.draw_tree(ax, dashboards.Node("x", kind="driver"))
    plt.close(fig)


def test_annotate_draws_a_line_per_event_and_refuses_missing_labels():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(pd.date_range("2025-06-01", periods=10), range(10))
    assert dashboards.annotate(ax, ["2025-06-03", "2025-06-05 12:00"], ["deploy", "incident"]) == 2
    assert len(ax.lines) == 3
    with pytest.raises(TPMLabError, match="one label per time"):
        dashboards.annotate(ax, ["2025-06-03"], [])
    plt.close(fig)


# --------------------------------------------------------------------- running the lessons

LESSONS = Path(__file__).resolve().parents[1] / "course" / "02-metrics"


def _self_check(nb, name: str) -> str:
    """The source of the self-check cell of the Try it whose answer is ``name``."""
    found = [
        c.source
        for c in nb.cells
        if c.cell_type == "code" and "try_it(" in c.source and f'"{name}"' in c.source
    ]
    assert len(found) == 1, f"no single self-check for {name}"
    return found[0]


def run_lesson(name: str, answers: dict[str, str], wrong: dict[str, list[str]], probe: str):
    """Run lesson ``name`` with each Try-it start line in ``answers`` (the exact line of the
    released lesson) replaced by its answer; then, for each Try it in ``wrong``, set its answer
    variable to each wrong value and run its self-check again; then ``probe`` (code whose last
    line is an expression). Returns what the lesson printed, what each wrong answer's self-check
    printed, and the probe's value (via JSON)."""
    import nbformat
    from nbclient import NotebookClient

    from tpmlab.checks import STRICT_TRY_IT

    path = next(LESSONS.glob(f"{name}-*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    for line, replacement in answers.items():
        cells = [c for c in nb.cells if c.cell_type == "code" and line in c.source.splitlines()]
        assert len(cells) == 1, f"{path.name}: the line {line!r} is not in exactly one cell"
        cells[0].source = cells[0].source.replace(line, replacement)
    lesson_cells = len(nb.cells)
    tried = []
    for variable, values in wrong.items():
        check = _self_check(nb, variable)
        for value in values:
            nb.cells.append(nbformat.v4.new_code_cell(f"{variable} = {value}\n{check}"))
            tried.append((variable, value))
    *body, last = probe.strip().splitlines()
    probe_code = "\n".join(["import json as _json", *body, f"print('PROBE' + _json.dumps({last}))"])
    nb.cells.append(nbformat.v4.new_code_cell(probe_code))
    strict = os.environ.pop(STRICT_TRY_IT, None)  # answered Try-its must tick, not raise
    try:
        NotebookClient(
            nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": path.parent}}
        ).execute()
    finally:
        if strict is not None:
            os.environ[STRICT_TRY_IT] = strict

    def text(cell):
        return "".join(o.get("text", "") for o in cell.outputs)

    printed = "".join(text(c) for c in nb.cells[:lesson_cells] if c.cell_type == "code")
    wrong_out = {t: text(c) for t, c in zip(tried, nb.cells[lesson_cells:-1], strict=True)}
    return printed, wrong_out, json.loads(text(nb.cells[-1]).split("PROBE", 1)[1])


RIGHT_SQL = (
    '"SELECT COUNT(DISTINCT p.workspace_id) FROM tasks AS t JOIN projects AS p '
    'ON p.project_id = t.project_id WHERE t.completed_at >= :start AND t.completed_at < :stop"'
)


@pytest.mark.slow
def test_lesson_2_1_try_its_tick_only_when_right_and_its_tree_is_the_datas(orbit_engine):
    right_places = (
        '{"workspaces with a task completed this week": "north star", '
        '"median page load time on web": "guardrail", '
        '"share of new teams inviting a second member in week 1": "input", '
        '"registered users since launch": "vanity", "failed card payments": "guardrail"}'
    )
    printed, wrong, (north, last_week, gap) = run_lesson(
        "01",
        {
            'my_sql = ...  # "SELECT COUNT(DISTINCT ...) FROM tasks AS t JOIN projects AS p '
            'ON ... WHERE ..."': f"my_sql = {RIGHT_SQL}",
            "my_places = {": f"my_places = {right_places}\n_unused = {{",
        },
        {
            "my_sql": [
                RIGHT_SQL.replace("COUNT(DISTINCT p.workspace_id)", "COUNT(*)"),  # tasks
                RIGHT_SQL.replace("p.workspace_id", "t.project_id"),  # projects, not teams
                RIGHT_SQL.replace("t.completed_at", "t.created_at"),  # created, not completed
                RIGHT_SQL.replace("< :stop", "< DATE(:stop, '-1 day')"),  # the Sunday lost
            ],
            "my_places": [
                right_places.replace('"median page load time on web": "guardrail"', '"m": "input"'),
                right_places.replace('"vanity"', '"north star"'),
            ],
        },
        "[float(june.teams_completing), str(last_week.date()), float(gap)]",
    )
    assert "✅ my_sql: right." in printed and "✅ my_places: right." in printed, printed
    for (variable, value), out in wrong.items():
        assert out.startswith("Not yet") and "✅" not in out, (variable, value, out)
    # the lesson's June north star is the mean over June's complete weeks, counted here
    assert last_week == "2025-06-23" and gap == 0
    done = pd.read_sql(
        "SELECT p.workspace_id, t.completed_at FROM tasks AS t JOIN projects AS p "
        "ON p.project_id = t.project_id WHERE t.completed_at >= '2025-06-02' "
        "AND t.completed_at < '2025-06-30'",
        orbit_engine,
    )
    done["week"] = dashboards.week_start(pd.to_datetime(done.completed_at).dt.normalize())
    assert north == pytest.approx(done.groupby("week").workspace_id.nunique().mean())


@pytest.mark.slow
def test_lesson_2_4_try_its_tick_only_when_right_and_its_charts_show_the_data(orbit_engine):
    printed, wrong, probe = run_lesson(
        "04",
        {
            "my_wow = ...  # this week / the week before - 1, for the last two COMPLETE weeks "
            "of weekly_all": "_w = weekly_all[complete(weekly_all.index)]\n"
            "my_wow = _w.iloc[-1] / _w.iloc[-2] - 1",
            "my_n = ...  # n = z**2 * p * (1 - p) / h**2, rounded up": "my_n = math.ceil("
            "stats.norm.ppf(0.975) ** 2 * 0.25 * 0.75 / 0.04**2)\n_right_n = my_n",
        },
        {
            "my_wow": [
                "weekly_all.iloc[-1] / weekly_all.iloc[-2] - 1",  # the partial week
                "(_w.iloc[-1] / _w.iloc[-2] - 1) * 100",  # in percent
                "_w.iloc[-1] - _w.iloc[-2]",  # a difference of users
                "_w.iloc[-2] / _w.iloc[-1] - 1",  # upside down
            ],
            "my_n": ["round(1.96**2 * 0.25 * 0.75 / 0.04**2)", "math.ceil(1.96**2 / 4 / 0.04**2)"],
        },
        """_top = axes[0].get_ylim()[1]
[float(_top), float(per_platform.max().max()), len(per_platform), float(_right_n), float(naive), int(in_data)]""",
    )
    assert "✅ my_wow: right." in printed and "✅ my_n: right." in printed, printed
    for (variable, value), out in wrong.items():
        assert out.startswith("Not yet") and "✅" not in out, (variable, value, out)
    top, largest, weeks, n, naive, in_data = probe
    # small multiples share one y-axis that shows every platform's largest week
    assert top >= largest
    assert weeks == 25  # 6 Jan to 23 June: the partial first and last weeks are left out
    assert n == 451  # 1.959964**2 * 0.1875 / 0.0016 = 450.17, rounded up
    assert in_data == 1 and naive < -0.5  # the data's last week is one Monday


def test_data_range_says_what_to_do_when_the_database_does_not_know_its_days(tmp_path):
    eng = _tiny_orbit(tmp_path)
    with eng.begin() as conn:
        conn.exec_driver_sql("DELETE FROM dataset_info WHERE key = 'start'")
    with pytest.raises(TPMLabError, match="make data"):
        dashboards.data_range(eng)
