"""The pages of the course website, in teaching order: what each is made from, where it sits in
the site's project, its title, and the Binder link that opens the same notebook in JupyterLab.

The site's project folder mirrors what a learner has after ``make lab`` (and on Binder):
``course/`` (the home page and the lessons), ``assignments/`` (the student versions from
``autograder/release/``, never the sources in ``exercises/``) and ``datasets/README.md``. So the
course's own relative links (``../assignments/00-warmup/warmup.ipynb``) work on the site
unchanged, and a page's path in the project is the path Binder opens.

The repository Binder launches from is ``[tool.tpmlab.website] binder`` in ``pyproject.toml``
(the same URL as the README's badge); ``TPMLAB_BINDER_URL`` overrides it.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from tpmlab.errors import TPMLabError
from tpmlab.hygiene import is_lesson
from tpmlab.paths import REPO_ROOT

HOME = "course/index.ipynb"
DICTIONARY = "datasets/README.md"
MODULE_HEADING = re.compile(r"^### Module (\d+): (.+)$", re.M)


@dataclass(frozen=True)
class Page:
    """One page of the site."""

    source: Path  #: the file it is made from
    path: str  #: its path in the site's project (and on Binder), e.g. ``course/index.ipynb``
    kind: str  #: ``home``, ``lesson``, ``assignment`` or ``dictionary``
    title: str

    @property
    def execute(self) -> bool:
        """Whether the site shows it executed: the home page and the lessons. An assignment is
        shown as a learner receives it (its answers are theirs to write), the dictionary is text."""
        return self.kind in ("home", "lesson")


@dataclass(frozen=True)
class Module:
    """A module of the course: its lessons, then its graded assignments."""

    number: int
    title: str
    lessons: tuple[Page, ...]
    assignments: tuple[Page, ...]


def binder_url() -> str:
    """The Binder URL of the course repository (no trailing slash, no query)."""
    if os.environ.get("TPMLAB_BINDER_URL"):
        return os.environ["TPMLAB_BINDER_URL"].rstrip("/")
    pyproject = REPO_ROOT / "pyproject.toml"
    config = tomllib.loads(pyproject.read_text()).get("tool", {}).get("tpmlab", {})
    url = config.get("website", {}).get("binder")
    if not url:
        raise TPMLabError(
            "The course website needs the repository's Binder URL and none is configured.",
            "Set [tool.tpmlab.website] binder = 'https://mybinder.org/v2/gh/OWNER/REPO/BRANCH' "
            "in pyproject.toml, or the TPMLAB_BINDER_URL environment variable.",
        )
    return str(url).rstrip("/")


def launch_url(page_path: str, base: str | None = None) -> str:
    """The Binder link that opens ``page_path`` (a path in the learner's tree) in JupyterLab."""
    return f"{base or binder_url()}?urlpath={quote('lab/tree/' + page_path, safe='/')}"


def _first_heading(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None


def notebook_title(path: Path) -> str:
    """The first ``# `` heading of a notebook's markdown, else its file name."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            title = _first_heading("".join(cell["source"]))
            if title:
                return title
    return path.stem


def _module_titles(root: Path) -> dict[int, str]:
    """Module number -> title, from the course home's ``### Module N: Title`` headings."""
    nb = json.loads((root / HOME).read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return {int(n): title.strip() for n, title in MODULE_HEADING.findall(text)}


def modules(root: Path = REPO_ROOT) -> list[Module]:
    """The course's modules in teaching order (``course/NN-*``), each with its lessons
    (``NN-*.ipynb`` in order) and its assignments (``autograder/release/NN-*``)."""
    titles = _module_titles(root)
    release = root / "autograder" / "release"
    out = []
    for folder in sorted(p for p in (root / "course").iterdir() if p.is_dir()):
        match = re.match(r"(\d\d)-", folder.name)
        if not match:
            continue
        number = int(match.group(1))
        lessons = tuple(
            Page(nb, nb.relative_to(root).as_posix(), "lesson", notebook_title(nb))
            for nb in sorted(folder.glob("*.ipynb"))
            if is_lesson(nb.relative_to(root))
        )
        assignments = tuple(
            Page(nb, f"assignments/{nb.parent.name}/{nb.name}", "assignment", notebook_title(nb))
            for nb in sorted(release.glob(f"{match.group(1)}-*/*.ipynb"))
        )
        title = titles.get(number, folder.name[3:].replace("-", " ").capitalize())
        out.append(Module(number, title, lessons, assignments))
    return out


def all_pages(root: Path = REPO_ROOT) -> list[Page]:
    """Every page of the site in the order of its navigation."""
    home = Page(root / HOME, HOME, "home", notebook_title(root / HOME))
    pages = [home]
    for module in modules(root):
        pages += [*module.lessons, *module.assignments]
    dictionary = root / DICTIONARY
    title = _first_heading(dictionary.read_text()) or "Data dictionary"
    pages.append(Page(dictionary, DICTIONARY, "dictionary", title))
    return pages


def toc(root: Path = REPO_ROOT) -> list[dict]:
    """The navigation of ``myst.yml``: the home page, a section per module (lessons, then
    assignments), then the data dictionary."""
    entries: list[dict] = [{"file": HOME}]
    for module in modules(root):
        children = [{"file": p.path} for p in (*module.lessons, *module.assignments)]
        entries.append({"title": f"Module {module.number}: {module.title}", "children": children})
    entries.append({"title": "Reference", "children": [{"file": DICTIONARY}]})
    return entries
