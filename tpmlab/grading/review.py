"""Review flags for a submission: what an instructor should look at before trusting a grade.

nbgrader restores test cells from the source before grading, so an edited or deleted test cell
cannot change a score; it is still worth a look. Flags: missing or corrupt notebooks, extra
files, edited or deleted test cells, a parameters cell or ``STUDENT_ID`` that is not the owner's
(on an assignment with per-learner variants, :mod:`tpmlab.variants`), and code that reaches for
the grader's machinery.

The ``suspicious code`` flags come from reading the source for patterns: they are **advice** for
a human reader, not detection. A name built from strings (``getattr(os, "sy" + "stem")``,
``vars(module)[...] = ...``) evades every one of them. What the sandbox enforces and records
(``sandbox refused: ...`` from :mod:`tpmlab.grading.sandbox`, ``sandbox saw: ...`` from
:mod:`tpmlab.grading.sentinel`) is the evidence to trust. The review never raises on what a
student submitted: an unreadable notebook or code too deeply nested to parse is a flag.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from tpmlab import variants
from tpmlab.errors import TPMLabError
from tpmlab.grading.ipynb import is_autograded_test, same_code, strip_hidden

# Code an honest answer never needs: these are flagged for review, never penalised.
SUSPICIOUS = {
    "input transformers": re.compile(r"input_transformers|register_transformer|\bast_transformers"),
    "builtins patching": re.compile(r"\bbuiltins\b|__builtins__"),
    "sys.modules": re.compile(r"sys\.modules"),
    "ctypes": re.compile(r"\bctypes\b"),
    "os._exit": re.compile(r"os\._exit|sys\.exit"),
    "subprocess": re.compile(r"\bsubprocess\b|os\.system|os\.popen"),
    "sockets": re.compile(r"\bsocket\b"),
    "__eq__ override": re.compile(r"def\s+__eq__|def\s+__bool__"),
    "patched course helpers": re.compile(r"\btpmlab(\.\w+)+\s*=[^=]|\bsetattr\(\s*tpmlab"),
    "exception handler": re.compile(r"set_custom_exc|\bshowtraceback\b|sys\.excepthook"),
    "course files": re.compile(r"gradebook|nbgrader_config|/submitted/|/autograded/|/exercises/"),
    "process spawning": re.compile(r"os\.fork|os\.spawn|os\.setsid|multiprocessing"),
}


# Imported code a submission has no business changing: patching it could change what the
# hidden tests observe (the practice API server, the check helpers, the kernel itself).
PATCH_WATCH = ("tpmlab", "IPython", "ipykernel", "builtins", "sys", "requests", "httpx", "urllib3")
PATCH_WATCH_CLASSES = ("pandas", "numpy")  # only their classes (pd.options.x = ... is fine)


def _watched(module: str) -> bool:
    return module.split(".")[0] in PATCH_WATCH + PATCH_WATCH_CLASSES


def patched_imports(code: str) -> list[str]:
    """The imported modules whose attributes ``code`` reassigns (``g.Limiter.allow = ...``,
    ``setattr(module, ...)``, ``del module.x``), for the modules above. Cells that do not parse
    (IPython magics, syntax errors) are read line by line as far as they parse."""
    import ast

    found: list[str] = []
    aliases: dict[str, str] = {}

    def root(node) -> tuple[str | None, list[str]]:
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        return (node.id if isinstance(node, ast.Name) else None), chain[::-1]

    def check_target(node) -> None:
        if not isinstance(node, ast.Attribute):
            return
        name, chain = root(node)
        module = aliases.get(name or "")
        if module is None:
            return
        top = module.split(".")[0]
        if top in PATCH_WATCH_CLASSES and not any(part[:1].isupper() for part in chain[:-1]):
            return  # pd.options.display.max_rows = 100 is an honest habit
        if module not in found:
            found.append(module)

    try:
        tree = ast.parse(code)
    except SyntaxError:
        kept = [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(kept))
        except SyntaxError:
            return found
    # (absurdly nested code raises RecursionError or MemoryError here: review_submission turns
    # that into a flag, never a crash)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if _watched(a.name):
                    # `import a.b as g` binds g to a.b; `import a.b` binds a
                    bound = a.asname or a.name.split(".")[0]
                    aliases[bound] = a.name if a.asname else bound
        elif isinstance(node, ast.ImportFrom) and node.module and _watched(node.module):
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.Delete)):
            for target in node.targets:
                check_target(target)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            check_target(node.target)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("setattr", "delattr")
            and node.args
        ):
            name, _ = root(node.args[0])
            module = aliases.get(name or "")
            if module is not None and module not in found:
                found.append(module)
    return found


def _source(cell) -> str:
    """A cell's source as text (a hand-edited notebook may hold anything there)."""
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def _well_formed(nb) -> str | None:
    """Why ``nb`` is not a notebook nbgrader can grade as written, or None."""
    cells = nb.get("cells")
    if not isinstance(cells, list):
        return "no list of cells"
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or not isinstance(cell.get("metadata", {}), dict):
            return f"cell {i} is not a cell"
        source = cell.get("source", "")
        if not (
            isinstance(source, str)
            or (isinstance(source, list) and all(isinstance(s, str) for s in source))
        ):
            return f"cell {i} has a source of type {type(source).__name__}"
    return None


def _test_cells(nb) -> dict[str, str]:
    return {
        cell.metadata["nbgrader"]["grade_id"]: _source(cell)
        for cell in nb.cells
        if is_autograded_test(cell)
    }


def review_submission(course, assignment: str, folder: Path) -> list[str]:
    """Flags for the submission in ``folder`` (empty for an ordinary honest submission)."""
    flags: list[str] = []
    expected = course.source_notebooks(assignment)
    allowed = set(expected) | {"timestamp.txt"}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel not in allowed and ".ipynb_checkpoints" not in rel:
            flags.append(f"extra file: {rel}")
    for name in expected:
        path = folder / name
        if not path.exists():
            flags.append(f"missing notebook: {name}")
            continue
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception as exc:  # any parse error means an unreadable notebook
            flags.append(f"corrupt notebook: {name} ({type(exc).__name__})")
            continue
        problem = _well_formed(nb)
        if problem:
            flags.append(f"corrupt notebook: {name} ({problem})")
        source_nb = nbformat.read(str(course.source_dir(assignment) / name), as_version=4)
        if not problem:  # a learner's id or parameters that are not the owner's
            try:
                flags += variants.review_flags(nb, source_nb, folder.parent.name)
            except (RecursionError, MemoryError, ValueError, TPMLabError) as exc:
                flags.append(f"variant: the parameters could not be read ({type(exc).__name__})")
        theirs = _test_cells(nb)
        for grade_id, source in _test_cells(source_nb).items():
            if grade_id not in theirs:
                flags.append(f"deleted test cell: {grade_id}")
            elif not same_code(strip_hidden(source), strip_hidden(theirs[grade_id])):
                flags.append(f"edited test cell: {grade_id}")
        code = "\n".join(
            _source(c)
            for c in nb.cells
            if isinstance(c, dict)
            and c.get("cell_type") == "code"
            and not (c.get("metadata", {}).get("nbgrader") or {}).get("grade")
        )
        for label, pattern in SUSPICIOUS.items():
            if pattern.search(code):
                flags.append(f"suspicious code: {label}")
        try:
            patched = patched_imports(code)
        except (RecursionError, MemoryError) as exc:
            flags.append(f"suspicious code: too deeply nested to analyse ({type(exc).__name__})")
            patched = []
        if patched:
            flags.append(f"suspicious code: patches imported code ({', '.join(patched[:3])})")
    return flags
