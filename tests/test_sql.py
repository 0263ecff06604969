"""tpmlab.sql: the notebook SQL helper (%%sql, query, explain) and result-set grading.

Runs on a tiny SQLite database made here, and the same checks on PostgreSQL when TPMLAB_PG_URL is
set. Every grading message a learner can meet is checked for what it says.
"""

from __future__ import annotations

import os
import uuid

import pandas as pd
import pytest
from sqlalchemy import create_engine, make_url

from tpmlab.errors import CheckFailed, TPMLabError
from tpmlab.sql import compare_results, explain, query, run_learner_query
from tpmlab.sql import run as sqlrun
from tpmlab.sql.answers import check_columns, compare_to_reference
from tpmlab.sql.magic import parse_options, run_cell

ROWS = [
    (1, "FR", "web", "2025-01-01", "2025-01-01 08:00:00", None),
    (2, "FR", "ios", "2025-01-02", "2025-01-02 23:59:59", 1),
    (3, "US", "web", "2025-01-31", "2025-01-31 12:00:00", 1),
    (4, "US", "android", "2025-02-01", "2025-02-01 00:00:00", None),
    (5, "O'Neil", "web", "2025-02-02", "2025-02-02 10:00:00", 2),
]


def _fill(eng):
    with eng.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS people")
        date_type = "TEXT" if eng.dialect.name == "sqlite" else "DATE"
        ts_type = "TEXT" if eng.dialect.name == "sqlite" else "TIMESTAMP"
        conn.exec_driver_sql(
            f"CREATE TABLE people (user_id INTEGER PRIMARY KEY, country TEXT, platform TEXT, "
            f"signup_date {date_type}, signup_at {ts_type}, referrer INTEGER)"
        )
        for row in ROWS:
            conn.exec_driver_sql(
                "INSERT INTO people VALUES (?, ?, ?, ?, ?, ?)"
                if eng.dialect.name == "sqlite"
                else "INSERT INTO people VALUES (%s, %s, %s, %s, %s, %s)",
                row,
            )
    return eng


@pytest.fixture
def sqlite_eng(tmp_path):
    eng = _fill(create_engine(f"sqlite:///{tmp_path / 'tiny.sqlite'}"))
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def pg_url():
    """A fresh PostgreSQL database for this module (dropped afterwards)."""
    base = os.environ.get("TPMLAB_PG_URL")
    if not base:
        if os.environ.get("TPMLAB_REQUIRE_PG"):
            pytest.fail("TPMLAB_REQUIRE_PG is set but TPMLAB_PG_URL is not")
        pytest.skip("set TPMLAB_PG_URL to a PostgreSQL server to run this test")
    base = sqlrun.normalise_url(base)
    name = f"tpmlab_sql_unit_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def pg_eng(pg_url):
    eng = _fill(create_engine(pg_url))
    yield eng
    with eng.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS people")
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def eng(request):
    return request.getfixturevalue("sqlite_eng" if request.param == "sqlite" else "pg_eng")


# ------------------------------------------------------------------------- running queries


def test_query_binds_parameters_so_quotes_cannot_change_the_query(eng):
    assert query("SELECT user_id FROM people WHERE country = :c", eng, c="O'Neil")[
        "user_id"
    ].tolist() == [5]
    # the classic injection string is just a value that matches nothing
    evil = "x' OR '1'='1"
    assert query("SELECT * FROM people WHERE country = :c", eng, c=evil).empty
    # while pasting it into the string returns every row: why the lesson forbids formatting
    pasted = query(f"SELECT * FROM people WHERE country = '{evil}'", eng)
    assert len(pasted) == len(ROWS)
    # a literal % (LIKE) is not mistaken for a driver placeholder, with or without parameters
    assert query("SELECT COUNT(*) AS n FROM people WHERE country LIKE 'F%'", eng)["n"][0] == 2
    like = "SELECT COUNT(*) AS n FROM people WHERE country LIKE 'U%' AND platform = :p"
    assert query(like, eng, p="web")["n"][0] == 1
    assert run_learner_query(
        "SELECT user_id FROM people WHERE country LIKE '%Neil'", eng
    ).shape == (
        1,
        1,
    )


def test_missing_parameter_names_it_and_says_how_to_set_it(eng):
    with pytest.raises(TPMLabError, match=r"(?s):since.*`since = "):
        query("SELECT * FROM people WHERE signup_date >= :since", eng)
    # a colon inside a quoted time is not a parameter
    assert sqlrun.bind_names("SELECT '12:30:00', x::date, :a FROM t") == ["a"]


def test_engine_resolution_order(sqlite_eng, tmp_path, monkeypatch):
    other = _fill(create_engine(f"sqlite:///{tmp_path / 'other.sqlite'}"))
    with other.begin() as conn:
        conn.exec_driver_sql("DELETE FROM people WHERE user_id > 2")
    monkeypatch.setenv("TPMLAB_DB_URL", str(other.url))
    try:
        assert len(query("SELECT * FROM people")) == 2  # environment variable
        sqlrun.connect(sqlite_eng)
        assert len(query("SELECT * FROM people")) == 5  # %sql_connect wins over the variable
        assert len(query("SELECT * FROM people", other)) == 2  # an explicit engine wins
    finally:
        sqlrun.connect(None)
    with pytest.raises(TPMLabError, match="neither a database URL"):
        sqlrun.as_engine(42)


def test_normalise_url_uses_an_installed_postgres_driver():
    url = sqlrun.normalise_url("postgresql://u@h:5432/db")
    assert url.startswith("postgresql")
    create_engine(url)  # does not raise: the driver named in the URL is importable
    assert sqlrun.normalise_url("sqlite:///x.sqlite") == "sqlite:///x.sqlite"
    # Heroku-style postgres:// (which SQLAlchemy rejects) gets the same driver, password kept
    heroku = sqlrun.normalise_url("postgres://u:secret@h:5432/db")
    assert heroku == url.replace("u@h", "u:secret@h")
    create_engine(heroku)
    assert sqlrun.normalise_url("not a url") == "not a url"


def test_explain_shows_the_plan_and_an_index_changes_it(eng):
    sql = "SELECT * FROM people WHERE country = :c"
    before = explain(sql, eng, c="FR")
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX ix_people_country ON people (country)")
        if eng.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
    if eng.dialect.name == "sqlite":
        assert "SCAN people" in before
        assert "USING INDEX ix_people_country" in explain(sql, eng, c="FR")
    else:
        assert "Seq Scan on people" in before
        assert sqlrun.time_query(sql, eng, repeat=1, c="FR") >= 0


# ------------------------------------------------------------------------- the %%sql magic


def test_magic_runs_a_cell_binds_notebook_variables_and_stores_the_result(sqlite_eng):
    ns = {"country": "FR", "db": sqlite_eng}
    df = run_cell("-o fr --engine db", "SELECT user_id FROM people WHERE country = :country", ns)
    assert df["user_id"].tolist() == [1, 2] and ns["fr"] is df
    line = run_cell("--engine db SELECT COUNT(*) AS n FROM people", None, ns)
    assert line["n"].iloc[0] == 5
    with pytest.raises(TPMLabError, match="no variable called nope"):
        run_cell("--engine nope", "SELECT 1", ns)
    with pytest.raises(TPMLabError, match=":missing"):
        run_cell("--engine db", "SELECT * FROM people WHERE country = :missing", ns)
    with pytest.raises(TPMLabError, match="needs a Python variable name"):
        parse_options("-o")
    with pytest.raises(TPMLabError, match="Unknown option"):
        parse_options("--explain SELECT 1")
    with pytest.raises(TPMLabError, match="no query"):
        run_cell("--engine db", "   ", ns)


def test_load_ext_registers_the_magics_in_ipython(sqlite_eng):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "tpmlab.sql")
        shell.user_ns["db"] = sqlite_eng
        shell.run_line_magic("sql_connect", "db")
        shell.user_ns["p"] = "web"
        df = shell.run_cell_magic(
            "sql", "-o webbies", "SELECT user_id FROM people WHERE platform = :p"
        )
        assert df["user_id"].tolist() == [1, 3, 5]
        assert shell.user_ns["webbies"] is df
        assert shell.run_line_magic("sql", "SELECT COUNT(*) AS n FROM people")["n"][0] == 5
    finally:
        sqlrun.connect(None)
        InteractiveShell.clear_instance()


# ------------------------------------------------------------------------- learner queries


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("\n# YOUR CODE HERE\nraise NotImplementedError()\n", "still holds the placeholder"),
        (..., "has no query yet"),
        (42, "should be a string"),
        ("  -- just a comment\n", "is empty"),
        ("SELECT * FROM peeple", "table name is misspelled"),
        ("SELECT contry FROM people", "column name is misspelled"),
        ("SELECT user_id, FROM people", "not well formed"),
        ("SELECT platform, COUNT(*) FROM people WHERE COUNT(*) > 1 GROUP BY platform", "HAVING"),
        (
            "SELECT a.user_id FROM people a JOIN people b ON a.user_id = b.referrer WHERE "
            "user_id = 1",
            "write table.column",
        ),
        ("DELETE FROM people", "may only read data"),
        ("SELECT 1; SELECT 2", "more than one statement"),
        ("SELECT * FROM people WHERE country = :c", "uses the parameter"),
    ],
)
def test_learner_query_problems_become_specific_messages(eng, sql, words):
    with pytest.raises(CheckFailed, match=words):
        run_learner_query(sql, eng, name="q1_sql")
    # the database is untouched (a DELETE was refused) and the connection still works
    assert len(run_learner_query("SELECT * FROM people;", eng)) == len(ROWS)


def test_a_runaway_query_is_stopped_with_a_hint(eng):
    many = ", ".join(f"people p{i}" for i in range(12))
    with pytest.raises(CheckFailed, match="ran too long.*ON condition"):
        run_learner_query(f"SELECT COUNT(*) FROM {many}", eng, timeout=0.5)
    assert len(run_learner_query("SELECT * FROM people", eng)) == len(ROWS)


def test_solution_markers_inside_the_string_are_ignored(eng):
    sql = "\n### BEGIN SOLUTION\nSELECT COUNT(*) AS n FROM people\n### END SOLUTION\n"
    assert run_learner_query(sql, eng)["n"].iloc[0] == 5


# ------------------------------------------------------------------------- comparing results

REF = (
    "SELECT platform, COUNT(*) AS users, 1.0 * COUNT(*) / 5 AS share FROM people GROUP BY platform"
)


@pytest.mark.parametrize(
    ("sql", "kwargs", "words"),
    [
        ("SELECT platform, COUNT(*) AS users FROM people GROUP BY platform", {}, "missing column"),
        (REF.replace("AS share", "AS share, 1 AS x"), {}, "unexpected column"),
        (REF.replace("AS users", "AS share"), {}, "appear twice"),
        (REF + " HAVING COUNT(*) > 1", {}, "returned 1 row.*Fewer rows"),
        (
            REF.replace("GROUP BY platform", "GROUP BY platform, country").replace(
                "SELECT platform", "SELECT platform"
            ),
            {},
            "More rows",
        ),
        (REF.replace("1.0 * COUNT(*) / 5", "COUNT(*) / 5"), {}, "integer division"),
        (REF.replace("1.0 * COUNT(*) / 5", "100.0 * COUNT(*) / 5"), {}, "percentage"),
        (REF.replace("COUNT(*) AS users", "CAST(COUNT(*) AS TEXT) AS users"), {}, "holds text"),
        (
            REF.replace("COUNT(*) AS users", "COUNT(*) + 1 AS users"),
            {},
            "is 2, expected 1.*Too high",
        ),
        (REF.replace("COUNT(*) AS users", "COUNT(referrer) AS users"), {}, "Too low"),
        (REF + " ORDER BY platform DESC", {"order_matters": True}, "wrong order"),
        (
            REF.replace("COUNT(*) AS users", "COUNT(*) + 1 AS users"),
            {"context": "on a re-seeded copy"},
            "re-seeded copy.*typed into the query",
        ),
    ],
)
def test_compare_results_explains_each_difference(eng, sql, kwargs, words):
    expected = run_learner_query(REF + " ORDER BY platform", eng)
    with pytest.raises(CheckFailed, match=words):
        compare_results(run_learner_query(sql, eng), expected, **kwargs)


def test_compare_results_accepts_equivalent_answers(eng):
    expected = run_learner_query(REF + " ORDER BY platform", eng)
    for sql in [
        REF,  # any row order when order does not matter
        "SELECT 1.0 * COUNT(*) / 5 AS SHARE, COUNT(*) AS Users, platform FROM people "
        "GROUP BY platform",  # column order and case
        REF.replace("1.0 * COUNT(*) / 5", "ROUND(1.0 * COUNT(*) / 5, 9)"),  # within tolerance
        REF.replace("1.0 * COUNT(*) / 5", "AVG(1.0)* COUNT(*) / 5"),
    ]:
        compare_results(run_learner_query(sql, eng), expected)
    compare_results(
        run_learner_query(REF + " ORDER BY platform", eng), expected, order_matters=True
    )
    # a date as text (SQLite) and as a DATE / midnight timestamp compare equal
    as_date = pd.DataFrame({"d": [pd.Timestamp("2025-01-06"), None]})
    as_text = pd.DataFrame({"d": ["2025-01-06", None]})
    compare_results(as_text, as_date)
    with pytest.raises(CheckFailed, match="column `d` is '2025-01-07'"):
        compare_results(pd.DataFrame({"d": ["2025-01-07", None]}), as_date)
    with pytest.raises(CheckFailed, match="NULL where a value"):
        compare_results(pd.DataFrame({"n": [None]}), pd.DataFrame({"n": [3]}))


def test_check_columns_and_compare_to_reference(sqlite_eng, tmp_path):
    df = run_learner_query("SELECT COUNT(*) AS users FROM people", sqlite_eng)
    check_columns(df, ["USERS"], "q1_sql", rows=1)
    with pytest.raises(CheckFailed, match=r"missing the column\(s\) \['n'\]"):
        check_columns(df, ["n"], "q1_sql")
    with pytest.raises(CheckFailed, match="returned 1 row"):
        check_columns(df, ["users"], "q1_sql", rows=3)
    other = _fill(create_engine(f"sqlite:///{tmp_path / 'reseeded.sqlite'}"))
    with other.begin() as conn:
        conn.exec_driver_sql("DELETE FROM people WHERE user_id = 5")
    ref = "SELECT COUNT(*) AS users FROM people"
    compare_to_reference(ref.lower(), ref, [sqlite_eng, other], name="q1_sql")
    with pytest.raises(CheckFailed, match="q1_sql` on a re-seeded copy.*is 5, expected 4"):
        compare_to_reference("SELECT 5 AS users", ref, [sqlite_eng, other], name="q1_sql")
