"""The ``%%sql`` notebook magic: write SQL in a cell, get a DataFrame, bind values safely.

Load it once per notebook with ``%load_ext tpmlab.sql``. Then::

    %%sql -o by_platform
    SELECT platform, COUNT(*) AS users
    FROM users
    WHERE signup_date >= :since
    GROUP BY platform

runs the query on the current database (see :mod:`tpmlab.sql.run`), shows the result, and stores
it in the variable ``by_platform``. ``:since`` is taken from the notebook variable ``since`` and
bound by the database driver: it is never pasted into the SQL text. ``%sql SELECT ...`` does the
same on one line; ``%sql_connect URL`` (or a variable holding an engine) switches database.

Options (before the query): ``-o NAME`` / ``--out NAME`` store the DataFrame in ``NAME``;
``--engine NAME`` run on the engine or URL held by the variable ``NAME`` for this cell only.

It is deliberately small (no dependency beyond SQLAlchemy and pandas); the lesson
``course/01-sql-analytics/01-querying-from-a-notebook.ipynb`` explains why the course does not use
jupysql.
"""

from __future__ import annotations

import shlex

import pandas as pd
from sqlalchemy import text

from tpmlab.errors import TPMLabError
from tpmlab.sql.run import as_engine, bind_values, connect, current_engine

USAGE = "%%sql [-o NAME] [--engine NAME] with the query on the next lines, or %sql <query>"


def parse_options(line: str) -> tuple[dict, str]:
    """Split a magic line into options and the rest (the query, for the line form)."""
    options: dict[str, str] = {}
    rest = line.strip()
    while rest.startswith("-"):
        try:
            parts = shlex.split(rest)
        except ValueError:
            parts = rest.split()
        flag = parts[0]
        if flag in ("-o", "--out", "--engine"):
            if len(parts) < 2 or not parts[1].isidentifier():
                raise TPMLabError(
                    f"The option {flag} needs a Python variable name after it.",
                    f"Write e.g. `%%sql {flag} result`. Usage: {USAGE}",
                )
            options["out" if flag in ("-o", "--out") else "engine"] = parts[1]
            # drop the two tokens from the raw text (keeps the query's own quoting intact)
            rest = rest[len(flag) :].lstrip()
            rest = rest[len(parts[1]) :].lstrip()
        else:
            raise TPMLabError(f"Unknown option {flag!r} for %%sql.", f"Usage: {USAGE}")
    return options, rest


def run_cell(line: str, cell: str | None, namespace: dict) -> pd.DataFrame:
    """What ``%sql`` / ``%%sql`` do, without IPython (so it can be tested directly)."""
    options, rest = parse_options(line)
    sql = cell if cell is not None else rest
    if not sql or not sql.strip():
        raise TPMLabError("There is no query to run.", f"Put a SELECT in the cell. Usage: {USAGE}")
    target = None
    if "engine" in options:
        name = options["engine"]
        if name not in namespace:
            raise TPMLabError(
                f"--engine {name}: there is no variable called {name}.",
                f"Create it first, e.g. `{name} = tpmlab.data.engine()`.",
            )
        target = as_engine(namespace[name])
    eng = current_engine(target)
    values = bind_values(sql, {}, namespace)
    with eng.connect() as conn:
        df = pd.read_sql(text(sql), conn, params=values)
    if "out" in options:
        namespace[options["out"]] = df
    return df


def register(ipython) -> None:
    """Register ``%sql``, ``%%sql`` and ``%sql_connect`` in an IPython shell."""

    def sql(line: str, cell: str | None = None):
        return run_cell(line, cell, ipython.user_ns)

    def sql_connect(line: str):
        target = line.strip()
        if not target:
            connect(None)
            print("Using the default database (TPMLAB_DB_URL or Orbit's bundled SQLite).")
            return
        value = ipython.user_ns.get(target, target) if target.isidentifier() else target
        eng = connect(value)
        print(f"%%sql now runs on {eng.url.render_as_string(hide_password=True)}")

    sql.__doc__ = __doc__
    sql_connect.__doc__ = "%sql_connect URL_or_variable: switch the database (empty: default)."
    ipython.register_magic_function(sql, magic_kind="line_cell", magic_name="sql")
    ipython.register_magic_function(sql_connect, magic_kind="line", magic_name="sql_connect")
