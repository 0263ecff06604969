"""``python -m tpmlab.website``: build the course website (``make site``).

``python -m tpmlab.website build [--out build/site] [--execute all|none|PAGE,...] [--jobs N]``
    Build the theme if needed (:mod:`tpmlab.website.theme`), stage the MyST project
    (:mod:`tpmlab.website.stage`: executed lessons, launch buttons, ``myst.yml``), run Jupyter
    Book 2 on it (``jupyter-book build --html``) and copy the static site to ``--out``. Open
    ``build/site/index.html`` through any static web server, for example
    ``python -m http.server -d build/site``.
``python -m tpmlab.website theme``
    Only install and build the theme (the one step that uses a package registry, npm's).

Nothing here reaches the network once the theme is installed: the theme is local, the
notebooks are executed by local kernels, and mystmd serves the pages to itself on localhost.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tpmlab.errors import TPMLabError
from tpmlab.paths import REPO_ROOT
from tpmlab.website.stage import stage
from tpmlab.website.theme import ensure_theme, node_tools

WORK = REPO_ROOT / "build" / "website"
OUT = REPO_ROOT / "build" / "site"


def jupyter_book() -> str:
    """The ``jupyter-book`` program of this environment, or a TPMLabError saying how to get it."""
    here = Path(sys.executable).parent / "jupyter-book"
    found = str(here) if here.exists() else shutil.which("jupyter-book")
    if not found:
        raise TPMLabError(
            "Jupyter Book 2 (the jupyter-book program) is not installed in this environment.",
            "Run `make site` (it installs the site extra), or `.venv/bin/pip install -e '.[site]'`.",
        )
    return found


def run_jupyter_book(project: Path, log=print) -> Path:
    """Run ``jupyter-book build --html`` in ``project``; the folder of the built site."""
    node_tools()
    env = dict(os.environ)
    # Jupyter Book would offer to install its own Node.js (a download): use the system's.
    env["JB_ALLOW_NODEENV"] = "no"
    env.setdefault("BASE_URL", "")
    cmd = [jupyter_book(), "build", "--html", "--ci"]
    log(f"Running {' '.join(cmd)} in {project}")
    result = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    html = project / "_build" / "html"
    if result.returncode or not (html / "index.html").exists():
        tail = "\n".join(output.splitlines()[-30:])
        raise TPMLabError(
            f"Jupyter Book could not build the site (exit {result.returncode}):\n{tail}",
            f"Read the messages above; the staged project is {project} (run the same command "
            "there to see all of it).",
        )
    (project / "_build" / "jupyter-book.log").write_text(output + "\n")
    return html


def build(
    out: Path = OUT,
    *,
    execute: str = "all",
    jobs: int = 2,
    work: Path = WORK,
    theme: Path | None = None,
    log=print,
) -> Path:
    """Build the whole site into ``out`` (working files in ``work``, the theme in ``theme``,
    :func:`tpmlab.website.theme.theme_dir` by default); returns ``out``."""
    started = time.perf_counter()
    theme = ensure_theme(theme, log)
    stage(work / "project", theme, execute=execute, cache=work / "executed", jobs=jobs, log=log)
    html = run_jupyter_book(work / "project", log)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(html, out)
    pages = len(list(out.rglob("index.html")))
    log(f"Site built in {time.perf_counter() - started:.0f} s: {pages} pages in {out}")
    log(f"See it: python -m http.server -d {out}  (then open http://localhost:8000)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tpmlab.website", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the course website")
    b.add_argument("--out", type=Path, default=OUT, help="where the site goes (build/site)")
    b.add_argument(
        "--execute",
        default="all",
        help="all (default): run the course home and every lesson; none; or page paths, "
        "comma-separated (course/03-ab-testing/02-analysis.ipynb)",
    )
    b.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (2)")
    b.add_argument("--work", type=Path, default=WORK, help="working folder (build/website)")
    b.add_argument("--theme", type=Path, help="the built theme's folder (~/.cache/tpmlab/...)")
    t = sub.add_parser("theme", help="install and build only the theme")
    t.add_argument("--theme", type=Path, help="the built theme's folder (~/.cache/tpmlab/...)")
    args = parser.parse_args(argv)
    try:
        if args.command == "theme":
            print(ensure_theme(args.theme))
        else:
            build(args.out, execute=args.execute, jobs=args.jobs, work=args.work, theme=args.theme)
    except TPMLabError as exc:
        print(f"make site: {exc}", file=sys.stderr)
        return 1
    return 0
