"""Lessons 6.1 and 6.4 (course/06-data-pipelines): tpmlab.eventtime, every fact their text states
about Orbit's raw layer, checked by an independent count in pandas, and their Try-its, which
must tick for the right answer and not for plausible wrong ones.

Running the lessons with nbval (TPMLAB_STRICT_TRY_IT=1 in ``make test``) proves that every cell
runs and that no Try-it passes as released; this file checks what running cannot see.
"""

from __future__ import annotations

import json
import os

import nbformat
import pandas as pd
import pytest

from tpmlab import eventtime
from tpmlab.checks import STRICT_TRY_IT
from tpmlab.errors import TPMLabError
from tpmlab.paths import REPO_ROOT

LESSONS = REPO_ROOT / "course" / "06-data-pipelines"
L61 = LESSONS / "01-how-an-event-reaches-the-warehouse.ipynb"
L64 = LESSONS / "04-dedup-and-late-data-in-sql.ipynb"
HOUR = 3600.0


# ---------------------------------------------------------------- tpmlab.eventtime


def test_watermark_drops_counts_rows_strictly_later_than_the_watermark():
    lags = pd.DataFrame(
        {"platform": ["web", "web", "ios", "ios", "android"], "lag_h": [0.5, 1.0, 1.5, 49, 0.1]}
    )
    drops = eventtime.watermark_drops(lags, [1, 48, 0])
    assert drops.loc[1].to_dict() == {"android": 0, "ios": 2, "web": 0, "all": 2, "share": 0.4}
    assert drops.loc[48, "all"] == 1 and drops.loc[48, "ios"] == 1
    assert drops.loc[0, "all"] == 5
    with pytest.raises(TPMLabError, match="non-negative numbers of hours"):
        eventtime.watermark_drops(lags, [-1])
    with pytest.raises(TPMLabError, match="columns `platform` and `lag_h`"):
        eventtime.watermark_drops(lags.rename(columns={"lag_h": "lag"}), [1])


def test_plot_late_share_draws_each_platform_until_no_row_is_later():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lags = pd.DataFrame(
        {"platform": ["web"] * 4 + ["ios"] * 4, "lag_h": [0.01] * 3 + [2, 1, 60, 90, 100]}
    )
    fig, ax = plt.subplots()
    eventtime.plot_late_share(lags, {"48 hours": 48}, ax)
    lines = {
        line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")
    }
    assert set(lines) == {"web", "ios"}
    web_x, web_y = lines["web"].get_data()
    assert web_x.max() < 2 and abs(web_y[0] - 1) < 1e-9 and web_y.min() == pytest.approx(0.25)
    ios_x, ios_y = lines["ios"].get_data()
    assert ios_x.max() < 100 and ios_y[ios_x > 60].max() == pytest.approx(0.5)
    plt.close(fig)


@pytest.fixture(scope="module")
def lags(orbit_engine) -> pd.DataFrame:
    return eventtime.event_lags(orbit_engine)


@pytest.fixture(scope="module")
def june(orbit_engine) -> pd.DataFrame:
    sql = "SELECT * FROM events WHERE event_time >= '2025-06-01'"
    return pd.read_sql(sql, orbit_engine)


def test_event_lags_read_every_clients_time_format_and_offset(raw, lags, orbit_manifest):
    """The SQL lag agrees with pandas' parse of all three formats; a lag that dropped the iOS
    offset would be hours off and count another number of late events than the manifest."""
    assert len(lags) == len(raw)
    assert (lags["lag_h"] * HOUR - raw["lag_s"]).abs().max() < 0.01
    late = orbit_manifest["raw_problems"]["late_events"]["count"]
    assert eventtime.watermark_drops(lags, [48]).loc[48, "all"] == late
    naive = pd.to_datetime(raw["event_time"].str[:19], format="ISO8601")
    naive_lag = (pd.to_datetime(raw["received_at"]) - naive).dt.total_seconds()
    assert (naive_lag > 48 * HOUR).sum() != late


# ---------------------------------------------------------------- lesson 6.1: the text's claims


def test_6_1_lag_curves_as_the_lesson_reads_them(raw, june):
    by = raw.groupby("platform")["lag_s"]
    # "On every platform half the rows arrive within seconds"
    assert (by.median() < 60).all()
    # "Between a few minutes and about two hours every curve climbs a little: re-deliveries,
    # the same event sent again" (ids the clean layer does not have)
    middle = raw[(raw["lag_s"] > 300) & (raw["lag_s"] <= 2.1 * HOUR)]
    assert set(middle["platform"]) == {"web", "ios", "android"}
    assert not middle["event_id"].isin(june["event_id"]).any()
    # "after one minute only a few percent are still to come"
    assert ((raw["lag_s"] > 60).groupby(raw["platform"]).mean() < 0.05).all()
    # "iOS and Android stay flat at about one percent from two hours to two days"
    plateau = (raw["lag_s"] > 2.1 * HOUR).groupby(raw["platform"]).mean()
    assert ((plateau[["ios", "android"]] > 0.005) & (plateau[["ios", "android"]] < 0.02)).all()
    # "Web ends there ... The phones do: ... late events"
    assert by.max()["web"] < 2.1 * HOUR
    assert (by.max()[["ios", "android"]] > 48 * HOUR).all()
    # "Between about two hours and two days the curves are flat: nothing arrives then"
    assert not ((raw["lag_s"] > 2.1 * HOUR) & (raw["lag_s"] <= 48 * HOUR)).any()
    # "a 1-minute watermark drops ordinary rows that took a little over a minute"
    ordinary = raw[(raw["lag_s"] > 60) & (raw["lag_s"] < 300)]
    assert len(ordinary) > 0 and ordinary["event_id"].isin(june["event_id"]).mean() > 0.99


def test_6_1_watermark_table_same_rows_from_6_to_48_hours_fewer_each_day_after(lags):
    drops = eventtime.watermark_drops(lags, [6, 24, 48] + [24 * d for d in range(3, 8)])
    assert drops.loc[6, "all"] == drops.loc[24, "all"] == drops.loc[48, "all"]
    beyond = drops.loc[48:, "all"].to_numpy()
    assert (beyond[1:] < beyond[:-1]).all() and beyond[-1] > 0
    assert drops.loc[6, "web"] == 0


def test_6_1_time_formats_match_the_manifest_and_text_misorders_times(orbit_engine, raw):
    tz = json.loads((REPO_ROOT / "datasets" / "manifest.json").read_text())["raw_problems"]
    tz = tz["mixed_time_zones"]
    ends = raw["event_time"].str
    z = ends.endswith("Z")
    offset = ends.match(r".*[+-]\d\d:\d\d$")
    assert z.sum() == tz["utc_z_count"]
    assert offset.sum() == tz["count"] + tz["offset_zero_count"]
    assert (~z & ~offset).sum() == tz["naive_count"]
    assert set(raw.loc[offset, "platform"]) == {"ios"}
    # "'2025-06-01T02:00:00+02:00' sorts after '2025-06-01 00:30:00', yet ... half an hour earlier"
    a, b = "2025-06-01T02:00:00+02:00", "2025-06-01 00:30:00"
    assert a > b
    gap = pd.Timestamp(b, tz="UTC") - pd.Timestamp(a)
    assert gap == pd.Timedelta(minutes=30)


# ---------------------------------------------------------------- lesson 6.4: the text's claims


def test_6_4_cleaning_steps_and_reconciliation_by_independent_pandas(raw, june, orbit_engine):
    """Rebuild June's clean events in pandas: the steps of the lesson's table, the zero
    difference, and that keeping the latest copy matches every count but not the ids."""
    p = json.loads((REPO_ROOT / "datasets" / "manifest.json").read_text())["raw_problems"]
    # "Counting the exact ones takes one line, because their copies agree in every column"
    assert len(raw.drop_duplicates()) == raw["event_id"].nunique()
    assert len(raw) - raw["event_id"].nunique() == p["exact_duplicates"]["count"]
    users = set(pd.read_sql("SELECT user_id FROM users", orbit_engine)["user_id"])
    known = raw[raw["user_id"].isin(users)].copy()
    # "- unknown users" = NULL user_id + orphans, as the manifest counts them
    assert len(raw) - len(known) == p["null_user_id"]["count"] + p["orphaned_user_ids"]["count"]
    known["event_name"] = known["event_name"].str.replace("-", "_").str.lower()
    known["event_time"] = known["utc"].dt.strftime("%Y-%m-%d %H:%M:%S")
    known = known.sort_values(["received_at", "event_id"], kind="stable")
    key = ["user_id", "event_name", "event_time"]
    copies = known[known.duplicated(key)]
    exact = copies["event_id"].isin(known.drop_duplicates(key)["event_id"]) | copies.duplicated(
        ["event_id"]
    )
    assert (~exact).sum() == p["redelivered_duplicates"]["count"]
    # "a few of them were copies of rows with no known user, which the first step had dropped"
    unknown_copies = raw[~raw["user_id"].isin(users)].duplicated().sum()
    assert unknown_copies > 0
    assert exact.sum() == p["exact_duplicates"]["count"] - unknown_copies
    cols = ["event_id", "user_id", "event_name", "event_time", "platform"]
    first = known.drop_duplicates(key, keep="first")[cols]
    clean = june[cols].assign(user_id=june["user_id"].astype(float))
    both = first.merge(clean, how="outer", indicator=True)
    assert len(first) == len(june) and (both["_merge"] == "both").all()
    last = known.drop_duplicates(key, keep="last")
    assert len(last) == len(june)
    assert (~last["event_id"].isin(june["event_id"])).sum() == p["redelivered_duplicates"]["count"]


def test_6_4_late_data_web_misses_nothing_phones_miss_every_day(raw, june):
    day_end = june.assign(day=pd.to_datetime(june["event_date"]))
    recv = raw.drop_duplicates("event_id").set_index("event_id")["received_at"]
    day_end["received_at"] = pd.to_datetime(day_end["event_id"].map(recv))
    cutoff = day_end["day"] + pd.Timedelta(days=1, hours=2)
    day_end["missed"] = day_end["received_at"] >= cutoff
    missed = day_end.groupby(["platform", "event_date"])["missed"].sum().unstack(0)
    assert (missed["web"] == 0).all()
    assert (missed[["ios", "android"]] > 0).all().all() and len(missed) == 30


# ---------------------------------------------------------------- running the lessons


def run_lesson(path, answers: dict[str, str], reruns: list[tuple[str, str]], probe: str):
    """Run the lesson at ``path`` with each Try-it placeholder line in ``answers`` replaced by its
    answer; then (in the same kernel, so the probe must not read the Try-its' variables), for each ``(line, wrong)`` in ``reruns``, run the released Try-it cell holding
    ``line`` again with ``wrong`` in its place; then ``probe`` (its last line an expression).
    Return the lesson's printed text, each rerun's printed text and the probe's value."""
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)

    def cell_with(line):
        cells = [c for c in nb.cells if c.cell_type == "code" and line in c.source.splitlines()]
        assert len(cells) == 1, f"{path.name}: the line {line!r} is not in exactly one cell"
        return cells[0]

    released = {line: cell_with(line).source for line, _ in reruns}
    for line, replacement in answers.items():
        cell = cell_with(line)
        cell.source = cell.source.replace(line, replacement)
    n_lesson = len(nb.cells)
    for line, wrong in reruns:
        nb.cells.append(nbformat.v4.new_code_cell(released[line].replace(line, wrong)))
    *body, last = probe.strip().splitlines()
    probe_code = "\n".join(["import json as _json", *body, f"print('PROBE' + _json.dumps({last}))"])
    nb.cells.append(nbformat.v4.new_code_cell(probe_code))
    strict = os.environ.pop(STRICT_TRY_IT, None)  # answered Try-its must tick, not raise
    try:
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": path.parent}}
        ).execute()
    finally:
        if strict is not None:
            os.environ[STRICT_TRY_IT] = strict

    def text(cell):
        return "".join(o.get("text", "") for o in cell.outputs)

    printed = "".join(text(c) for c in nb.cells[:n_lesson] if c.cell_type == "code")
    rerun_out = [text(c) for c in nb.cells[n_lesson:-1]]
    return printed, rerun_out, json.loads(text(nb.cells[-1]).split("PROBE", 1)[1])


LATE_1H = "late_1h = ...  # the number of rows of `lags` whose lag_h is more than 1"
UTC_TEXT = 'utc_text = ...  # "YYYY-MM-DD HH:MM:SS", in UTC'


@pytest.mark.slow
def test_6_1_try_its_tick_when_right_and_not_for_plausible_wrong_answers():
    printed, reruns, probe = run_lesson(
        L61,
        {
            LATE_1H: 'late_1h = (lags["lag_h"] > 1).sum()',
            UTC_TEXT: 'utc_text = "2025-07-01 03:30:00"',
        },
        [
            (LATE_1H, 'late_1h = (lags["lag_h"] > 60).sum()'),  # minutes for hours
            (LATE_1H, "late_1h = drops.loc[6, 'all']"),  # the nearest row of the table
            (UTC_TEXT, 'utc_text = "2025-06-30 19:30:00"'),  # the offset added, not subtracted
            (UTC_TEXT, 'utc_text = "2025-06-30 23:30:00"'),  # the local time, offset dropped
        ],
        "[int(drops.loc[48, 'all']), int((lags['lag_h'] > 1).sum())]",
    )
    assert "✅ late_1h: right." in printed and "✅ utc_text: right." in printed, printed
    for out in reruns:
        assert out.startswith("Not yet") and "✅" not in out, out
    assert probe == [1300, 2131]


REDELIVERED = 'redelivered_sql = ...  # "WITH one_per_id AS (...) SELECT SUM(copy > 1) FROM (...)"'
WORST_DAY = 'worst_day = ...  # "2025-06-DD"'
DAYS = '_d = per_day.groupby("day")[["by_first_run", "cleaned"]].sum()\n'
REDELIVERED_RIGHT = '''redelivered_sql = """
WITH one_per_id AS (
    SELECT * FROM (
        SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY received_at) AS n
        FROM raw_events
    ) WHERE n = 1
)
SELECT SUM(copy > 1) FROM (
    SELECT ROW_NUMBER() OVER (PARTITION BY user_id, event_name, event_time
                              ORDER BY received_at) AS copy
    FROM one_per_id WHERE user_id IS NOT NULL
)
"""'''
# the business key on every row, exact copies included: they count as re-deliveries
REDELIVERED_NO_EXACT_STEP = '''redelivered_sql = """
SELECT SUM(copy > 1) FROM (
    SELECT ROW_NUMBER() OVER (PARTITION BY user_id, event_name, event_time
                              ORDER BY received_at) AS copy
    FROM raw_events WHERE user_id IS NOT NULL
)
"""'''
# one row per event_id: that counts the exact duplicates
REDELIVERED_BY_ID = (
    'redelivered_sql = "SELECT COUNT(*) - COUNT(DISTINCT event_id) FROM raw_events '
    'WHERE user_id IS NOT NULL"'
)


@pytest.mark.slow
def test_6_4_try_its_reconciliation_and_example(orbit_manifest):
    printed, reruns, probe = run_lesson(
        L64,
        {
            REDELIVERED: REDELIVERED_RIGHT,
            WORST_DAY: DAYS + "worst_day = (1 - _d['by_first_run'] / _d['cleaned']).idxmax()",
        },
        [
            (REDELIVERED, REDELIVERED_NO_EXACT_STEP),
            (REDELIVERED, REDELIVERED_BY_ID),
            # the day with the most late events, not the largest share of its events
            (WORST_DAY, DAYS + "worst_day = (_d['cleaned'] - _d['by_first_run']).idxmax()"),
            (WORST_DAY, "worst_day = '2025-06-30'"),  # the last day, whose data is freshest
        ],
        """_ex = example
_out = [
    recon[["difference", "not_identical"]].abs().to_numpy().sum().item(),
    int(recon["clean_events"].sum()), len(recon),
    steps["rows"].tolist(), steps["manifest"].tolist()[:4],
    [int(v) for v in exact.iloc[0]],
    _ex["event_id"].tolist(), _ex["received_at"].tolist(),
    _ex["copy_of_id"].tolist(), _ex["copy_of_event"].tolist(),
]
_out""",
    )
    assert "✅ redelivered_sql: right." in printed and "✅ worst_day: right." in printed, printed
    for out in reruns:
        assert out.startswith("Not yet") and "✅" not in out, out
    diff, clean_events, days, rows, manifest, exact, ids, received, by_id, by_event = probe
    p = orbit_manifest["raw_problems"]
    assert diff == 0 and clean_events == 199_639 and days == 30
    assert rows[0] == p["rows"] and rows[0] - sum(rows[1:4]) == rows[4] == clean_events
    assert rows[1] == manifest[1] and rows[3] == manifest[3] and rows[2] < manifest[2]
    assert exact == [p["exact_duplicates"]["count"]]
    # "the first two rows are exact copies ...; the third is a re-delivery, with a new id and
    # received later. Partitioned by event_id, the re-delivery is a first copy too"
    assert ids[0] == ids[1] != ids[2] and received[0] == received[1] < received[2]
    assert received[0].startswith("2025-06-02")  # "one event of June 2"
    assert by_id == [1, 2, 1] and by_event == [1, 2, 3]
