"""The check that every variant of an assignment is sound and asks its own numbers, shared by
tests/test_variants_keys_sql.py and tests/test_variants_keys_ab.py (one file each, so that the
test workers build the two assignments' keys side by side)."""

from __future__ import annotations

from tpmlab.grading import keys
from tpmlab.grading.ipynb import read
from tpmlab.variants import parse

VARIED = {  # the test cells whose expected answers must differ between any two variants
    "01-sql-analytics/sql-analytics.ipynb": {"q1-tests", "q3-tests", "q5-tests"},
    "03-ab-testing/ab-testing.ipynb": {"q3-tests"},
}


def check_every_variant(name: str) -> None:
    """Each variant's solution passes its own tests (a key builds), the varied questions expect
    other answers in every other variant, and the rest of the assignment does not move."""
    path = keys.REPO_ROOT / "exercises" / name
    params = parse(read(path))
    built = {k: keys.load_key(path, variant=k)["cells"] for k in range(params.count)}
    for j in range(params.count):
        for k in range(j + 1, params.count):
            differ = {g for g in built[j] if built[j][g] != built[k][g]}
            assert differ == VARIED[name], (j, k, sorted(differ))
