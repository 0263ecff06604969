"""The package installs what the course needs, and each of its modules says its job.

That Binder, `make lab` and `make test` install the locked versions of pyproject.toml's
requirements is tests/test_lock.py's.
"""

from __future__ import annotations

import importlib
import tomllib

from packaging.requirements import Requirement

from tpmlab.paths import REPO_ROOT


def _pyproject():
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _normalise(requirement: str) -> tuple[str, str]:
    req = Requirement(requirement)
    return req.name.lower().replace("_", "-"), str(req.specifier)


def test_every_runtime_dependency_imports():
    import_names = {
        "jupyterlab": "jupyterlab",
        "notebook": "notebook",
        "nbgrader": "nbgrader",
        "ipykernel": "ipykernel",
        "nbformat": "nbformat",
        "nbconvert": "nbconvert",
        "nbclient": "nbclient",
        "numpy": "numpy",
        "pandas": "pandas",
        "matplotlib": "matplotlib",
        "sqlalchemy": "sqlalchemy",
        "scipy": "scipy",
        "statsmodels": "statsmodels",
        "duckdb": "duckdb",
        "duckdb-engine": "duckdb_engine",
        "psycopg2-binary": "psycopg2",
        "psycopg": "psycopg",
        "fastapi": "fastapi",
        "uvicorn": "uvicorn",
        "httpx": "httpx",
        "requests": "requests",
        "redis": "redis",
        "pyyaml": "yaml",
        "tqdm": "tqdm",
        "dbt-core": "dbt.cli.main",
        "dbt-duckdb": "dbt.adapters.duckdb",
        "pytest": "pytest",
    }
    names = [_normalise(r)[0] for r in _pyproject()["project"]["dependencies"]]
    unknown = sorted(set(names) - set(import_names))
    assert not unknown, f"add the import name of {unknown} to this test"
    for name in names:
        importlib.import_module(import_names[name])


def test_every_package_module_says_its_job():
    """House style: each module of tpmlab has a docstring."""
    missing = []
    for path in sorted((REPO_ROOT / "tpmlab").rglob("*.py")):
        module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
        if module.endswith("__main__"):
            continue
        mod = importlib.import_module(module.removesuffix(".__init__"))
        if not (mod.__doc__ or "").strip():
            missing.append(module)
    assert not missing, f"these modules have no docstring saying their job: {missing}"
