"""Orbit's API request log for module 5: load it (or a time slice of it) and find its incident.

Everything goes through SQLAlchemy (``tpmlab.data.engine()``) and ``pandas.read_sql``, so the same
code runs on SQLite, DuckDB or PostgreSQL. Timestamps come back as pandas datetimes (UTC, naive).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text

from tpmlab import validate
from tpmlab.errors import TPMLabError

COLUMNS = (
    "request_id",
    "ts",
    "client_id",
    "method",
    "endpoint",
    "resource_key",
    "status",
    "latency_ms",
    "bytes_out",
)


def _engine(engine):
    if engine is not None:
        if not hasattr(engine, "connect"):
            raise validate.InvalidArgument(
                "engine",
                engine,
                "a SQLAlchemy engine (or None for Orbit's database)",
                "Pass tpmlab.data.engine(), or leave engine out.",
            )
        return engine
    from tpmlab.data import engine as default_engine

    return default_engine()


def _timestamp(name: str, value):
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        ts = None
    if ts is None or pd.isna(ts):
        raise validate.InvalidArgument(
            name, value, "a date-time such as '2025-06-03 14:00' (or None)", None
        )
    return ts


def load_api_requests(engine=None, start=None, end=None, columns=COLUMNS) -> pd.DataFrame:
    """Rows of ``api_requests`` with ``start <= ts < end`` (either may be None), in time order."""
    if isinstance(columns, str):
        columns = (columns,)
    for column in columns:
        validate.choice("columns", column, COLUMNS, "Pick columns of api_requests.")
    bounds = {name: _timestamp(name, value) for name, value in (("start", start), ("end", end))}
    if (
        bounds["start"] is not None
        and bounds["end"] is not None
        and bounds["end"] < bounds["start"]
    ):
        raise validate.InvalidArgument(
            "end", end, f"a time at or after start = {start}", "Swap start and end."
        )
    where, params = [], {}
    if start is not None:
        where.append("ts >= :start")
        params["start"] = pd.Timestamp(start).strftime("%Y-%m-%d %H:%M:%S")
    if end is not None:
        where.append("ts < :end")
        params["end"] = pd.Timestamp(end).strftime("%Y-%m-%d %H:%M:%S")
    sql = f"SELECT {', '.join(columns)} FROM api_requests"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY ts, request_id" if "request_id" in columns else " ORDER BY ts"
    with _engine(engine).connect() as conn:
        df = pd.read_sql(text(sql), conn, params=params)
    if "ts" in df:
        df["ts"] = pd.to_datetime(df["ts"])
    return df


def api_incident(engine=None) -> pd.Series:
    """The incident recorded during the API log's month (the longest if several), as a row."""
    sql = text(
        "SELECT incident_id, service, severity, started_at, detected_at, resolved_at, title "
        "FROM incidents WHERE started_at >= :lo AND started_at < :hi ORDER BY started_at"
    )
    with _engine(engine).connect() as conn:
        bounds = pd.read_sql(text("SELECT MIN(ts) AS lo, MAX(ts) AS hi FROM api_requests"), conn)
        lo, hi = bounds.loc[0, "lo"], bounds.loc[0, "hi"]
        inc = pd.read_sql(sql, conn, params={"lo": str(lo), "hi": str(hi)})
    if inc.empty:
        raise TPMLabError(
            "No incident falls inside the API log's time range.",
            "Rebuild the dataset with `make data`.",
        )
    for col in ("started_at", "detected_at", "resolved_at"):
        inc[col] = pd.to_datetime(inc[col])
    api = inc[inc["service"].str.contains("api", case=False)]
    pick = api if not api.empty else inc
    dur = pick["resolved_at"] - pick["started_at"]
    return pick.loc[dur.idxmax()]
