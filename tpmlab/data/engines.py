"""Open SQLAlchemy engines on Orbit's data, turning every connection failure into a clear error.

A URL that is malformed, names a driver that is not installed, points to a missing SQLite file or
to a server that does not answer raises :class:`~tpmlab.errors.DatabaseURLError` with one sentence
on what is wrong and one on what to do.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from tpmlab import paths
from tpmlab.errors import DatabaseURLError, DataNotFoundError

ENV_URL = "TPMLAB_DB_URL"
_URL_HELP = (
    "Write it like sqlite:///path/to/orbit.sqlite, "
    "postgresql://user@host:5432/dbname or duckdb:///path/to/orbit.duckdb."
)


def _safe(url: URL | str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as typed
        return str(url)


def parse_url(url: str | URL) -> URL:
    """Parse a database URL, or raise :class:`DatabaseURLError`."""
    if isinstance(url, URL):
        return url
    if not isinstance(url, str) or not url.strip():
        raise DatabaseURLError(f"{url!r} is not a database URL.", _URL_HELP)
    try:
        return make_url(url.strip())
    except ArgumentError as exc:
        raise DatabaseURLError(f"'{url}' is not a database URL.", _URL_HELP) from exc


def default_driver(u: URL) -> URL:
    """``u`` with a PostgreSQL driver that is installed. Heroku-style ``postgres://`` (which
    SQLAlchemy no longer accepts) becomes ``postgresql://``; plain ``postgresql://`` means
    psycopg 3 in SQLAlchemy 2.1, so it becomes ``postgresql+psycopg2://`` where only psycopg2 is
    installed. Every other URL is returned as it is."""
    if u.drivername == "postgres":
        u = u.set(drivername="postgresql")
    if u.drivername == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return u.set(drivername="postgresql+psycopg2")
    return u


def _sqlite_file_checks(u: URL, must_exist: bool) -> None:
    db = u.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return
    path = Path(db)
    if not path.parent.exists():
        raise DatabaseURLError(
            f"The folder {path.parent} in the SQLite URL does not exist.",
            "Check the path (sqlite:/// followed by a path; four slashes for an absolute path).",
        )
    if must_exist and not path.exists():
        raise DatabaseURLError(
            f"There is no SQLite database at {path}.",
            "Check the path, or build one with: python -m tpmlab.data build --out FOLDER.",
        )


def connect(url: str | URL, *, must_exist: bool = True, check: bool = True) -> Engine:
    """An engine on ``url``, tested with one round trip (``check=False`` skips the test)."""
    u = default_driver(parse_url(url))
    backend = u.get_backend_name()
    if backend == "sqlite":
        _sqlite_file_checks(u, must_exist)
    kwargs: dict = {}
    if backend == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 5}
    try:
        eng = create_engine(u, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise DatabaseURLError(
            f"No database driver for '{u.drivername}' is installed, so '{_safe(u)}' cannot be "
            "opened.",
            "Use a sqlite://, postgresql:// or duckdb:// URL (those drivers come with the course).",
        ) from exc
    except (ArgumentError, SQLAlchemyError, ValueError, TypeError) as exc:
        raise DatabaseURLError(
            f"'{_safe(u)}' is not a usable database URL ({exc}).", _URL_HELP
        ) from exc
    if check:
        try:
            with eng.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except (DBAPIError, SQLAlchemyError, OSError) as exc:
            eng.dispose()
            detail = str(getattr(exc, "orig", exc)).strip().splitlines()
            reason = detail[0] if detail else type(exc).__name__
            raise DatabaseURLError(
                f"Could not connect to the database at {_safe(u)} ({reason}).",
                "Check that the database server is running and that the host, port, user, "
                "password and database name in the URL are right.",
            ) from exc
    return eng


def _sqlite_engine(path: Path, read_only: bool) -> Engine:
    if read_only:
        # the URL stays the plain path (eng.url.database is the file); the connections are
        # opened read-only, so a stray UPDATE or DELETE cannot change the file
        uri = f"file:{path.resolve().as_posix()}?mode=ro"
        eng = create_engine(f"sqlite:///{path}", creator=lambda: sqlite3.connect(uri, uri=True))
    else:
        eng = create_engine(f"sqlite:///{path}")

    @event.listens_for(eng, "connect")
    def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA cache_size=-64000")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    return eng


def default_engine(read_only: bool = True) -> Engine:
    """An engine on the bundled SQLite database, or :class:`DataNotFoundError` if not built.

    Read-only unless asked otherwise: lessons, checks and graders all read Orbit's data, and a
    learner's accidental ``DELETE`` must not change what everyone's checks compare with."""
    db = paths.default_db_path()
    if not db.exists():
        raise DataNotFoundError(
            f"The Orbit dataset has not been built yet: there is no {db}.",
            "Run `make data` (or `python -m tpmlab.data build`) in the course folder, then try "
            "again.",
        )
    return _sqlite_engine(db, read_only)


def engine(url: str | URL | None = None, *, read_only: bool | None = None) -> Engine:
    """An engine on ``url``, else on ``$TPMLAB_DB_URL``, else on the bundled SQLite database.

    ``read_only`` defaults to True for the bundled database and to False for a URL you give
    (a SQLite URL can be opened read-only with ``read_only=True``)."""
    url = url or os.environ.get(ENV_URL) or None
    if url is None:
        return default_engine(read_only=True if read_only is None else read_only)
    u = parse_url(url)
    if read_only and u.get_backend_name() == "sqlite" and u.database:
        _sqlite_file_checks(u, must_exist=True)
        return _sqlite_engine(Path(u.database), read_only=True)
    return connect(u)


def sqlite_engine(path: str | Path, *, read_only: bool = False) -> Engine:
    """An engine on an existing SQLite file (e.g. a re-seeded copy)."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(
            f"There is no Orbit database at {path}.",
            "Build it with: python -m tpmlab.data build --out FOLDER.",
        )
    return _sqlite_engine(path, read_only)
