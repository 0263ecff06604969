"""The practice API's data: Orbit's users, projects and tasks in memory, events read from disk.

The tables the API can change (tasks) and the small tables it serves (users, projects) live in an
in-memory SQLite database, so writes made through the API never touch the dataset and every new
server starts from the same data. Copying 300k tasks and indexing them takes seconds, so it is
done once per dataset into a cache file (``<dataset folder>/cache/api/``, rebuilt when the
dataset changes); each server then restores that file into memory with SQLite's backup API
(a fraction of a second). The large, read-only ``events`` table is read straight from the
dataset, attached read-only. Every list query is *keyset* paginated: it asks
for rows strictly after the last (sort value, id) the client saw, which is what makes cursor
pagination correct while rows are being inserted.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tpmlab.errors import DataNotFoundError


@dataclass(frozen=True)
class Resource:
    """How one API collection maps onto a table."""

    table: str
    id_column: str
    columns: tuple[str, ...]
    sortable: dict[str, str]  # API sort field -> column
    in_memory: bool = True
    indexes: tuple[str, ...] = field(default_factory=tuple)
    ddl: str = ""


RESOURCES: dict[str, Resource] = {
    "users": Resource(
        table="users",
        id_column="user_id",
        columns=(
            "user_id",
            "signup_at",
            "country",
            "platform",
            "channel",
            "workspace_id",
            "is_workspace_owner",
        ),
        sortable={"id": "user_id", "signup_at": "signup_at"},
        indexes=("signup_at, user_id", "workspace_id"),
        ddl="user_id INTEGER PRIMARY KEY, signup_at TEXT, country TEXT, platform TEXT, "
        "channel TEXT, workspace_id INTEGER, is_workspace_owner INTEGER",
    ),
    "projects": Resource(
        table="projects",
        id_column="project_id",
        columns=("project_id", "workspace_id", "name", "created_by", "created_at", "archived"),
        sortable={"id": "project_id", "created_at": "created_at", "name": "name"},
        indexes=("workspace_id", "created_at, project_id", "name, project_id"),
        ddl="project_id INTEGER PRIMARY KEY, workspace_id INTEGER, name TEXT, "
        "created_by INTEGER, created_at TEXT, archived INTEGER",
    ),
    "tasks": Resource(
        table="tasks",
        id_column="task_id",
        columns=(
            "task_id",
            "project_id",
            "title",
            "created_by",
            "assignee_id",
            "status",
            "priority",
            "created_at",
            "completed_at",
        ),
        sortable={"id": "task_id", "created_at": "created_at", "title": "title"},
        # No index on status alone: for "status=done ORDER BY created_at" SQLite would pick it
        # and sort 100k rows per page; walking (created_at, task_id) and filtering is faster.
        indexes=("project_id, task_id", "created_at, task_id", "title, task_id", "assignee_id"),
        ddl="task_id INTEGER PRIMARY KEY, project_id INTEGER, title TEXT, created_by INTEGER, "
        "assignee_id INTEGER, status TEXT, priority TEXT, created_at TEXT, completed_at TEXT",
    ),
    "events": Resource(
        table="events",
        id_column="event_id",
        columns=(
            "event_id",
            "user_id",
            "session_id",
            "event_time",
            "event_name",
            "platform",
            "project_id",
        ),
        sortable={"id": "event_id"},
        in_memory=False,
    ),
}


def now_text() -> str:
    """The current UTC time in the dataset's text format ``YYYY-MM-DD HH:MM:SS``."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def default_database() -> Path:
    """The Orbit SQLite file the API serves (``TPMLAB_DATA_DIR`` moves it)."""
    from tpmlab.paths import default_db_path

    return default_db_path()


#: Bump when the cached layout (tables, indexes) changes, so old caches are rebuilt.
CACHE_VERSION = 1


def cache_path(db_path: Path) -> Path:
    """Where the prepared in-memory image of ``db_path`` is cached."""
    stat = db_path.stat()
    where = hashlib.sha256(str(db_path.resolve()).encode()).hexdigest()[:8]
    version = f"{stat.st_size}|{stat.st_mtime_ns}|{CACHE_VERSION}"
    digest = hashlib.sha256(version.encode()).hexdigest()[:12]
    return db_path.parent / "cache" / "api" / f"api-{where}-{digest}.sqlite"


def prepare_cache(db_path: Path) -> Path:
    """Build (once) the cache file of the API's tables for ``db_path``; return its path.

    If the dataset's folder is read-only (a grading sandbox), the cache goes to the system's
    temporary folder instead.
    """
    target = cache_path(db_path)
    if target.exists():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    except OSError:
        target = Path(tempfile.gettempdir()) / "tpmlab-api-cache" / target.name
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("ATTACH DATABASE ? AS src", (db_path.resolve().as_uri() + "?mode=ro",))
            for res in RESOURCES.values():
                if not res.in_memory:
                    continue
                cols = ", ".join(res.columns)
                con.execute(f"CREATE TABLE main.{res.table} ({res.ddl})")
                con.execute(
                    f"INSERT INTO main.{res.table} ({cols}) SELECT {cols} FROM src.{res.table}"
                )
                for i, index in enumerate(res.indexes):
                    con.execute(f"CREATE INDEX main.ix_{res.table}_{i} ON {res.table} ({index})")
            con.commit()
            con.execute("DETACH DATABASE src")
        finally:
            con.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)  # atomic: parallel builders just overwrite each other
        # Caches of earlier builds of the same dataset are dead weight (~50 MB each).
        prefix = target.name.rsplit("-", 1)[0] + "-"
        for old in target.parent.glob(f"{prefix}*.sqlite"):
            if old != target:
                old.unlink(missing_ok=True)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


class Store:
    """Thread-safe access to the API's data. All SQL stays in this class."""

    def __init__(self, db_path: str | Path | None = None):
        self.db_path = Path(db_path) if db_path is not None else default_database()
        if not self.db_path.exists():
            raise DataNotFoundError(
                f"The practice API needs Orbit's dataset, but {self.db_path} does not exist.",
                "Build it once with `make data` (or `python -m tpmlab.data build`) in the course "
                "folder, then start the API again.",
            )
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        image = sqlite3.connect(prepare_cache(self.db_path))
        try:
            image.backup(self._conn)
        finally:
            image.close()
        self._conn.row_factory = sqlite3.Row
        uri = self.db_path.resolve().as_uri() + "?mode=ro"
        self._conn.execute("ATTACH DATABASE ? AS src", (uri,))

    def _ensure(self, name: str) -> Resource:
        return RESOURCES[name]

    def _qualified(self, res: Resource) -> str:
        return f"main.{res.table}" if res.in_memory else f"src.{res.table}"

    # -- reads ---------------------------------------------------------------------------------
    def get(self, name: str, item_id: int) -> dict[str, Any] | None:
        res = self._ensure(name)
        with self._lock:
            row = self._conn.execute(
                f"SELECT {', '.join(res.columns)} FROM {self._qualified(res)} "
                f"WHERE {res.id_column} = ?",
                (item_id,),
            ).fetchone()
        return dict(row) if row else None

    def exists(self, name: str, item_id: int) -> bool:
        return self.get(name, item_id) is not None

    def page(
        self,
        name: str,
        where: list[tuple[str, Any]],
        sort: str = "id",
        descending: bool = False,
        limit: int = 20,
        after: tuple[Any, int] | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of ``name``: rows matching ``where`` strictly after ``after`` (keyset).

        ``where`` is a list of ``("column = ?", value)`` pairs; ``after`` is the (sort value, id)
        of the last row of the previous page. Returns the rows and whether more exist.
        """
        res = self._ensure(name)
        sort_col = res.sortable[sort]
        id_col = res.id_column
        clauses = [sql for sql, _ in where]
        params: list[Any] = [value for _, value in where]
        op = "<" if descending else ">"
        if after is not None:
            value, last_id = after
            if sort_col == id_col:
                clauses.append(f"{id_col} {op} ?")
                params.append(last_id)
            else:
                clauses.append(f"({sort_col} {op} ? OR ({sort_col} = ? AND {id_col} {op} ?))")
                params += [value, value, last_id]
        direction = "DESC" if descending else "ASC"
        order = (
            f"{id_col} {direction}"
            if sort_col == id_col
            else f"{sort_col} {direction}, {id_col} {direction}"
        )
        sql = f"SELECT {', '.join(res.columns)} FROM {self._qualified(res)}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY {order} LIMIT ?"
        params.append(limit + 1)
        with self._lock:
            rows = [dict(r) for r in self._conn.execute(sql, params).fetchall()]
        return rows[:limit], len(rows) > limit

    def count(self, name: str, where: list[tuple[str, Any]] | None = None) -> int:
        """How many rows of ``name`` match ``where`` (used by tests and graders)."""
        res = self._ensure(name)
        sql = f"SELECT COUNT(*) FROM {self._qualified(res)}"
        where = where or []
        if where:
            sql += " WHERE " + " AND ".join(s for s, _ in where)
        with self._lock:
            return int(self._conn.execute(sql, [v for _, v in where]).fetchone()[0])

    # -- writes (tasks only) ---------------------------------------------------------------------
    def create_task(self, fields: dict[str, Any]) -> dict[str, Any]:
        res = self._ensure("tasks")
        with self._lock:
            row = {c: fields.get(c) for c in res.columns if c != "task_id"}
            row["created_at"] = row.get("created_at") or now_text()
            cols = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            cur = self._conn.execute(
                f"INSERT INTO main.tasks ({cols}) VALUES ({marks})", list(row.values())
            )
            self._conn.commit()
            return self.get("tasks", int(cur.lastrowid))  # type: ignore[return-value]

    def update_task(self, task_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
        self._ensure("tasks")
        with self._lock:
            if changes:
                sets = ", ".join(f"{c} = ?" for c in changes)
                self._conn.execute(
                    f"UPDATE main.tasks SET {sets} WHERE task_id = ?",
                    [*changes.values(), task_id],
                )
                self._conn.commit()
            return self.get("tasks", task_id)

    def delete_task(self, task_id: int) -> bool:
        self._ensure("tasks")
        with self._lock:
            cur = self._conn.execute("DELETE FROM main.tasks WHERE task_id = ?", (task_id,))
            self._conn.commit()
            return cur.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()
