"""tpmlab.metrics: definitions compiled to SQL on tiny hand-made tables (SQLite and DuckDB), the
mix/rate decomposition on tables with known answers, week over week with its noise band."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from tpmlab.errors import TPMLabError
from tpmlab.metrics import Measure, Metric, compute, mix_rate, to_sql, week_over_week
from tpmlab.metrics import definitions as d

# two users on ios, one on web; 2025-03-02 is a Sunday, 2025-03-03 a Monday
EVENTS = pd.DataFrame(
    [
        (1, "2025-03-02 10:00:00", "ios", "task_completed"),
        (1, "2025-03-03 09:00:00", "ios", "task_completed"),
        (1, "2025-03-03 09:05:00", "ios", "task_completed"),
        (2, "2025-03-03 11:00:00", "ios", "comment_added"),
        (3, "2025-03-03 12:00:00", "web", "task_completed"),
        (3, "2025-03-04 12:00:00", "web", "comment_added"),
        (2, "2025-03-10 08:00:00", "ios", "task_completed"),
    ],
    columns=["user_id", "event_time", "platform", "event_name"],
)


@pytest.fixture(params=["sqlite", "duckdb"])
def tiny(request):
    if request.param == "sqlite":
        eng = sa.create_engine("sqlite://")
        EVENTS.to_sql("events", eng, index=False)
    else:
        pytest.importorskip("duckdb_engine")
        eng = sa.create_engine("duckdb:///:memory:")
        EVENTS.assign(event_time=pd.to_datetime(EVENTS.event_time)).to_sql(
            "events", eng, index=False
        )
    yield eng
    eng.dispose()


def test_count_and_ratio_per_day_and_week(tiny):
    c = compute(d.TASK_COMPLETIONS, tiny, start="2025-03-02", end="2025-03-10")
    assert c[["bucket", "value"]].values.tolist() == [
        ["2025-03-02", 1],
        ["2025-03-03", 3],
        ["2025-03-10", 1],
    ]
    w = compute(
        d.COMPLETIONS_PER_ACTIVE_USER, tiny, start="2025-03-03", end="2025-03-09", grain="week"
    )
    # week of 3 March: 3 completions by 3 distinct active users (1, 2, 3)
    assert w[["bucket", "numerator", "denominator", "value", "days"]].values.tolist() == [
        ["2025-03-03", 3, 3, 1.0, 7]
    ]
    r = compute(
        d.COMPLETION_RATE, tiny, start="2025-03-03", end="2025-03-09", grain="all", by="platform"
    )
    # ios: user 1 completed, user 2 only commented -> 1/2; web: 1/1
    assert r[["segment", "numerator", "denominator", "value"]].values.tolist() == [
        ["ios", 1, 2, 0.5],
        ["web", 1, 1, 1.0],
    ]


def test_ratio_of_totals_not_average_of_daily_ratios(tiny):
    per_day = compute(d.COMPLETIONS_PER_ACTIVE_USER, tiny, start="2025-03-02", end="2025-03-04")
    whole = compute(
        d.COMPLETIONS_PER_ACTIVE_USER, tiny, start="2025-03-02", end="2025-03-04", grain="all"
    )
    # 4 completions over 3 distinct users (1, 2, 3); the daily ratios are 1, 1, 0
    assert whole["value"].item() == pytest.approx(4 / 3)
    assert per_day["value"].tolist() == [1.0, 1.0, 0.0]
    assert per_day["value"].mean() != pytest.approx(whole["value"].item())


def test_partial_weeks_are_marked(tiny):
    w = compute(d.TASK_COMPLETIONS, tiny, start="2025-03-02", end="2025-03-10", grain="week")
    assert w[["bucket", "value", "days"]].values.tolist() == [
        ["2025-02-24", 1, 1],
        ["2025-03-03", 3, 7],
        ["2025-03-10", 1, 1],
    ]


def test_sql_is_one_definition_per_dialect(tiny):
    sql = to_sql(d.COMPLETION_RATE, tiny, start="2025-03-01", end="2025-03-31", grain="week")
    assert len(sql) == 2 and "count(DISTINCT" in sql[0] and "event_name" in sql[0]
    assert "event_name" not in sql[1]


def test_bad_inputs_say_what_to_do(tiny):
    with pytest.raises(TPMLabError, match="grain"):
        compute(d.TASK_COMPLETIONS, tiny, start="2025-03-01", end="2025-03-02", grain="month")
    with pytest.raises(TPMLabError, match="Swap"):
        compute(d.TASK_COMPLETIONS, tiny, start="2025-03-05", end="2025-03-02")
    with pytest.raises(TPMLabError, match="Metric"):
        compute("task_completions", tiny, start="2025-03-01", end="2025-03-02")


def test_custom_metric_with_a_list_filter(tiny):
    m = Metric(
        "any_activity",
        "events that are a completion or a comment",
        Measure("events", "event_time", where={"event_name": ["task_completed", "comment_added"]}),
    )
    assert compute(m, tiny, start="2025-03-01", end="2025-03-31", grain="all")["value"].item() == 7


def _seg(rows):
    return pd.DataFrame(rows, columns=["segment", "numerator", "denominator"])


BEFORE = _seg([("A", 50, 100), ("B", 20, 100)])  # R0 = 0.35


@pytest.mark.parametrize(
    "after, mix, rate",
    [
        # pure mix: rates stay 0.5 and 0.2, A's share falls from 1/2 to 1/4
        (_seg([("A", 25, 50), ("B", 30, 150)]), {"A": -0.125, "B": 0.05}, {"A": 0, "B": 0}),
        # pure rate: shares stay, A's rate falls to 0.4
        (_seg([("A", 40, 100), ("B", 20, 100)]), {"A": 0, "B": 0}, {"A": -0.05, "B": 0}),
        # both: hand-computed with the symmetric (Kitagawa) weights
        (
            _seg([("A", 30, 50), ("B", 45, 150)]),
            {"A": -0.25 * 0.55, "B": 0.25 * 0.25},
            {"A": 0.1 * 0.375, "B": 0.1 * 0.625},
        ),
    ],
)
def test_mix_rate_known_answers(after, mix, rate):
    out = mix_rate(BEFORE, after).set_index("segment")
    for s in ("A", "B"):
        assert out.loc[s, "mix"] == pytest.approx(mix[s], abs=1e-12)
        assert out.loc[s, "rate"] == pytest.approx(rate[s], abs=1e-12)
    r1 = after.numerator.sum() / after.denominator.sum()
    t = out.loc["TOTAL"]
    assert t["r0"] == pytest.approx(0.35) and t["r1"] == pytest.approx(r1)
    assert t["mix"] + t["rate"] == pytest.approx(r1 - 0.35, abs=1e-12)  # exact identity
    assert t["total"] == pytest.approx(r1 - 0.35, abs=1e-12)


def test_mix_rate_is_order_free_and_refuses_bad_tables():
    after = _seg([("B", 45, 150), ("A", 30, 50)])
    out = mix_rate(BEFORE, after).set_index("segment")
    assert out.loc["A", "mix"] == pytest.approx(-0.1375)
    with pytest.raises(TPMLabError, match="same segments"):
        mix_rate(BEFORE, _seg([("A", 1, 2), ("C", 1, 2)]))
    with pytest.raises(TPMLabError, match="zero denominator"):
        mix_rate(BEFORE, _seg([("A", 0, 0), ("B", 1, 2)]))
    with pytest.raises(TPMLabError, match="no column"):
        mix_rate(BEFORE.drop(columns="numerator"), after)


def _weekly(values, days=None):
    b = pd.date_range("2025-03-03", periods=len(values), freq="7D").strftime("%Y-%m-%d")
    return pd.DataFrame({"bucket": b, "value": values, "days": days or [7] * len(values)})


def test_week_over_week_band_from_earlier_changes():
    values = [100, 102, 100, 102, 100, 102, 100, 102, 100, 80]
    out = week_over_week(_weekly(values), band_weeks=8)
    changes = pd.Series(values).pct_change()
    assert out["change"].iloc[-1] == pytest.approx(-0.2)
    past = changes.iloc[1:9]
    assert out["band_low"].iloc[-1] == pytest.approx(past.mean() - 2 * past.std(ddof=1))
    assert out["band_high"].iloc[-1] == pytest.approx(past.mean() + 2 * past.std(ddof=1))
    assert bool(out["outside"].iloc[-1]) and not out["outside"].iloc[:-1].any()
    assert out["band_low"].iloc[:9].isna().all()  # not enough history yet


def test_week_over_week_refuses_partial_weeks():
    with pytest.raises(TPMLabError, match="partial"):
        week_over_week(_weekly([100, 100, 40], days=[7, 7, 3]))


def test_orbit_metrics_agree_outside_the_planted_windows(orbit_db, orbit_manifest):
    from tpmlab.data import sqlite_engine

    eng = sqlite_engine(orbit_db, read_only=True)
    a = compute(d.TASK_COMPLETIONS, eng, start="2025-01-06", end="2025-02-23", grain="week")
    b = compute(d.TASKS_DONE, eng, start="2025-01-06", end="2025-02-23", grain="week")
    assert a["value"].tolist() == b["value"].tolist()  # events and tasks reconcile
    eng.dispose()
