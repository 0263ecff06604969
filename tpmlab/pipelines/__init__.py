"""Data pipelines and data quality (module 6): Orbit's dbt project, run offline on DuckDB.

Tool choice, measured on this course's 2-core machine: dbt-core 1.10.23 with dbt-duckdb 1.11.1
adds 27 distributions and 50 MiB to site-packages (``du -sk``: 991,800 -> 1,043,472 KiB) and pins
pathspec below 0.13 (so mypy below 2). In CPU seconds (``resource.getrusage``; wall time was 3-5x
on a machine shared by several builds): importing dbt with the course's packages 9.2 s, copying
Orbit's three tables into DuckDB 2.4 s, ``dbt build`` (1 model, 17 data tests, a full parse)
7.2 s, of which the SQL takes about 3 s wall; ``dbt test`` again in the same workspace (partial
parse) 2.0 s; ``dbt source freshness`` 0.3 s. pandera 0.35 would add 6.4 MB, but checks
DataFrames in memory: no source freshness, no relationships between tables, no SQL model to
reconcile, and not the YAML a data team writes. dbt is used, because its generic tests
(``unique``, ``not_null``, ``accepted_values``, ``relationships``) and source freshness
(``warn_after``/``error_after``) are what learners will meet at work. dbt-core 1.11 is not
used: its parser does not build here.

Everything runs offline: no usage statistics (``DO_NOT_TRACK=1``,
``send_anonymous_usage_stats: false``), no version check, no ``dbt deps`` (the project has no
packages). Each run works in a fresh temporary folder (:func:`workspace`): a copy of the project
in ``dbt_orbit/``, a profile, and a DuckDB file holding the Orbit tables the project reads, so the
course files stay untouched (the grading sandbox mounts them read-only). The project lives inside
the package (``tpmlab/pipelines/dbt_orbit/``, shipped as package data) rather than at the top of
the repository because the grading sandbox sees the ``tpmlab`` package and not the course
folder, and an installed course (Binder) has the package only.

Public API: :func:`warehouse`, :func:`workspace`, :func:`build`, :func:`test`,
:func:`freshness`, :func:`run_tests`, :func:`run_tests_on`, :data:`PROJECT_DIR`; :mod:`.jobs`
(a daily job run twice, out of order, backfilled), :mod:`.warehouses` (Orbit's tables copied into
DuckDB, and kept) and :mod:`.answers` (graded questions).
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
