"""Data pipelines and data quality (module 6): Orbit's dbt project, run offline on DuckDB.

Tool choice, measured on this course's 2-core machine (figures in the module 6 closing note):
dbt-core 1.10 with dbt-duckdb adds about 50 MB to the environment and runs the whole project
(one staging model, 16 data tests, source freshness) on Orbit's raw layer in a few seconds. It is
what data teams write their tests in (``unique``, ``not_null``, ``accepted_values``,
``relationships``, source freshness with ``warn_after``/``error_after``), so a learner reads the
same YAML and results they will meet at work. pandera (about 6 MB) checks DataFrames in memory
but has no source freshness, no relationships between tables and no SQL model to reconcile, so
it is not used. dbt-core 1.11 is not used: its parser does not build here.

Everything runs offline: no usage statistics (``DO_NOT_TRACK=1``,
``send_anonymous_usage_stats: false``), no version check, no ``dbt deps`` (the project has no
packages). Each run works in a fresh temporary folder (:func:`workspace`): a copy of the project
in ``dbt_orbit/``, a profile, and a DuckDB file holding the Orbit tables the project reads, so the
course files stay untouched (the grading sandbox mounts them read-only).

Public API: :func:`warehouse`, :func:`workspace`, :func:`build`, :func:`test`,
:func:`freshness`, :func:`run_tests`, :func:`run_tests_on`, :data:`PROJECT_DIR`; :mod:`.jobs`
(a daily job run twice, out of order, backfilled) and :mod:`.answers` (graded questions).
"""

from tpmlab.pipelines.dbt import (
    PROJECT_DIR,
    Workspace,
    build,
    freshness,
    run_tests,
    run_tests_on,
    test,
    warehouse,
    workspace,
)

__all__ = [
    "PROJECT_DIR",
    "Workspace",
    "build",
    "freshness",
    "run_tests",
    "run_tests_on",
    "test",
    "warehouse",
    "workspace",
]
