"""Answer keys: what the solution's hidden tests record, built in the grading process and cached.

Hidden test cells record the student's answers with :func:`tpmlab.scoring.answer` instead of
comparing them in the student's kernel (see that module for why). The judge
(:mod:`tpmlab.grading.judge`) compares those records with a key made here:

- :func:`build_key` runs the instructor's source notebook (the solution) in a fresh kernel and
  keeps, for every autograded test cell, the answers it recorded and how to compare them. It
  refuses a source whose solution fails its own test cells, whose test cell records nothing or
  records a key twice, or whose answers cannot be compared.
- :func:`load_key` caches keys by a fingerprint of the notebook, the dataset and the tpmlab code
  (:func:`fingerprint`), in :func:`key_dir` (inside the course folder, which the sandboxed
  kernels cannot see). ``python -m tpmlab.grading.keys SOURCE.ipynb`` builds or checks them.
- An assignment with per-learner variants (:mod:`tpmlab.variants`) has one key per variant:
  ``variant=k`` runs the solution with its parameters cell pinned to variant ``k``. Keys are built
  only for the variants a class has (:func:`variant_number` says a student's), once each, and
  :data:`BUILDS` counts the builds of this process.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from tpmlab.errors import TPMLabError
from tpmlab.grading.ipynb import execute, read
from tpmlab.grading.judge import code_cells, contains_object
from tpmlab.paths import REPO_ROOT, data_dir

FORMAT = 1
#: Answer keys built by this process (source name, variant), in order: what a run cost in builds.
BUILDS: list[tuple[str, int | None]] = []


class AnswerKeyError(TPMLabError):
    """The source notebook cannot give an answer key (its solution fails, or records nothing)."""


# ---- where keys live ---------------------------------------------------------------------------
def key_dir() -> Path:
    """Cached keys: ``TPMLAB_ANSWER_KEYS``, else ``autograder/.answer-keys`` (never committed, and
    outside everything a sandboxed kernel can read)."""
    return Path(os.environ.get("TPMLAB_ANSWER_KEYS", REPO_ROOT / "autograder" / ".answer-keys"))


def _code_hash() -> str:
    digest = hashlib.sha256()
    package = REPO_ROOT / "tpmlab"
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def variant_number(source: str | Path, student: str) -> int | None:
    """The variant ``student`` is graded on for ``source`` (None: the assignment has none)."""
    from tpmlab.variants import variant_of

    found = variant_of(read(Path(source)), student)
    return None if found is None else found.number


def _has_variants(source: Path) -> bool:
    from tpmlab.variants import parameters_cell

    return parameters_cell(read(source)) is not None


def pinned(nb, variant: int | None):
    """``nb`` with its parameters cell pinned to ``variant`` (unchanged without variants; variant
    0 when None is given for a notebook with variants)."""
    from tpmlab.variants import parameters_cell, pin

    cell = parameters_cell(nb)
    if cell is None:
        if variant is not None:
            raise AnswerKeyError(
                f"variant {variant} asked for a notebook without a parameters cell",
                "Build its key without variant=.",
            )
        return nb
    if variant is None:
        variant = 0  # the assignment as it reads without variants
    cell.source = pin(cell.source, variant)
    return nb


def fingerprint(source: str | Path, variant: int | None = None) -> str:
    """What a key depends on: the source notebook, the variant, the built dataset, the code."""
    digest = hashlib.sha256(f"tpmlab-answer-key-{FORMAT}-variant-{variant}".encode())
    digest.update(Path(source).read_bytes())
    manifest = data_dir() / "manifest.json"
    digest.update(manifest.read_bytes() if manifest.exists() else b"no dataset")
    digest.update(_code_hash().encode())
    return digest.hexdigest()


# ---- building a key ---------------------------------------------------------------------------
def build_key(source: str | Path, *, timeout: int = 300, variant: int | None = None) -> dict:
    """Run the source notebook (the solution; pinned to ``variant`` if it has variants) and
    return its answer key."""
    source = Path(source)
    BUILDS.append((source.name, variant))
    executed = execute(pinned(read(source), variant), cwd=source.parent, timeout=timeout)
    cells: dict[str, list[dict]] = {}
    problems: list[str] = []
    for _cell, gid, records, others in code_cells(executed):
        if gid is None:
            if records:
                problems.append("answer() is called outside an autograded test cell")
            continue
        errors = [o for o in others if o.get("output_type") == "error"]
        if errors:
            problems.append(
                f"{gid}: the solution fails its own test cell "
                f"({errors[0].get('ename')}: {errors[0].get('evalue')})"
            )
            continue
        if not records:
            problems.append(f"{gid}: the hidden tests record no answer")
            continue
        keys = [r.get("key") for r in records]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            problems.append(f"{gid}: answer key(s) {dupes} recorded more than once")
        for rec in records:
            if contains_object(rec.get("value")):
                problems.append(
                    f"{gid}: the answer {rec.get('key')!r} is not plain data "
                    f"({rec.get('value')!r:.80}); record numbers, text, lists or pandas objects"
                )
        cells[gid] = [
            {k: rec[k] for k in ("key", "value", "rel", "abs", "ordered") if k in rec}
            for rec in records
        ]
    if problems:
        raise AnswerKeyError(
            f"{source.name} cannot give an answer key: " + "; ".join(problems),
            "Fix the source notebook: run it top to bottom; every autograded test cell must pass "
            "with the solution and record at least one answer with tpmlab.scoring.answer() in "
            "its hidden block.",
        )
    return {
        "format": FORMAT,
        "notebook": source.name,
        "variant": variant,
        "fingerprint": fingerprint(source, variant),
        "cells": cells,
    }


def key_file(notebook: str, variant: int | None, fp: str) -> str:
    """The cache file name of the key of ``notebook`` (a variant's, or the only one)."""
    tag = "" if variant is None else f"-v{variant}"
    return f"{Path(notebook).stem}{tag}-{fp[:24]}.json"


def class_keys(course, assignment: str, students: list[str], *, build: bool = True) -> dict:
    """The answer keys grading ``students`` needs, by cache file name: each source notebook's
    key, or on an assignment with variants the key of each variant these students have (built
    here once each when missing and ``build``)."""
    from tpmlab.variants import parse

    out = {}
    for name in course.source_notebooks(assignment):
        source = course.source_dir(assignment) / name
        params = parse(read(source))
        wanted: list[int | None] = [None]
        if params is not None:
            wanted = [*sorted({params.number_of(s) for s in students})]
        for variant in wanted:
            key = load_key(source, build=build, variant=variant)
            out[key_file(name, key.get("variant"), key["fingerprint"])] = key
    return out


def load_key(source: str | Path, *, build: bool = True, variant: int | None = None) -> dict:
    """The cached key of ``source`` (built and cached first if missing or stale); ``variant``:
    the key of that variant of an assignment with per-learner variants."""
    source = Path(source)
    if variant is None and _has_variants(source):
        variant = 0  # the assignment as it reads without variants: the same key as variant 0
    fp = fingerprint(source, variant)
    path = key_dir() / key_file(source.name, variant, fp)
    try:
        key = json.loads(path.read_text())
        if key.get("fingerprint") == fp and key.get("format") == FORMAT:
            return key
    except (OSError, ValueError):
        pass
    if not build:
        raise AnswerKeyError(
            f"There is no answer key for {source.name} at {path}.",
            "Run `tpmlab-grade autograde` (it builds the keys first) or "
            "`python -m tpmlab.grading.keys SOURCE.ipynb`.",
        )
    key = build_key(source, variant=variant)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".key-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(key, handle)
    os.replace(tmp, path)
    return key


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tpmlab.grading.keys",
        description="Build (or check) the answer key of source notebooks: runs each solution "
        "once and prints what its hidden tests record.",
    )
    parser.add_argument("sources", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for source in args.sources:
        key = load_key(source)
        n = sum(len(v) for v in key["cells"].values())
        print(f"{source}: {len(key['cells'])} test cells, {n} recorded answers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
