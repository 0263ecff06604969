"""Per-learner variants (tpmlab.variants): each learner's numbers, graded on the owner's variant.

- the parameters: the same id gives the same variant everywhere, variant 0 is the assignment as
  it read before variants, two variants ask different values in every group, an empty id says
  what to type (and JupyterHub's login fills it);
- the SQL assignment graded by ``tpmlab-grade autograde`` in the sandbox: two honest learners of
  different variants (one computing from ``V``, one typing their own values) get full marks, a
  learner who hands in a classmate's numbers loses exactly the questions with variants, and one
  who rewrites ``STUDENT_ID`` and the parameters cell to a classmate's is graded on their own
  variant and flagged; the keys built are those of the class's variants, once each.

The slow checks live in files of their own so that the test workers share them: a class of 60
with 8 variants (tests/test_variants_class.py) and every variant of every assignment
(tests/test_variants_keys_sql.py, tests/test_variants_keys_ab.py, with tests/variant_keys.py).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import pytest

from tests.variant_keys import VARIED
from tpmlab.grading import keys, notebooks
from tpmlab.grading.autograde import autograde
from tpmlab.grading.class_report import class_report
from tpmlab.grading.demo import make_course, solution_answers
from tpmlab.grading.feedback import generate_feedback
from tpmlab.grading.ipynb import read
from tpmlab.variants import (
    Parameters,
    VariantError,
    claimed_id,
    next_month,
    parse,
    pin,
    review_flags,
)

SQL = "01-sql-analytics"


# ---- the parameters ------------------------------------------------------------------------
def test_variants_are_stable_distinct_and_start_from_the_plain_assignment(monkeypatch):
    params = Parameters("demo", variants=8, q1={"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert params.at(0).q1_a == 1 and params.at(0).q1_b == "x"  # the first values
    combos = {(params.at(k).q1_a, params.at(k).q1_b) for k in range(8)}
    assert len(combos) == 8  # two variants never ask the same question
    assert params.of("ada") == Parameters("demo", 8, q1={"a": [1, 2, 3], "b": ["x", "y", "z"]}).of(
        "ada"
    )
    assert params.of("ada").number == params.number_of(" ada ")
    # the assignment's name is part of the hash: a learner's variants of two assignments differ
    other = Parameters("other", variants=8, q1={"a": [1, 2, 3], "b": ["x", "y", "z"]})
    names = [f"learner{i}" for i in range(20)]
    assert [other.number_of(n) for n in names] != [params.number_of(n) for n in names]
    assert params.of(5).number == 5
    with pytest.raises(VariantError, match="only 2 combinations"):
        Parameters("demo", variants=8, q1={"a": [1, 2]})

    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    monkeypatch.delenv("TPMLAB_STUDENT_ID", raising=False)
    with pytest.raises(VariantError, match="type your course id between the quotes"):
        params.of("")
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    assert params.of("") == params.of("ada")
    assert params.of("").student == "ada"
    monkeypatch.delenv("JUPYTERHUB_USER")
    monkeypatch.setenv("TPMLAB_STUDENT_ID", "bea")  # an author's, or the test suite's, default
    assert params.of("").student == "bea" and params.of("cy").student == "cy"
    with pytest.raises(AttributeError, match="they are: q1_a, q1_b"):
        _ = params.of("ada").q2_a
    assert "| `V.q1_a` |" in params.of("ada")._repr_markdown_()


def test_the_grader_reads_and_pins_a_parameters_cell_without_running_it():
    nb = read(keys.REPO_ROOT / "exercises" / SQL / "sql-analytics.ipynb")
    params = parse(nb)
    assert params.assignment == "sql-analytics" and params.count == 8
    assert params.at(0).q1_platform == "ios" and params.at(0).q5_month == "2025-03"
    assert next_month("2025-12") == "2026-01" and next_month("2025-02") == "2025-03"
    assert pin("V = 1", "ada").splitlines()[1] == "STUDENT_ID = 'ada'"
    assert claimed_id(nb) == ""
    cell = next(c for c in nb.cells if "STUDENT_ID = " in c.source and "Parameters" not in c.source)
    cell.source = 'STUDENT_ID = "bob"'
    assert claimed_id(nb) == "bob"
    source = read(keys.REPO_ROOT / "exercises" / SQL / "sql-analytics.ipynb")
    assert review_flags(nb, source, "Ada") == [
        "variant: STUDENT_ID says 'bob' (variant 4 of 8), graded on Ada's own variant 3 of 8"
    ]
    assert params.of("Ada ").number == params.of("ada").number  # as a learner may type it
    cell.source = 'STUDENT_ID: str = " ADA "'
    assert review_flags(nb, source, "ada") == []
    cell.source = 'STUDENT_ID = " "'  # blank (JupyterHub's login is used): nothing to flag
    assert review_flags(nb, source, "ada") == []
    nb.cells.append(nbformat.v4.new_code_cell('V = PARAMETERS.of("bob")\nSTUDENT_ID = "bob"'))
    assert review_flags(nb, source, "ada") == [
        "variant: another cell sets STUDENT_ID, V (graded on ada's own variant 3 of 8)"
    ]
    code = next(c for c in nb.cells if "PARAMETERS = Parameters(" in c.source)
    code.source = code.source.replace("variants=8", "variants=int('8')")
    with pytest.raises(VariantError, match="literal values only"):
        parse(nb)
    assert parse(read(keys.REPO_ROOT / "exercises" / "00-warmup" / "warmup.ipynb")) is None


# ---- grading the SQL assignment --------------------------------------------------------------
def _ids_of_distinct_variants(params: Parameters, n: int) -> list[str]:
    found: dict[int, str] = {}
    i = 0
    while len(found) < n:
        i += 1
        found.setdefault(params.number_of(f"learner{i:03d}"), f"learner{i:03d}")
    return list(found.values())


def _typed_in(answer: str, variant) -> str:
    """An f-string answer cell as a learner who types the values in writes it."""
    m = re.fullmatch(r'(\w+) = f"""(.*)"""\s*', answer, re.S)
    assert m, answer
    sql = eval('f"""' + m.group(2) + '"""', {"V": variant, "next_month": next_month})
    assert "{" not in sql
    return f'{m.group(1)} = """{sql}"""\n'


def _submit(course, student: str, nb) -> None:
    folder = course.submitted_dir(student, SQL)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / "sql-analytics.ipynb"))
    (folder / "timestamp.txt").write_text("2025-07-01 11:00:00.000000 UTC")


@pytest.mark.slow
@pytest.mark.sandbox
def test_sql_learners_are_graded_on_their_own_variant(tmp_path):
    course = make_course(tmp_path / "course", SQL)
    path = course.source_dir(SQL) / "sql-analytics.ipynb"
    source = notebooks.read(path)
    params = parse(source)
    answers = solution_answers(source)
    varied = [g for g, a in answers.items() if 'f"""' in a]
    assert varied == ["q1", "q3", "q5"], varied
    varied_points = sum(
        float(notebooks.grade_cells(source)[f"{g}-tests"]["points"]) for g in varied
    )
    total = sum(
        float(notebooks.grade_cells(source)[g]["points"])
        for g in notebooks.autograded_test_ids(source)
    )
    ada, bea, cy, dee = _ids_of_distinct_variants(params, 4)
    released = notebooks.release(source)

    _submit(course, ada, notebooks.substitute(released, answers))  # computes from V
    typed = {g: _typed_in(a, params.of(bea)) if g in varied else a for g, a in answers.items()}
    _submit(course, bea, notebooks.substitute(released, typed))  # types her own values in
    copied = {g: _typed_in(a, params.of(ada)) if g in varied else a for g, a in answers.items()}
    _submit(course, cy, notebooks.substitute(released, copied))  # hands in ada's numbers
    # dee claims to be ada, in her STUDENT_ID cell and in the parameters cell
    nb = notebooks.substitute(released, answers)
    for cell in nb.cells:
        if cell.source.startswith("STUDENT_ID ="):
            cell.source = f'STUDENT_ID = "{ada}"'
        elif "PARAMETERS.of(STUDENT_ID)" in cell.source:
            cell.source = cell.source.replace(
                "PARAMETERS.of(STUDENT_ID)", f'PARAMETERS.of("{ada}")'
            )
    _submit(course, dee, nb)

    keys.BUILDS.clear()
    results = {r.student: r for r in autograde(course, SQL, workers=2, progress=False)}
    assert results[ada].score == total, results[ada]
    assert results[bea].score == total, results[bea]
    assert results[cy].score == total - varied_points, results[cy]
    assert results[dee].score == total, results[dee]  # her own variant, whatever she wrote
    assert any(f.startswith("variant: parameters cell edited") for f in results[dee].flags)
    assert any(f"STUDENT_ID says '{ada}'" in f for f in results[dee].flags), results[dee].flags
    assert not any(f.startswith("variant:") for f in results[ada].flags + results[cy].flags)
    # the keys built: one per variant of the class, each once (cached keys are not rebuilt)
    built = [v for name, v in keys.BUILDS if name == "sql-analytics.ipynb"]
    assert len(built) == len(set(built)) <= 4
    assert set(built) <= {params.number_of(s) for s in (ada, bea, cy, dee)}
    for student in (ada, dee):  # the autograded notebook (and so the feedback) shows whose
        graded = read(course.autograded_dir(student, SQL) / "sql-analytics.ipynb")
        cell = next(c for c in graded.cells if "PARAMETERS = Parameters(" in c.source)
        assert f"STUDENT_ID = '{student}'" in cell.source
        # (the markdown table, rendered to sanitised HTML for the instructor's browser)
        shown = "".join(str(v) for o in cell.outputs for v in o.get("data", {}).values())
        assert params.of(student).label() in shown and student in shown, shown
    # the learner's feedback states their parameters; the class report each student's variant
    (page,) = [p for p in generate_feedback(course, SQL) if p.parent.parent.name == dee]
    html = page.read_text()
    assert params.of(dee).label() in html and repr(params.of(dee).q1_channel) in html.replace(
        "&#x27;", "'"
    ).replace("&#39;", "'")
    report = class_report(course, SQL).read_text()
    assert '<h2 id="variants">Variants</h2>' in report
    for student in (ada, bea, cy, dee):
        n = params.number_of(student)
        assert re.search(rf"{student}</td>.*?<td[^>]*>{n} of 8</td>", report, re.S), student


def test_the_assignments_with_variants_are_those_checked_variant_by_variant():
    """Every assignment with variants is in tests/variant_keys.py's VARIED and has a file of its
    own that checks each of its variants (tests/test_variants_keys_<name>.py)."""
    with_variants = sorted(
        p.relative_to(keys.REPO_ROOT / "exercises").as_posix()
        for p in (keys.REPO_ROOT / "exercises").glob("*/*.ipynb")
        if parse(read(p)) is not None
    )
    checked = sorted(
        importlib.import_module(f"tests.{p.stem}").ASSIGNMENT
        for p in Path(__file__).parent.glob("test_variants_keys_*.py")
    )
    assert with_variants == sorted(VARIED) == checked
