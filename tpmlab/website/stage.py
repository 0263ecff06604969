"""The site's MyST project folder: a copy of each page (lessons executed), a launch button under
each page's title, and ``myst.yml`` (title, navigation in teaching order, the theme).

Notebooks in git stay without outputs: the lessons and the course home are executed here, into
the staged copy only, each in its own folder of the repository (as nbval and a learner run
them). An executed copy is kept in ``build/website/executed/`` and reused while the notebook,
the ``tpmlab`` package and the dataset's manifest are unchanged, so a second ``make site`` does
not execute the course again.
"""

from __future__ import annotations

import hashlib
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import yaml

from tpmlab.errors import TPMLabError
from tpmlab.paths import REPO_ROOT, manifest_path
from tpmlab.website.pages import Page, all_pages, launch_url, toc

FAVICON = REPO_ROOT / "website" / "favicon.svg"
#: Seconds a cell may run while a lesson is executed for the site (a lesson runs in under 30 s).
CELL_TIMEOUT = 300


def _inputs_digest() -> str:
    """What an executed lesson depends on besides itself: the package (less this site code,
    which no lesson imports) and the dataset."""
    digest = hashlib.sha256()
    site_code = REPO_ROOT / "tpmlab" / "website"
    for path in sorted((REPO_ROOT / "tpmlab").rglob("*")):
        if site_code in path.parents:
            continue
        if path.is_file() and path.suffix in {".py", ".json", ".yaml", ".yml", ".sql", ".html"}:
            digest.update(path.relative_to(REPO_ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    manifest = manifest_path()
    digest.update(manifest.read_bytes() if manifest.exists() else b"no dataset")
    return digest.hexdigest()


def _execute(source: str, target: str, timeout: int) -> str | None:
    """Execute the notebook ``source`` in its own folder and write it to ``target``; the error
    (lesson, cell, message) if a cell fails. Runs in a worker process."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(source, as_version=4)
    env_path = str(Path(source).parent)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": env_path}}
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        return f"{Path(source).relative_to(REPO_ROOT)}: {str(exc).strip().splitlines()[-1]}"
    except Exception as exc:  # a kernel that died or timed out
        return f"{Path(source).relative_to(REPO_ROOT)}: {type(exc).__name__}: {exc}"
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return None


def execute_pages(pages: list[Page], cache: Path, jobs: int = 2, log=print) -> dict[str, Path]:
    """Executed copies of ``pages`` (page path -> file), from ``cache`` when still current."""
    inputs = _inputs_digest()
    out: dict[str, Path] = {}
    todo: list[tuple[Page, Path, Path]] = []
    for page in pages:
        key = hashlib.sha256(page.source.read_bytes() + inputs.encode()).hexdigest()
        target = cache / page.path
        stamp = target.with_suffix(".sha256")
        out[page.path] = target
        if target.exists() and stamp.exists() and stamp.read_text() == key:
            continue
        todo.append((page, target, stamp))
        stamp.unlink(missing_ok=True)
    if not todo:
        log(f"All {len(pages)} executed notebooks are current ({cache}).")
        return out
    log(f"Executing {len(todo)} notebook(s) on {jobs} worker(s) (the rest are current)...")
    errors = []
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {
            pool.submit(_execute, str(p.source), str(target), CELL_TIMEOUT): (p, target, stamp)
            for p, target, stamp in todo
        }
        for future, (page, _target, stamp) in futures.items():
            error = future.result()
            if error:
                errors.append(error)
                log(f"  failed: {error}")
            else:
                key = hashlib.sha256(page.source.read_bytes() + inputs.encode()).hexdigest()
                stamp.write_text(key)
                log(f"  executed {page.path}")
    if errors:
        raise TPMLabError(
            "These notebooks failed while being executed for the site:\n  " + "\n  ".join(errors),
            "Run the notebook in JupyterLab (or `pytest --nbval-lax NOTEBOOK`) and fix the cell; "
            "a lesson that needs a service (PostgreSQL, redis-server) needs it installed here too "
            "(`.ci/run` shows how). `make site EXECUTE=none` builds the site without outputs.",
        )
    return out


def _launch_line(page: Page, binder: str) -> str:
    return f"{{button}}`Launch on Binder <{launch_url(page.path, binder)}>`"


def _with_launch_button(text: str, line: str) -> str:
    """``text`` (markdown) with ``line`` right under its first ``# `` heading (at the top if
    none), so the heading stays the page's title."""
    lines = text.split("\n")
    for i, current in enumerate(lines):
        if current.startswith("# "):
            return "\n".join([*lines[: i + 1], "", line, "", *lines[i + 1 :]])
    return "\n".join([line, "", text])


def _stage_notebook(source: Path, target: Path, line: str) -> None:
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _with_launch_button(cell.source, line)
            break
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


def myst_config(theme: Path, binder: str) -> dict:
    """The content of the project's ``myst.yml``."""
    return {
        "version": 1,
        "project": {
            "title": "TPM Skills Lab",
            "description": "A Jupyter notebook course of the technical skills a product "
            "manager needs, practised on the data of one fictional company, Orbit.",
            "license": {"content": "CC-BY-4.0", "code": "MIT"},
            "toc": toc(),
            # Outputs as the learner sees them; errors are failures of the build (above).
            "settings": {"output_matplotlib_strings": "remove"},
        },
        "site": {
            "template": str(theme),
            "title": "TPM Skills Lab",
            # A favicon of the course's own: the theme's default is a link to mystmd.org's.
            "options": {"logo_text": "TPM Skills Lab", "favicon": str(FAVICON)},
        },
    }


def stage(
    project: Path,
    theme: Path,
    *,
    execute: str = "all",
    cache: Path | None = None,
    jobs: int = 2,
    binder: str | None = None,
    log=print,
) -> list[Page]:
    """Write the site's MyST project into ``project`` (emptied first). ``execute`` is ``all``
    (the home page and every lesson), ``none``, or a comma-separated list of page paths."""
    from tpmlab.website.pages import binder_url

    binder = binder or binder_url()
    pages = all_pages()
    if project.exists():
        shutil.rmtree(project)
    project.mkdir(parents=True)
    if execute == "all":
        chosen = [p for p in pages if p.execute]
    elif execute == "none":
        chosen = []
    else:
        wanted = {w.strip() for w in execute.split(",") if w.strip()}
        unknown = wanted - {p.path for p in pages if p.execute}
        if unknown:
            raise TPMLabError(
                f"Not a lesson or the course home: {', '.join(sorted(unknown))}.",
                "Give paths such as course/03-ab-testing/02-analysis.ipynb, or all, or none.",
            )
        chosen = [p for p in pages if p.path in wanted]
    executed = execute_pages(chosen, cache or project.parent / "executed", jobs, log)
    for page in pages:
        line = _launch_line(page, binder)
        target = project / page.path
        if page.source.suffix == ".ipynb":
            _stage_notebook(executed.get(page.path, page.source), target, line)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_with_launch_button(page.source.read_text(), line))
    config = myst_config(theme, binder)
    (project / "myst.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return pages
