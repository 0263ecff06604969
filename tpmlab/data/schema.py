"""The Orbit schema as SQLAlchemy tables: the single source of truth for types, keys and indexes.

The generator builds the bundled SQLite database from these definitions and the loader recreates
them in PostgreSQL, DuckDB or any other SQLAlchemy database. Timestamps are ``TIMESTAMP`` and dates
``DATE`` everywhere except SQLite, where they are stored as ``YYYY-MM-DD HH:MM:SS`` / ``YYYY-MM-DD``
text so that SQLite's ``DATE()``, ``strftime()`` and ``julianday()`` work on them.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

#: The product events Orbit tracks, in funnel order (``events.event_name``; the API's ``/v1/events``).
EVENT_NAMES = (
    "signup",
    "onboarding_complete",
    "project_created",
    "task_created",
    "task_completed",
    "comment_added",
    "invite_sent",
    "invite_accepted",
    "upgrade",
    "downgrade",
)

#: ``TIMESTAMP`` (no time zone, values are UTC); text in SQLite.
TIMESTAMP = DateTime().with_variant(Text(), "sqlite")
#: ``DATE``; text in SQLite.
DATE = Date().with_variant(Text(), "sqlite")

metadata = MetaData()


def _pk(name: str) -> Column:
    return Column(name, Integer, primary_key=True, autoincrement=False)


users = Table(
    "users",
    metadata,
    _pk("user_id"),
    Column("signup_at", TIMESTAMP, nullable=False),
    Column("signup_date", DATE, nullable=False),
    Column("country", Text, nullable=False),
    Column("platform", Text, nullable=False),
    Column("channel", Text, nullable=False),
    # users <-> workspaces is a cycle: this key is added after loading where the database allows.
    Column(
        "workspace_id",
        Integer,
        ForeignKey("workspaces.workspace_id", use_alter=True, name="fk_users_workspace"),
        nullable=False,
    ),
    Column("is_workspace_owner", Integer, nullable=False),
    Index("ix_users_signup_date", "signup_date"),
    Index("ix_users_workspace_id", "workspace_id"),
)

workspaces = Table(
    "workspaces",
    metadata,
    _pk("workspace_id"),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("owner_user_id", Integer, ForeignKey("users.user_id"), nullable=False),
    Column("current_plan", Text, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    _pk("session_id"),
    Column("user_id", Integer, ForeignKey("users.user_id"), nullable=False),
    Column("platform", Text, nullable=False),
    Column("started_at", TIMESTAMP, nullable=False),
    Column("ended_at", TIMESTAMP, nullable=False),
    Index("ix_sessions_user_id", "user_id", "started_at"),
    Index("ix_sessions_started_at", "started_at"),
)

projects = Table(
    "projects",
    metadata,
    _pk("project_id"),
    Column("workspace_id", Integer, ForeignKey("workspaces.workspace_id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_by", Integer, ForeignKey("users.user_id"), nullable=False),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("archived", Integer, nullable=False),
    Index("ix_projects_workspace_id", "workspace_id"),
)

events = Table(
    "events",
    metadata,
    _pk("event_id"),
    Column("user_id", Integer, ForeignKey("users.user_id"), nullable=False),
    Column("session_id", Integer, ForeignKey("sessions.session_id"), nullable=False),
    Column("event_time", TIMESTAMP, nullable=False),
    Column("event_date", DATE, nullable=False),
    Column("event_name", Text, nullable=False),
    Column("platform", Text, nullable=False),
    Column("project_id", Integer, ForeignKey("projects.project_id"), nullable=True),
    # Composite indexes whose leading column serves single-column lookups too.
    Index("ix_events_user_id", "user_id", "event_time"),
    Index("ix_events_event_time", "event_time"),
    Index("ix_events_event_name", "event_name", "user_id", "event_time"),
    Index("ix_events_event_date", "event_date", "user_id"),
    Index("ix_events_session_id", "session_id"),
)

tasks = Table(
    "tasks",
    metadata,
    _pk("task_id"),
    Column("project_id", Integer, ForeignKey("projects.project_id"), nullable=False),
    Column("title", Text, nullable=False),
    Column("created_by", Integer, ForeignKey("users.user_id"), nullable=False),
    Column("assignee_id", Integer, ForeignKey("users.user_id"), nullable=True),
    Column("status", Text, nullable=False),
    Column("priority", Text, nullable=False),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("completed_at", TIMESTAMP, nullable=True),
    Index("ix_tasks_project_id", "project_id"),
    Index("ix_tasks_created_by", "created_by"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    _pk("subscription_id"),
    Column("workspace_id", Integer, ForeignKey("workspaces.workspace_id"), nullable=False),
    Column("plan", Text, nullable=False),
    Column("seats", Integer, nullable=False),
    Column("started_at", TIMESTAMP, nullable=False),
    Column("ended_at", TIMESTAMP, nullable=True),
    Column("end_reason", Text, nullable=True),
    Column("mrr_usd", Float, nullable=False),
    Index("ix_subscriptions_workspace_id", "workspace_id"),
)

payments = Table(
    "payments",
    metadata,
    _pk("payment_id"),
    Column("subscription_id", Integer, ForeignKey("subscriptions.subscription_id"), nullable=False),
    Column("workspace_id", Integer, ForeignKey("workspaces.workspace_id"), nullable=False),
    Column("paid_at", TIMESTAMP, nullable=False),
    Column("amount_usd", Float, nullable=False),
    Column("status", Text, nullable=False),
    Index("ix_payments_subscription_id", "subscription_id"),
    Index("ix_payments_paid_at", "paid_at"),
)

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("hypothesis", Text, nullable=False),
    Column("unit", Text, nullable=False),
    Column("start_date", DATE, nullable=False),
    Column("end_date", DATE, nullable=False),
    Column("primary_metric", Text, nullable=False),
    Column("guardrail_metric", Text, nullable=False),
    Column("planned_treatment_share", Float, nullable=False),
)

experiment_assignments = Table(
    "experiment_assignments",
    metadata,
    Column("experiment_id", Text, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.user_id"), nullable=False),
    Column("variant", Text, nullable=False),
    Column("assigned_at", TIMESTAMP, nullable=False),
    Column("platform", Text, nullable=False),
    PrimaryKeyConstraint("experiment_id", "user_id", name="pk_experiment_assignments"),
    Index("ix_experiment_assignments_user_id", "user_id"),
)

experiment_outcomes = Table(
    "experiment_outcomes",
    metadata,
    Column("experiment_id", Text, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.user_id"), nullable=False),
    Column("converted", Integer, nullable=False),
    Column("revenue_usd", Float, nullable=False),
    Column("tasks_created", Integer, nullable=False),
    Column("pre_tasks_created", Integer, nullable=False),
    Column("page_load_ms", Float, nullable=False),
    PrimaryKeyConstraint("experiment_id", "user_id", name="pk_experiment_outcomes"),
    ForeignKeyConstraint(
        ["experiment_id", "user_id"],
        ["experiment_assignments.experiment_id", "experiment_assignments.user_id"],
        name="fk_outcomes_assignment",
    ),
)

experiment_daily = Table(
    "experiment_daily",
    metadata,
    Column("experiment_id", Text, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("variant", Text, nullable=False),
    Column("day", DATE, nullable=False),
    Column("day_index", Integer, nullable=False),
    Column("exposed_users", Integer, nullable=False),
    Column("engaged_users", Integer, nullable=False),
    PrimaryKeyConstraint("experiment_id", "variant", "day", name="pk_experiment_daily"),
)

api_requests = Table(
    "api_requests",
    metadata,
    _pk("request_id"),
    Column("ts", TIMESTAMP, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("resource_key", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("bytes_out", Integer, nullable=False),
    Index("ix_api_requests_ts", "ts"),
    Index("ix_api_requests_endpoint", "endpoint"),
)

deploys = Table(
    "deploys",
    metadata,
    _pk("deploy_id"),
    Column("service", Text, nullable=False),
    Column("deployed_at", TIMESTAMP, nullable=False),
    Column("first_commit_at", TIMESTAMP, nullable=False),
    Column("commit_count", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Index("ix_deploys_deployed_at", "deployed_at"),
)

incidents = Table(
    "incidents",
    metadata,
    _pk("incident_id"),
    Column("service", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("started_at", TIMESTAMP, nullable=False),
    Column("detected_at", TIMESTAMP, nullable=False),
    Column("resolved_at", TIMESTAMP, nullable=False),
    Column("cause_deploy_id", Integer, ForeignKey("deploys.deploy_id"), nullable=True),
    Column("title", Text, nullable=False),
)

# Raw layer: deliberately no primary key and no foreign keys (it holds duplicates and orphans).
raw_events = Table(
    "raw_events",
    metadata,
    Column("event_id", Integer, nullable=False),
    Column("user_id", Integer, nullable=True),
    Column("event_name", Text, nullable=False),
    Column("event_time", Text, nullable=False),
    Column("received_at", TIMESTAMP, nullable=False),
    Column("platform", Text, nullable=False),
    Column("client_version", Text, nullable=False),
    Index("ix_raw_events_event_id", "event_id"),
)

dataset_info = Table(
    "dataset_info",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

#: Tables in an order that satisfies every foreign key except the deferred users -> workspaces one.
TABLE_ORDER: list[str] = [
    "users",
    "workspaces",
    "sessions",
    "projects",
    "events",
    "tasks",
    "subscriptions",
    "payments",
    "experiments",
    "experiment_assignments",
    "experiment_outcomes",
    "experiment_daily",
    "api_requests",
    "deploys",
    "incidents",
    "raw_events",
    "dataset_info",
]

assert set(TABLE_ORDER) == set(metadata.tables), "TABLE_ORDER must list every table"


def table(name: str) -> Table:
    """The :class:`~sqlalchemy.Table` called ``name``."""
    return metadata.tables[name]


def column_kind(col: Column) -> str:
    """A coarse type name for a column: ``int``, ``float``, ``text``, ``timestamp`` or ``date``."""
    t = col.type
    # Variants: look at the generic (non-SQLite) implementation.
    base = t
    if isinstance(t, DateTime):
        return "timestamp"
    if isinstance(t, Date):
        return "date"
    if isinstance(base, Integer):
        return "int"
    if isinstance(base, Float):
        return "float"
    return "text"


def primary_key_columns(name: str) -> list[str]:
    """The primary-key columns of a table, or all columns when it has none (``raw_events``)."""
    t = table(name)
    pk = [c.name for c in t.primary_key.columns]
    return pk or [c.name for c in t.columns]
