"""SQL answers checked by their results: run a learner's query read-only, compare result sets.

A SQL question is graded by what the query returns, not by how it is written: the learner's
query and the reference query both run on the same database (Orbit's data, then a re-seeded copy
so that typed-in numbers fail) and :func:`compare_results` compares the two result sets:
columns, row count, column types, values (with a numeric tolerance) and, when the question asks
for an ORDER BY, the order of the rows. Every failure is a :class:`~tpmlab.errors.CheckFailed`
whose message says what differs and what to try.

:func:`run_learner_query` runs a query string read-only with a time limit, and turns database
errors (and a forgotten ``raise NotImplementedError()`` placeholder) into such messages.
:func:`made_up_database` builds a tiny in-memory database with Orbit's schema, for probes whose
answer is known by construction (ties between event times, activity on chosen days).
The reference queries themselves live in the hidden tests of each assignment, never here.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from decimal import Decimal
from numbers import Number

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tpmlab.checks import TICK
from tpmlab.errors import CheckFailed
from tpmlab.sql.run import bind_names, strip_markers

__all__ = [
    "CheckFailed",
    "check_columns",
    "compare_results",
    "compare_to_reference",
    "made_up_database",
    "normalise_sql",
    "run_learner_query",
    "same_result",
    "self_check",
]

DEFAULT_TIMEOUT_S = 30.0

# What a database error means for a learner, SQLite and PostgreSQL wording side by side.
_ERROR_HINTS: list[tuple[re.Pattern, str]] = [
    (
        re.compile(r"no such column|column .* does not exist", re.I),
        "A column name is misspelled or belongs to another table. Check the name in "
        "datasets/README.md, and prefix it with its table (e.g. u.country) when you JOIN. "
        "A column alias from SELECT cannot be used in WHERE: repeat the expression instead.",
    ),
    (
        re.compile(r"no such table|relation .* does not exist", re.I),
        "A table name is misspelled. Orbit's tables are listed in datasets/README.md "
        "(users, events, sessions, workspaces, subscriptions...).",
    ),
    (
        re.compile(r"ambiguous", re.I),
        "Two joined tables have a column with this name: write table.column (or alias.column).",
    ),
    (
        re.compile(
            r"must appear in the GROUP BY|misuse of aggregate|aggregate functions are not "
            r"allowed in WHERE",
            re.I,
        ),
        "Every selected column must be either in GROUP BY or inside an aggregate (COUNT, SUM...). "
        "To filter on an aggregate, use HAVING, not WHERE.",
    ),
    (
        re.compile(r"no such function|function .* does not exist", re.I),
        "This function does not exist in this database. Dates differ most: the lessons show the "
        "forms that work on both SQLite and PostgreSQL (e.g. compare 'YYYY-MM-DD' strings, "
        "CAST(... AS DATE), DATE(...)).",
    ),
    (
        re.compile(r"syntax error|incomplete input", re.I),
        "The SQL is not well formed. Look near the word quoted above: a missing comma between "
        "columns, a trailing comma before FROM, an unclosed quote or parenthesis, or clauses out "
        "of order (SELECT, FROM, JOIN, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT).",
    ),
    (
        re.compile(r"readonly|read-only|read only", re.I),
        "Graded queries may only read data: write a single SELECT (or WITH ... SELECT).",
    ),
    (
        re.compile(r"interrupted|statement timeout|canceling statement", re.I),
        "The query ran too long. The usual cause is a JOIN without a proper ON condition (every "
        "row matched with every row). Check each JOIN's ON clause.",
    ),
    (
        re.compile(r"one statement at a time|multiple statements", re.I),
        "Put exactly one query in the string (remove extra statements and semicolons).",
    ),
    (
        re.compile(r"division by zero", re.I),
        "A denominator is 0 for some row: guard it with NULLIF(denominator, 0).",
    ),
]


def normalise_sql(sql: str) -> str:
    """The query without surrounding blank space and trailing semicolons."""
    return sql.strip().rstrip(";").strip()


def _only_comments(sql: str) -> bool:
    no_block = re.sub(r"/\*.*?\*/", "", sql, flags=re.S)
    lines = [ln for ln in no_block.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    return not lines


def _code_only(sql: str) -> str:
    """``sql`` with string literals, quoted names and comments blanked out."""
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", " ", sql, flags=re.S)


def _check_is_query(sql, name: str) -> str:
    if sql is Ellipsis or sql is None:
        raise CheckFailed(f"`{name}` has no query yet: write your SELECT between the quotes.")
    if not isinstance(sql, str):
        raise CheckFailed(
            f"`{name}` should be a string holding a SQL query (between triple quotes), but it is "
            f'a {type(sql).__name__}. Write `{name} = """SELECT ..."""`.'
        )
    if "raise NotImplementedError" in sql or "YOUR CODE HERE" in sql:
        raise CheckFailed(
            f"`{name}` still holds the placeholder lines `# YOUR CODE HERE` and "
            "`raise NotImplementedError()`. Replace them with your SELECT query (keep the "
            "triple quotes around it), run the cell, then run this check again."
        )
    body = normalise_sql(strip_markers(sql))
    if not body or _only_comments(body):
        raise CheckFailed(f"`{name}` is empty: write your SELECT query between the quotes.")
    if ";" in _code_only(body):
        raise CheckFailed(
            f"`{name}` holds more than one statement (a ';' in the middle). Keep exactly one "
            "query in the string: use WITH ... AS (...) to build it in steps."
        )
    if bind_names(body):
        names = ", ".join(f":{n}" for n in bind_names(body))
        raise CheckFailed(
            f"`{name}` uses the parameter(s) {names}. Graded queries must be self-contained: "
            "write the value into the query (e.g. '2025-03-01'). If the colon belongs to a time, "
            "keep it inside the quotes ('12:30:00')."
        )
    return body


def _explain_error(exc: Exception, name: str, dialect: str) -> CheckFailed:
    orig = getattr(exc, "orig", None) or exc
    detail = (str(orig).strip().splitlines() or [type(orig).__name__])[0].rstrip(".")
    hint = next((h for pattern, h in _ERROR_HINTS if pattern.search(detail)), None)
    db = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(dialect, dialect)
    message = f"`{name}` failed to run on {db}: {detail}."
    message += f" {hint}" if hint else " Run the query on its own in a cell to see the problem."
    return CheckFailed(message)


def run_learner_query(
    sql, engine: Engine, *, name: str = "your query", timeout: float = DEFAULT_TIMEOUT_S
) -> pd.DataFrame:
    """Run a learner's query read-only on ``engine`` (at most ``timeout`` seconds) and return
    its result as a DataFrame with the columns named as the query names them.

    Any problem (placeholder left in, not a string, a SQL error, a write, too slow) raises
    :class:`CheckFailed` with a message saying what failed and what to try."""
    body = _check_is_query(sql, name)
    dialect = engine.dialect.name
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            if dialect == "sqlite":
                deadline = time.monotonic() + timeout
                raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
                conn.exec_driver_sql("PRAGMA query_only = ON")
            elif dialect == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
            try:
                result = conn.execute(text(body))
                if not result.returns_rows:
                    raise CheckFailed(
                        f"`{name}` returned no rows at all (it is not a SELECT). "
                        "Write a query that starts with SELECT (or WITH)."
                    )
                columns = list(result.keys())
                rows = result.fetchall()
            finally:
                conn.rollback()
                if dialect == "sqlite":
                    raw.set_progress_handler(None, 0)
                    conn.exec_driver_sql("PRAGMA query_only = OFF")
    except CheckFailed:
        raise
    except (sa_exc.DBAPIError, sa_exc.StatementError) as exc:
        raise _explain_error(exc, name, dialect) from None
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)


# --------------------------------------------------------------------------- result comparison

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


def _norm(value):
    """(kind, comparable value) of one cell: kinds are null, number, temporal, text."""
    if value is None:
        return "null", None
    if isinstance(value, bool):
        return "number", float(value)
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        if pd.isna(value):
            return "null", None
        s = value.isoformat(sep=" ")
        return "temporal", s[:10] if s[10:].strip(" :0.") == "" else s[:19]
    if isinstance(value, dt.date):
        return "temporal", value.isoformat()
    if isinstance(value, (Decimal, Number)) or hasattr(value, "dtype"):
        try:
            f = float(value)
        except (TypeError, ValueError):
            return "text", str(value)
        return ("null", None) if math.isnan(f) else ("number", f)
    if isinstance(value, str):
        v = value.strip()
        if _ISO.match(v):
            v = v.replace("T", " ")
            return "temporal", v[:10] if v[10:].strip(" :0.") == "" else v[:19]
        return "text", value
    return "text", str(value)


def _column(df: pd.DataFrame, col: str) -> list:
    return [_norm(v) for v in df[col].tolist()]


def _kind(cells: list) -> str:
    kinds = {k for k, _ in cells if k != "null"}
    if not kinds:
        return "null"
    return kinds.pop() if len(kinds) == 1 else "mixed"


_KIND_WORDS = {"number": "numbers", "text": "text", "temporal": "dates/times", "null": "only NULLs"}


def _show(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:.6g}"
    return repr(v)


def _close(a, b, rtol: float, atol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)
    return a == b


def _sort_key(row: tuple) -> tuple:
    key = []
    for v in row:
        if v is None:
            key.append((0, 0.0, ""))
        elif isinstance(v, float):
            key.append((1, float(f"{v:.6g}"), ""))
        else:
            key.append((2, 0.0, str(v)))
    return tuple(key)


def compare_results(
    got: pd.DataFrame,
    expected: pd.DataFrame,
    *,
    order_matters: bool = False,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    name: str = "your query",
    context: str = "",
) -> None:
    """Fail with a specific :class:`CheckFailed` unless ``got`` has the same result set as
    ``expected``.

    Columns are matched by name (case-insensitive, any order). Types are compared by kind
    (number, text, date/time: a date may come back as text on SQLite and as a DATE on
    PostgreSQL). Numbers match within ``rtol``/``atol``. Rows are compared in order when
    ``order_matters`` (the question asked for an ORDER BY), as a multiset otherwise.
    ``context`` (e.g. "on a re-seeded copy of the data") is added to every message."""
    where = f" {context.strip()}" if context else ""

    def fail(message: str) -> None:
        raise CheckFailed(f"`{name}`{where}: {message}")

    got_cols = [str(c).lower() for c in got.columns]
    exp_cols = [str(c).lower() for c in expected.columns]
    dupes = sorted({c for c in got_cols if got_cols.count(c) > 1})
    if dupes:
        fail(f"the column name(s) {dupes} appear twice. Give each column its own name with AS.")
    missing = [c for c in exp_cols if c not in got_cols]
    extra = [c for c in got_cols if c not in exp_cols]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {missing}")
        if extra:
            parts.append(f"unexpected column(s) {extra}")
        fail(
            "; ".join(parts) + f". The result should have exactly the columns {exp_cols}: name "
            "each one with AS (e.g. COUNT(DISTINCT user_id) AS users)."
        )
    got = got.copy()
    got.columns = got_cols
    expected = expected.copy()
    expected.columns = exp_cols

    if len(got) != len(expected):
        hint = (
            "More rows than expected: a JOIN may have multiplied rows (fan-out), GROUP BY may be "
            "finer than asked, or a filter (WHERE/HAVING, date window) is missing or too wide."
            if len(got) > len(expected)
            else "Fewer rows than expected: an INNER JOIN may drop rows a LEFT JOIN keeps, or a "
            "filter (WHERE/HAVING, date window) is too strict."
        )
        fail(f"returned {len(got)} row(s), expected {len(expected)}. {hint}")

    got_cells = {c: _column(got, c) for c in exp_cols}
    exp_cells = {c: _column(expected, c) for c in exp_cols}
    for c in exp_cols:
        gk, ek = _kind(got_cells[c]), _kind(exp_cells[c])
        if ek in ("null", "mixed") or gk == "null" or gk == ek:
            pass
        elif gk == "mixed" or ek != gk:
            fail(
                f"column `{c}` holds {_KIND_WORDS.get(gk, 'mixed values')}, expected "
                f"{_KIND_WORDS[ek]}. "
                + (
                    "Do not put numbers in quotes; use CAST(... AS INTEGER/REAL) if needed."
                    if ek == "number"
                    else "Return the value itself, not a conversion of it."
                )
            )
        if gk == ek == "number":
            g = [v for _, v in got_cells[c] if v is not None]
            e = [v for _, v in exp_cells[c] if v is not None]
            if (
                e
                and any(v != int(v) for v in e)
                and all(v == int(v) for v in g)
                and all(gv == math.trunc(ev) for gv, ev in zip(sorted(g), sorted(e), strict=False))
            ):
                fail(
                    f"column `{c}` holds whole numbers where fractions are expected (integer division). In SQL an "
                    "integer divided by an integer is an integer (3 / 4 = 0): multiply by 1.0 "
                    "first, e.g. 1.0 * COUNT(...) / COUNT(...)."
                )
            if e and max(abs(v) for v in e) <= 1 and g and max(abs(v) for v in g) > 1:
                ratios = [gv / ev for gv, ev in zip(sorted(g), sorted(e), strict=False) if ev]
                if ratios and all(math.isclose(r, 100, rel_tol=1e-3) for r in ratios):
                    fail(
                        f"column `{c}` looks like a percentage; give the rate as a fraction "
                        "between 0 and 1 (do not multiply by 100)."
                    )

    got_rows = list(zip(*[[v for _, v in got_cells[c]] for c in exp_cols], strict=True))
    exp_rows = list(zip(*[[v for _, v in exp_cells[c]] for c in exp_cols], strict=True))
    if not exp_rows:
        return

    def first_difference(a_rows, b_rows):
        for i, (a, b) in enumerate(zip(a_rows, b_rows, strict=True)):
            for j, c in enumerate(exp_cols):
                if not _close(a[j], b[j], rtol, atol):
                    return i, c, a[j], b[j], b
        return None

    sorted_got, sorted_exp = sorted(got_rows, key=_sort_key), sorted(exp_rows, key=_sort_key)
    unordered_diff = first_difference(sorted_got, sorted_exp)
    if unordered_diff is None:
        if order_matters and first_difference(got_rows, exp_rows) is not None:
            fail(
                "the rows are right but in the wrong order. Check the ORDER BY the question asks "
                "for (column and direction, ASC or DESC)."
            )
        return
    i, c, g, e, row = unordered_diff
    label = ", ".join(f"{k}={_show(v)}" for k, v in zip(exp_cols, row, strict=True) if k != c)
    message = f"in the row with {label}: " if label else ""
    message += f"column `{c}` is {_show(g)}, expected {_show(e)}."
    if g is None:
        message += " A NULL where a value is expected: use COALESCE(..., 0) or a LEFT JOIN."
    elif isinstance(g, float) and isinstance(e, float) and g > e:
        message += (
            " Too high: typical causes are counting events or rows instead of DISTINCT users, a "
            "JOIN that duplicated rows, or a date window one day too wide."
        )
    elif isinstance(g, float) and isinstance(e, float) and g < e:
        message += (
            " Too low: typical causes are an INNER JOIN that dropped rows, a date window one day "
            "too short, or a filter that is too strict."
        )
    if context:
        message += " (A number typed into the query does not change with the data.)"
    if not order_matters:
        message += " Rows are compared sorted, in any order."
    fail(message)


def check_columns(df: pd.DataFrame, columns: list[str], name: str, *, rows: int | None = None):
    """Public check: the result has exactly ``columns`` (case-insensitive, any order) and, when
    given, exactly ``rows`` rows. Says which columns are missing or extra."""
    got = [str(c).lower() for c in df.columns]
    want = [c.lower() for c in columns]
    missing = [c for c in want if c not in got]
    extra = [c for c in got if c not in want]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"is missing the column(s) {missing}")
        if extra:
            parts.append(f"has unexpected column(s) {extra}")
        raise CheckFailed(
            f"The result of `{name}` " + " and ".join(parts) + f". The question asks for exactly "
            f"{want}: name each one with AS, e.g. COUNT(*) AS {want[-1]}."
        )
    if rows is not None and len(df) != rows:
        raise CheckFailed(
            f"`{name}` returned {len(df)} row(s); the question asks for {rows}. "
            + (
                "Did you GROUP BY something? This answer is one row: aggregate over everything."
                if rows == 1
                else "Check the GROUP BY and the filters."
            )
        )


def compare_to_reference(
    learner_sql,
    reference_sql: str,
    engines: list[Engine],
    *,
    name: str,
    order_matters: bool = False,
    rtol: float = 1e-6,
) -> None:
    """The learner's query returns the reference's result set on every engine (the first is
    Orbit's data; the others re-seeded copies, on which typed-in numbers fail).

    For tests and local checks: it compares in the calling process. A graded assignment's hidden
    tests must not compare in the student's kernel; they record the learner's result with
    :func:`tpmlab.scoring.answer` and the grader compares it with the solution's (see
    :mod:`tpmlab.scoring`)."""
    for index, eng in enumerate(engines):
        context = "" if index == 0 else "on a re-seeded copy of Orbit's data"
        got = run_learner_query(learner_sql, eng, name=name)
        expected = run_learner_query(reference_sql, eng, name="the reference query")
        compare_results(
            got, expected, order_matters=order_matters, rtol=rtol, name=name, context=context
        )


def self_check(
    sql,
    expected,
    engine: Engine | None = None,
    *,
    order_matters: bool = False,
    rtol: float = 1e-6,
    name: str = "your query",
) -> bool:
    """For ungraded "Try it" cells: run ``sql`` and compare it with ``expected`` (a DataFrame or
    a SQL string), then print ✅ or what differs. Never raises on a wrong answer."""
    from tpmlab.sql.run import current_engine

    eng = current_engine(engine)
    try:
        got = run_learner_query(sql, eng, name=name)
        want = (
            run_learner_query(expected, eng, name="the expected query")
            if isinstance(expected, str)
            else expected
        )
        compare_results(got, want, order_matters=order_matters, rtol=rtol, name=name)
    except CheckFailed as exc:
        print(f"Not yet: {exc}")
        return False
    print(f"{TICK} {name} returns the expected result ({len(got)} row(s)).")
    return True


def made_up_database(
    users: list[tuple[int, str]],
    events: list[tuple[int, str, str]],
) -> Engine:
    """A tiny in-memory SQLite database with every Orbit table (empty) except these rows.

    ``users`` holds ``(user_id, signup_at)`` and ``events`` holds ``(user_id, event_time,
    event_name)``, times as ``'YYYY-MM-DD HH:MM:SS'`` (UTC), as Orbit stores them in SQLite. The
    other columns get plain values: ``signup_date``/``event_date`` are the date part of the time,
    every user is on the web, organic, owns a free workspace of their own (``workspace_id`` =
    ``user_id``), and the events are numbered in the order given. Hidden tests and public checks
    run a learner's query on it where Orbit's data cannot show a mistake (no ties in its times,
    for example)."""
    from tpmlab.data import schema

    db = sa.create_engine("sqlite://", poolclass=sa.pool.StaticPool)
    schema.metadata.create_all(db)
    user_rows = [
        {
            "user_id": uid,
            "signup_at": at,
            "signup_date": at[:10],
            "country": "US",
            "platform": "web",
            "channel": "organic",
            "workspace_id": uid,
            "is_workspace_owner": 1,
        }
        for uid, at in users
    ]
    workspace_rows = [
        {"workspace_id": uid, "created_at": at, "owner_user_id": uid, "current_plan": "free"}
        for uid, at in users
    ]
    event_rows = [
        {
            "event_id": i,
            "user_id": uid,
            "session_id": 1,
            "event_time": at,
            "event_date": at[:10],
            "event_name": name,
            "platform": "web",
            "project_id": None,
        }
        for i, (uid, at, name) in enumerate(events, start=1)
    ]
    with db.begin() as conn:
        for table, rows in [
            ("workspaces", workspace_rows),
            ("users", user_rows),
            ("events", event_rows),
        ]:
            if rows:
                conn.execute(schema.metadata.tables[table].insert(), rows)
    return db


def same_result(
    expected, engine: Engine | str | None = None, *, order_matters: bool = False, rtol=1e-6
):
    """A check for :func:`tpmlab.checks.try_it`: ``ok(sql)`` runs a learner's query read-only and
    is true when its result set equals ``expected`` (a DataFrame, or a SQL string to run).

    A wrong result raises :class:`tpmlab.errors.CheckFailed` saying what differs (missing
    column, too few rows, a value too high...); ``try_it`` shows that message as its "Not yet".

    >>> try_it("try_1", try_1, same_result(expected_df), hint="Use LAG, not LEAD.")
    """

    def ok(sql) -> bool:
        from tpmlab.sql.run import current_engine

        eng = current_engine(engine)
        got = run_learner_query(sql, eng, name="your query")
        want = (
            run_learner_query(expected, eng, name="the expected query")
            if isinstance(expected, str)
            else expected
        )
        compare_results(got, want, order_matters=order_matters, rtol=rtol, name="your query")
        return True

    return ok
