"""Bytecode caches for the packages a grading kernel imports, written once by the trusted grader.

A sandboxed kernel sees the Python installation read-only and runs with
``PYTHONDONTWRITEBYTECODE=1`` (see :mod:`tpmlab.grading.sandbox.jail`), and many machines set
that variable for every process: where the installation ships no ``__pycache__`` (pip run with
``--no-compile``, or with that variable set), every student's kernel compiles IPython, pandas and
the course's own code from source again. Measured on the warm-up (2 cores): its first cell, which
imports pandas and ``tpmlab.data``, took 4.5 s per student without caches and 1.7-2.1 s with
them. :func:`compile_kernel_packages` writes the missing caches before a batch (the first time
takes about a minute of CPU; afterwards checking them takes well under a second), from the
installed sources, outside every sandbox.
"""

from __future__ import annotations

import compileall
import importlib.metadata
import importlib.util
import sysconfig
from pathlib import Path

#: The top-level packages a grading kernel imports: ipykernel's stack, the sentinel and the course
#: package, and what the assignments import (pandas, numpy, SQLAlchemy, SciPy, requests).
KERNEL_PACKAGES = (
    "IPython",
    "ipykernel",
    "jupyter_client",
    "jupyter_core",
    "traitlets",
    "tornado",
    "zmq",
    "comm",
    "pygments",
    "matplotlib_inline",
    "dateutil",
    "pytz",
    "packaging",
    "platformdirs",
    "msgpack",
    "typing_extensions",
    "six",
    "pandas",
    "numpy",
    "scipy",
    "sqlalchemy",
    "requests",
    "urllib3",
    "idna",
    "certifi",
    "charset_normalizer",
    "tpmlab",
)


#: Distributions whose whole dependency tree an assignment's cells import: module 6 runs dbt in
#: its checks, and dbt's stack (dbt, Jinja, mashumaro, agate, networkx, DuckDB's Python part...)
#: compiled from source took 3.4 of the 7.1 s of ``import dbt.cli.main`` in each kernel
#: (cProfile of the data-pipelines solution's Q8 check: 3.36 s in ``compile``).
STACKS = ("dbt-duckdb",)


def stack_packages(dists=STACKS) -> list[str]:
    """The top-level packages of ``dists`` and of every distribution they require (extras left
    out), as installed; distributions that are not installed are left out."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    provides: dict[str, set[str]] = {}
    for top, owners in importlib.metadata.packages_distributions().items():
        for owner in owners:
            provides.setdefault(canonicalize_name(owner), set()).add(top)
    seen: set[str] = set()
    todo = [canonicalize_name(d) for d in dists]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    tops = {top for dist in seen for top in provides.get(dist, ()) if top.isidentifier()}
    # a distribution that ships a stray top-level name the standard library also has ("test")
    # would otherwise name the standard library's package
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    return sorted(t for t in tops if not any(stdlib in p.parents for p in package_paths([t])))


def package_paths(names=KERNEL_PACKAGES) -> list[Path]:
    """Where the installed ``names`` live (a package's folder or a module's file); names that
    are not installed are left out."""
    found = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            found += [Path(p) for p in spec.submodule_search_locations]
        elif spec.origin and spec.origin.endswith(".py"):
            found.append(Path(spec.origin))
    return sorted(set(found))


def compile_kernel_packages(names=None) -> bool:
    """Write the bytecode caches missing for ``names`` (default: :data:`KERNEL_PACKAGES` and the
    packages of :data:`STACKS`; nothing is rewritten when they are up to date). True when every
    file compiled; a folder the grader cannot write (a read-only system installation) is left as
    it is, and the kernels then compile from source as before."""
    if names is None:
        names = (*KERNEL_PACKAGES, *stack_packages())
    ok = True
    for path in package_paths(names):
        if path.is_dir():
            ok &= bool(compileall.compile_dir(path, quiet=2, workers=1))
        else:
            ok &= bool(compileall.compile_file(path, quiet=2))
    return ok
