"""Run SQL on Orbit's data from Python: choose the database, bind parameters safely, read plans.

Which database a query runs on, first match wins:

1. the ``engine`` argument of a call;
2. the engine or URL set with :func:`connect` (``%sql_connect`` in a notebook);
3. the ``TPMLAB_DB_URL`` environment variable (for example a PostgreSQL URL);
4. Orbit's bundled SQLite database, ``tpmlab.data.engine()``.

Values always travel as bound parameters (``WHERE country = :country``), never pasted into the
SQL string: the database then treats them as data, so a quote in a value cannot change the query.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from tpmlab.data.engines import default_driver
from tpmlab.errors import DatabaseURLError, TPMLabError

_session_engine: Engine | None = None
_url_engines: dict[str, Engine] = {}


def normalise_url(url: str) -> str:
    """``url`` with an installed PostgreSQL driver (the data layer's rule,
    :func:`tpmlab.data.engines.default_driver`); a string that is not a URL is returned as it
    is, for :func:`as_engine` to explain."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    return default_driver(parsed).render_as_string(hide_password=False)


def _engine_for_url(url: str) -> Engine:
    if url not in _url_engines:
        try:
            _url_engines[url] = create_engine(normalise_url(url))
        except Exception as exc:  # SQLAlchemy raises ArgumentError, NoSuchModuleError...
            raise DatabaseURLError(
                f"Could not use the database URL {url!r} ({exc}).",
                "Write it like sqlite:///path/to/file.sqlite or "
                "postgresql://user@host:port/database.",
            ) from exc
    return _url_engines[url]


def as_engine(target: Engine | str) -> Engine:
    """An engine from an engine or a database URL."""
    if isinstance(target, Engine):
        return target
    if isinstance(target, str) and target.strip():
        return _engine_for_url(target.strip())
    raise DatabaseURLError(
        f"{target!r} is neither a database URL nor a SQLAlchemy engine.",
        "Pass a URL such as 'sqlite:///datasets/orbit.sqlite' or an engine from "
        "tpmlab.data.engine().",
    )


def connect(target: Engine | str | None = None) -> Engine | None:
    """Make ``target`` (an engine or URL) the database for ``%%sql`` and :func:`query` in this
    session; ``connect(None)`` goes back to the default. Returns the engine now in use."""
    global _session_engine
    _session_engine = None if target is None else as_engine(target)
    return _session_engine


def current_engine(engine: Engine | str | None = None) -> Engine:
    """The engine a query will run on (see the module docstring for the order)."""
    if engine is not None:
        return as_engine(engine)
    if _session_engine is not None:
        return _session_engine
    url = os.environ.get("TPMLAB_DB_URL", "").strip()
    if url:
        return _engine_for_url(url)
    from tpmlab.data import engine as orbit_engine

    return orbit_engine()


_MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$", re.M)


def strip_markers(sql: str) -> str:
    """``sql`` without nbgrader's ``### BEGIN/END SOLUTION`` lines, which an instructor's
    source notebook keeps inside the query string."""
    return _MARKER.sub("", sql)


def bind_names(sql: str) -> list[str]:
    """The named parameters (``:name``) in ``sql``, in order of first use."""
    return list(text(sql).compile().params)


def bind_values(sql: str, params: Mapping, namespace: Mapping | None = None) -> dict:
    """The value of every ``:name`` in ``sql``, from ``params`` then ``namespace``.

    Raises a :class:`TPMLabError` naming any parameter that has no value."""
    values = {}
    for name in bind_names(sql):
        if name in params:
            values[name] = params[name]
        elif namespace is not None and name in namespace:
            values[name] = namespace[name]
        else:
            raise TPMLabError(
                f"The query uses the parameter :{name} but no value was given for it.",
                f"Set it first, e.g. `{name} = 'FR'` in a Python cell (or pass {name}=... to "
                "query()). If ':' belongs to a time like '12:30', keep it inside quotes.",
            )
    return values


def query(sql: str, engine: Engine | str | None = None, **params) -> pd.DataFrame:
    """Run ``sql`` with named parameters and return the result as a DataFrame.

    >>> query("SELECT COUNT(*) AS n FROM users WHERE country = :country", country="FR")
    """
    eng = current_engine(engine)
    sql = strip_markers(sql)
    values = bind_values(sql, params)
    with eng.connect() as conn:
        return pd.read_sql(text(sql), conn, params=values)


def explain(
    sql: str, engine: Engine | str | None = None, *, analyze: bool = False, **params
) -> str:
    """The database's plan for ``sql`` as text: ``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN``
    on PostgreSQL (``analyze=True`` runs the query and adds real timings there)."""
    eng = current_engine(engine)
    values = bind_values(sql, params)
    body = sql.strip().rstrip(";")
    with eng.connect() as conn:
        if eng.dialect.name == "sqlite":
            rows = conn.execute(text(f"EXPLAIN QUERY PLAN {body}"), values).fetchall()
            # rows are (id, parent, notused, detail): indent each step under its parent.
            depth = {0: -1}
            lines = []
            for node_id, parent, _unused, detail in rows:
                depth[node_id] = depth.get(parent, -1) + 1
                lines.append("  " * depth[node_id] + detail)
            return "\n".join(lines)
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
        rows = conn.execute(text(prefix + body), values).fetchall()
        conn.rollback()
        return "\n".join(r[0] for r in rows)


def time_query(sql: str, engine: Engine | str | None = None, *, repeat: int = 3, **params) -> float:
    """The fastest of ``repeat`` runs of ``sql``, in seconds (all rows fetched)."""
    eng = current_engine(engine)
    values = bind_values(sql, params)
    best = float("inf")
    with eng.connect() as conn:
        for _ in range(repeat):
            start = time.perf_counter()
            conn.execute(text(sql), values).fetchall()
            best = min(best, time.perf_counter() - start)
        conn.rollback()
    return best
