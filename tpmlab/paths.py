"""Where the course's files live: the repository root, the datasets folder, the default database.

Every path can be moved with an environment variable so that a grader, a test or a Binder image
can point the course somewhere else without editing code.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository root (the folder that holds ``tpmlab/``, ``course/`` and ``datasets/``).
REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The folder holding the built Orbit dataset (``TPMLAB_DATA_DIR`` overrides it)."""
    return Path(os.environ.get("TPMLAB_DATA_DIR", REPO_ROOT / "datasets")).resolve()


def default_db_path() -> Path:
    """The bundled SQLite database of Orbit's default dataset."""
    return data_dir() / "orbit.sqlite"


def manifest_path() -> Path:
    """The machine-readable manifest written beside the default database."""
    return data_dir() / "manifest.json"


def cache_dir() -> Path:
    """Where re-seeded copies of the dataset are cached (``datasets/cache`` by default)."""
    return data_dir() / "cache"
