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
import importlib.util
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


def compile_kernel_packages(names=KERNEL_PACKAGES) -> bool:
    """Write the bytecode caches missing for ``names`` (nothing is rewritten when they are up to
    date). True when every file compiled; a folder the grader cannot write (a read-only system
    installation) is left as it is, and the kernels then compile from source as before."""
    ok = True
    for path in package_paths(names):
        if path.is_dir():
            ok &= bool(compileall.compile_dir(path, quiet=2, workers=1))
        else:
            ok &= bool(compileall.compile_file(path, quiet=2))
    return ok
