"""Every variant of the SQL assignment (01-sql-analytics/sql-analytics.ipynb):
each variant's solution passes its own tests, and the questions with variants expect other
answers in every other variant (tests/variant_keys.py)."""

import pytest

from tests.variant_keys import check_every_variant

#: The assignment this file checks (tests/test_variants.py checks that every assignment with
#: variants has its file).
ASSIGNMENT = "01-sql-analytics/sql-analytics.ipynb"


@pytest.mark.slow
def test_every_variant_is_sound_and_asks_its_own_numbers():
    check_every_variant(ASSIGNMENT)
