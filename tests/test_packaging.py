"""The package installs what the course needs, and environment.yml (Binder) matches pyproject."""

from __future__ import annotations

import importlib
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tpmlab.paths import REPO_ROOT


def _pyproject():
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _normalise(requirement: str) -> tuple[str, str]:
    req = Requirement(requirement)
    return req.name.lower().replace("_", "-"), str(req.specifier)


def test_environment_yml_matches_pyproject():
    project = _pyproject()["project"]
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml needs exactly one pip: section"
    in_env = dict(_normalise(r) for r in pip_lists[0])
    in_pyproject = dict(_normalise(r) for r in project["dependencies"])
    missing = sorted(set(in_pyproject) - set(in_env))
    extra = sorted(set(in_env) - set(in_pyproject))
    differ = sorted(n for n in set(in_env) & set(in_pyproject) if in_env[n] != in_pyproject[n])
    assert not (missing or extra or differ), (
        "environment.yml and pyproject.toml disagree: "
        f"missing in environment.yml {missing}, extra {extra}, different versions {differ}. "
        "Edit both so Binder installs what pip installs."
    )
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert pythons, "environment.yml must pin a python version"
    version = pythons[0].split("=")[-1]
    assert version in SpecifierSet(project["requires-python"]), (
        f"environment.yml asks for python {version}, pyproject requires {project['requires-python']}"
    )


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
