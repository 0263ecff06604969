"""tpmlab.abtest.experiments: one experiment's users, arms and outcomes, as the A/B lessons read
them (checked against the tables they come from)."""

import pandas as pd
import pytest

from tpmlab.abtest import experiment_users
from tpmlab.errors import TPMLabError


def test_one_row_per_assigned_user_with_their_outcomes(orbit_engine):
    users = experiment_users("onboarding_checklist", orbit_engine)
    assigned = pd.read_sql(
        "SELECT user_id, variant FROM experiment_assignments "
        "WHERE experiment_id = 'onboarding_checklist'",
        orbit_engine,
    )
    assert list(users.columns) == [
        "user_id",
        "variant",
        "platform",
        "converted",
        "revenue_usd",
        "tasks_created",
        "pre_tasks_created",
        "page_load_ms",
    ]
    assert users["user_id"].is_unique
    assert len(users) == len(assigned)
    merged = users.merge(assigned, on="user_id", suffixes=("", "_assigned"))
    assert (merged["variant"] == merged["variant_assigned"]).all()
    assert set(users["variant"]) == {"control", "treatment"}
    # the outcomes are this experiment's, not another's for the same user
    conv = pd.read_sql(
        "SELECT SUM(converted) AS n FROM experiment_outcomes "
        "WHERE experiment_id = 'onboarding_checklist'",
        orbit_engine,
    )["n"].iloc[0]
    assert users["converted"].sum() == conv


def test_an_unknown_experiment_names_the_known_ones(orbit_engine):
    with pytest.raises(TPMLabError, match="(?s)no experiment .* 'onboarding'.*bulk_edit"):
        experiment_users("onboarding", orbit_engine)
