"""Metric definitions as code: one definition, compiled to SQL, used by every lesson and check.

A :class:`Metric` names its **numerator** and (for a ratio) its **denominator**, each a
:class:`Measure`: which table, which time column places a row in time, which rows count (a
filter) and whether to count rows or distinct values (``distinct="user_id"``). :func:`compute`
compiles it through SQLAlchemy Core for one **window** (inclusive dates) at one **grain**
(``"day"``, ``"week"`` starting Monday, or ``"all"``), optionally **by** a segment column, and
runs it on SQLite, DuckDB or PostgreSQL. A ratio is the ratio of the two totals in each bucket
(never an average of per-user or per-day ratios). Orbit's metrics are defined in one readable
file, :mod:`tpmlab.metrics.definitions`.

Diagnosis helpers: :func:`mix_rate` splits the change of a ratio metric between two periods
into a *mix* effect (segments' shares of the denominator moved) and a *rate* effect (segments'
own rates moved), Kitagawa's (1955) symmetric convention, exact; :func:`week_over_week` gives
each full week's change with a noise band from the weeks before it.

Why not a semantic-layer library: dbt's MetricFlow (Apache-2.0) needs a dbt project and a dbt
warehouse adapter (DuckDB, PostgreSQL... but no supported SQLite adapter, and Orbit's default
database is SQLite); Cube is a Node.js server; young DuckDB-only layers (sidemantic, DuckDB's
``semantic_layer`` community extension) would not run on SQLite either. A hundred lines of
SQLAlchemy keep the idea (one definition, compiled per dialect) visible to a learner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tpmlab.errors import TPMLabError

__all__ = ["Measure", "Metric", "compute", "mix_rate", "week_over_week", "to_sql"]

GRAINS = ("day", "week", "all")


@dataclass(frozen=True)
class Measure:
    """What to count: rows of ``table`` (or distinct ``distinct`` values) that pass ``where``.

    ``time`` is the column that places a row in a day; ``where`` maps a column to the value it
    must equal (a list or tuple: one of those values).
    """

    table: str
    time: str
    where: dict = field(default_factory=dict)
    distinct: str | None = None

    def __hash__(self) -> int:
        return hash((self.table, self.time, tuple(sorted(self.where.items())), self.distinct))


@dataclass(frozen=True)
class Metric:
    """A named metric: a count (no denominator) or a ratio of two counts per bucket."""

    name: str
    description: str
    numerator: Measure
    denominator: Measure | None = None

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None


def _bucket(col, grain: str, dialect: str):
    if grain == "all":
        return sa.literal_column("'all'")
    if dialect == "sqlite":
        if grain == "day":
            return sa.func.date(col)
        return sa.func.date(col, "weekday 0", "-6 days")  # the Monday of the week
    ts = sa.cast(col, sa.TIMESTAMP)
    return sa.cast(sa.func.date_trunc(grain, ts), sa.Date)


def _select(m: Measure, grain: str, start: str, end: str, by: str | None, dialect: str):
    t = sa.table(m.table, *(sa.column(c) for c in {m.time, *m.where, m.distinct, by} if c))
    col = t.c[m.time]
    bucket = _bucket(col, grain, dialect).label("bucket")
    counted = sa.func.count(sa.distinct(t.c[m.distinct])) if m.distinct else sa.func.count()
    cols = [bucket] + ([t.c[by].label("segment")] if by else []) + [counted.label("n")]
    lo, hi = sa.bindparam("start", start), sa.bindparam("end_excl", end)
    if dialect != "sqlite":  # SQLite keeps ISO text; elsewhere compare timestamps
        col, lo, hi = (sa.cast(x, sa.TIMESTAMP) for x in (col, lo, hi))
    q = sa.select(*cols).where(col >= lo, col < hi)
    for c, v in m.where.items():
        q = q.where(t.c[c].in_(list(v)) if isinstance(v, list | tuple) else t.c[c] == v)
    keys = ([bucket] if grain != "all" else []) + ([t.c[by]] if by else [])
    return q.group_by(*keys).order_by(*keys) if keys else q


def _check(metric: Metric, grain: str, start: str, end: str) -> tuple[str, str]:
    if not isinstance(metric, Metric):
        raise TPMLabError(
            f"compute() needs a Metric, not {type(metric).__name__}.",
            "Pass one of tpmlab.metrics.definitions (for example definitions.TASK_COMPLETIONS) "
            "or build one with Metric(name, description, numerator=Measure(...)).",
        )
    if grain not in GRAINS:
        raise TPMLabError(f"Unknown grain {grain!r}.", f"Use one of {', '.join(GRAINS)}.")
    try:
        s, e = pd.Timestamp(start), pd.Timestamp(end)
    except (ValueError, TypeError) as exc:
        raise TPMLabError(
            f"The window {start!r} .. {end!r} is not two dates ({exc}).",
            "Give dates as 'YYYY-MM-DD' strings, for example start='2025-03-01'.",
        ) from exc
    if e < s:
        raise TPMLabError(
            f"The window ends ({end}) before it starts ({start}).", "Swap start and end."
        )
    return str(s.date()), str((e + pd.Timedelta(days=1)).date())


def to_sql(metric: Metric, engine: Engine, *, grain="day", start, end, by=None) -> list[str]:
    """The SQL :func:`compute` runs for the metric (numerator, then denominator), as text."""
    s, e = _check(metric, grain, start, end)
    parts = [metric.numerator] + ([metric.denominator] if metric.denominator else [])
    return [
        str(_select(p, grain, s, e, by, engine.dialect.name).compile(dialect=engine.dialect))
        for p in parts
    ]


def compute(
    metric: Metric,
    engine: Engine,
    *,
    start: str,
    end: str,
    grain: str = "day",
    by: str | None = None,
) -> pd.DataFrame:
    """The metric per bucket (and segment) for the dates ``start`` .. ``end``, both included.

    Columns: ``bucket`` (a 'YYYY-MM-DD' day or week's Monday, or 'all'), ``segment`` (with
    ``by``), ``numerator``, then for a ratio ``denominator`` and ``value`` (their ratio), else
    ``value`` (the count), and ``days``: how many days of the window the bucket covers (a
    first or last week with fewer than 7 days is a partial week).
    """
    s, e = _check(metric, grain, start, end)
    keys = ["bucket"] + (["segment"] if by else [])
    parts = [metric.numerator] + ([metric.denominator] if metric.denominator else [])
    frames = []
    for p, label in zip(parts, ["numerator", "denominator"], strict=False):
        q = _select(p, grain, s, e, by, engine.dialect.name)
        with engine.connect() as con:
            rows = con.execute(q).fetchall()
        frames.append(pd.DataFrame(rows, columns=keys + [label]))
    out = frames[0]
    if metric.is_ratio:
        out = frames[1].merge(out, on=keys, how="left").fillna({"numerator": 0})
        out = out[keys + ["numerator", "denominator"]]
    out["bucket"] = out["bucket"].map(lambda b: b if b == "all" else str(pd.Timestamp(b).date()))
    out["numerator"] = out["numerator"].astype(np.int64)
    if metric.is_ratio:
        out["denominator"] = out["denominator"].astype(np.int64)
        out["value"] = out["numerator"] / out["denominator"]
    else:
        out["value"] = out["numerator"]
    first, last = pd.Timestamp(s), pd.Timestamp(e) - pd.Timedelta(days=1)

    def days(b: str) -> int:
        if b == "all":
            return (last - first).days + 1
        lo = pd.Timestamp(b)
        hi = lo + pd.Timedelta(days=0 if grain == "day" else 6)
        return (min(hi, last) - max(lo, first)).days + 1

    out["days"] = out["bucket"].map(days).astype(np.int64)
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def mix_rate(
    before: pd.DataFrame,
    after: pd.DataFrame,
    *,
    segment: str = "segment",
    numerator: str = "numerator",
    denominator: str = "denominator",
) -> pd.DataFrame:
    """Split the change of a ratio metric between two periods into mix and rate, per segment.

    ``before`` and ``after`` have one row per segment with its numerator and denominator. With
    each segment's share of the denominator ``w`` and its rate ``r = numerator / denominator``,
    the metric is ``R = sum(w * r)`` and (Kitagawa 1955, the symmetric convention)::

        mix_i  = (w1_i - w0_i) * (r0_i + r1_i) / 2     the segment's share moved
        rate_i = (r1_i - r0_i) * (w0_i + w1_i) / 2     the segment's own rate moved

    and ``sum(mix_i) + sum(rate_i) == R1 - R0`` exactly (no interaction term is left over).
    Returns one row per segment (``w0, w1, r0, r1, mix, rate, total``) and a last row
    ``"TOTAL"`` with the metric before (``r0``) and after (``r1``) and the sums.
    """
    for name, df in (("before", before), ("after", after)):
        missing = {segment, numerator, denominator} - set(df.columns)
        if missing:
            raise TPMLabError(
                f"The {name} table has no column {', '.join(sorted(missing))}.",
                f"Give one row per segment with columns {segment!r}, {numerator!r} and "
                f"{denominator!r} (or name yours with segment=, numerator=, denominator=).",
            )
        if df[segment].duplicated().any():
            raise TPMLabError(
                f"The {name} table has a segment twice.",
                "Aggregate to one row per segment first (groupby(...).sum()).",
            )
    b = before.set_index(segment)[[numerator, denominator]].astype(float)
    a = after.set_index(segment)[[numerator, denominator]].astype(float)
    if set(b.index) != set(a.index):
        raise TPMLabError(
            "The two periods do not have the same segments "
            f"({sorted(map(str, set(b.index) ^ set(a.index)))} in only one).",
            "A segment's rate must exist in both periods: merge rare segments into 'other'.",
        )
    a = a.loc[b.index]
    if (b[denominator] <= 0).any() or (a[denominator] <= 0).any():
        raise TPMLabError(
            "A segment has no denominator in one period, so its rate is undefined.",
            "Drop or merge segments with a zero denominator before decomposing.",
        )
    w0, w1 = b[denominator] / b[denominator].sum(), a[denominator] / a[denominator].sum()
    r0, r1 = b[numerator] / b[denominator], a[numerator] / a[denominator]
    out = pd.DataFrame({"w0": w0, "w1": w1, "r0": r0, "r1": r1})
    out["mix"] = (w1 - w0) * (r0 + r1) / 2
    out["rate"] = (r1 - r0) * (w0 + w1) / 2
    out["total"] = out["mix"] + out["rate"]
    R0 = b[numerator].sum() / b[denominator].sum()
    R1 = a[numerator].sum() / a[denominator].sum()
    total = pd.DataFrame(
        {
            "w0": [1.0],
            "w1": [1.0],
            "r0": [R0],
            "r1": [R1],
            "mix": [out["mix"].sum()],
            "rate": [out["rate"].sum()],
            "total": [R1 - R0],
        },
        index=pd.Index(["TOTAL"], name=out.index.name),
    )
    return pd.concat([out, total]).rename_axis(segment).reset_index()


def week_over_week(weekly: pd.DataFrame, *, band_weeks: int = 8, z: float = 2.0) -> pd.DataFrame:
    """Each week's change from the week before, with a noise band from earlier weeks' changes.

    ``weekly`` is :func:`compute` at ``grain="week"`` (columns ``bucket``, ``value``, ``days``),
    one row per week. ``change`` is the relative change ``value / previous value - 1``; the band
    is ``mean +- z * sd`` of the ``band_weeks`` changes before it (sample sd), so a change is
    ``outside`` the band when it is bigger than the week-to-week noise of the weeks before.
    Partial weeks are refused: a 3-day week compared with a 7-day one is a fake drop.
    """
    need = {"bucket", "value", "days"} - set(weekly.columns)
    if need:
        raise TPMLabError(
            f"week_over_week needs columns bucket, value and days (missing {sorted(need)}).",
            "Pass compute(metric, eng, start=..., end=..., grain='week') for one segment.",
        )
    if weekly["bucket"].duplicated().any():
        raise TPMLabError(
            "Some week appears twice (one row per segment?).",
            "Filter to one segment (df[df.segment == 'ios']) or compute without by=.",
        )
    partial = weekly.loc[weekly["days"] < 7, "bucket"].tolist()
    if partial:
        raise TPMLabError(
            f"The weeks starting {', '.join(partial)} are partial (fewer than 7 days in the "
            "window): comparing them with full weeks shows a change that is only missing days.",
            "Start the window on a Monday and end it on a Sunday (or drop the partial weeks).",
        )
    out = weekly[["bucket", "value"]].reset_index(drop=True).copy()
    out["change"] = out["value"] / out["value"].shift(1) - 1
    past = out["change"].shift(1).rolling(band_weeks, min_periods=band_weeks)
    mean, sd = past.mean(), past.std(ddof=1)
    out["band_low"], out["band_high"] = mean - z * sd, mean + z * sd
    out["outside"] = (out["change"] < out["band_low"]) | (out["change"] > out["band_high"])
    return out
