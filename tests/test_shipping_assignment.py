"""Module 7 assignment (shipping software): plausible wrong answers fail their question, through
the same judge as grading; the mutation question gives each killed mutant its points.

The wrong answers come from the question text: the mean instead of the median, days instead of
hours, counting failed statuses only or counting incidents instead of deploys, every incident
instead of the deploy-caused ones or only those of failed and rolled-back deploys, the time to
detect, dividing by deploy days, forgetting the last day, typing in the period or counting days
on raw timestamps; any of Part A handed to the lesson's package tpmlab.shipping; a test suite
that asserts nothing, one that checks status codes only, one that fails against the correct
server; and, for each security finding, requests that use no flaw (one's own task, a missing
task, no token or a token that is not a JWT, a harmless field, the maximum page size or a
misspelt parameter, a route that is not the admin route), mass assignment of a field or value
that does not make the caller admin, and demonstrations that assume success (one page of 1000
tasks, an assert on the PATCH), which the fixed server refuses.
"""

from __future__ import annotations

import pytest

from tpmlab.grading import notebooks as nbs
from tpmlab.paths import REPO_ROOT

PATH = REPO_ROOT / "exercises" / "07-shipping-software" / "shipping-software.ipynb"
MUTANT_CELLS = [
    "q5_pagination_tests",
    "q5_not_found_tests",
    "q5_duplicate_tests",
    "q5_filter_tests",
]
QUESTIONS = ["q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10"]

pytestmark = pytest.mark.slow

LT = """def lead_time_by_service(eng):
    d = pd.read_sql("SELECT service, deployed_at, first_commit_at FROM deploys", eng,
                    parse_dates=["deployed_at", "first_commit_at"])
    h = (d["deployed_at"] - d["first_commit_at"]).dt.total_seconds()
    return {s: float(x.%s) for s, x in h.groupby(d["service"])}"""
CFR = """def change_failure_rate(eng):
    d = pd.read_sql("SELECT deploy_id, status FROM deploys", eng)
    i = pd.read_sql("SELECT cause_deploy_id FROM incidents", eng)
    %s"""
RT = """def recovery_time_hours(eng):
    i = pd.read_sql("SELECT * FROM incidents", eng,
                    parse_dates=["started_at", "detected_at", "resolved_at"])
    %s"""
DF = """def deploys_per_day(eng):
    d = pd.read_sql("SELECT deployed_at FROM deploys", eng, parse_dates=["deployed_at"])
    days = d["deployed_at"].dt.normalize()
    %s"""
HELPERS = """
def _h(token):
    return {"Authorization": f"Bearer {token}"}
"""
NOTHING = (
    HELPERS
    + """
def test_pages(base_url, token):
    requests.get(f"{base_url}/v1/tasks", headers=_h(token), params={"limit": 7, "offset": 7})

def test_missing(base_url, token):
    requests.get(f"{base_url}/v1/tasks/999999", headers=_h(token))

def test_duplicate(base_url, token):
    for _ in range(2):
        requests.post(f"{base_url}/v1/tasks", headers=_h(token), json={"title": "Twice"})

def test_filter(base_url, token):
    r = requests.get(f"{base_url}/v1/tasks", headers=_h(token), params={"status": "done"})
    r.json()
"""
)
STATUSES = (
    HELPERS
    + """
def test_pages(base_url, token):
    r = requests.get(f"{base_url}/v1/tasks", headers=_h(token), params={"limit": 7, "offset": 7})
    assert r.status_code == 200

def test_missing(base_url, token):
    assert requests.get(f"{base_url}/v1/tasks/999999", headers=_h(token)).status_code == 404

def test_duplicate(base_url, token):
    r1 = requests.post(f"{base_url}/v1/tasks", headers=_h(token), json={"title": "Twice"})
    r2 = requests.post(f"{base_url}/v1/tasks", headers=_h(token), json={"title": "Twice"})
    assert r1.status_code == 201 and r2.status_code == 409

def test_filter(base_url, token):
    r = requests.get(f"{base_url}/v1/tasks", headers=_h(token), params={"status": "done"})
    assert r.status_code == 200
"""
)
# catches everything, but asserts that the last page is full, which the correct server's is not
FAILS_ON_CORRECT = (
    HELPERS
    + """
def test_every_page_is_full(base_url, token):
    offset = 0
    while True:
        body = requests.get(f"{base_url}/v1/tasks", headers=_h(token),
                            params={"limit": 7, "offset": offset}).json()
        assert len(body["data"]) == 7
        offset += 7
        if offset >= body["total"]:
            break

def test_missing(base_url, token):
    assert requests.get(f"{base_url}/v1/tasks/999999", headers=_h(token)).status_code == 404

def test_filter(base_url, token):
    r = requests.get(f"{base_url}/v1/tasks", headers=_h(token),
                     params={"status": "done", "limit": 50})
    assert all(t["status"] == "done" for t in r.json()["data"])
"""
)
OWN_TASK = """def demonstrate_bola(base_url, token):
    h = {"Authorization": f"Bearer {token}"}
    first = requests.get(f"{base_url}/v1/tasks", headers=h).json()["data"][0]["id"]
    return requests.get(f"{base_url}/v1/tasks/{first}", headers=h)"""
MISSING_TASK = """def demonstrate_bola(base_url, token):
    h = {"Authorization": f"Bearer {token}"}
    return requests.get(f"{base_url}/v1/tasks/999999", headers=h)"""
AUTH = """def demonstrate_broken_auth(base_url, token):
    return requests.get(f"{base_url}/v1/me", %s)"""
PATCH = """def demonstrate_mass_assignment(base_url, token):
    return requests.patch(f"{base_url}/v1/me", headers={"Authorization": f"Bearer {token}"},
                          json=%s)"""
PAGE = """def demonstrate_unbounded_page(base_url, token):
    return requests.get(f"{base_url}/v1/tasks", headers={"Authorization": f"Bearer {token}"},
                        params=%s)"""
BFLA = """def demonstrate_bfla(base_url, token):
    return requests.get(f"{base_url}%s", headers={"Authorization": f"Bearer {token}"})"""
# Part A through the lesson's package (tpmlab.shipping.dora computes all four metrics)
PKG_LT = """def lead_time_by_service(eng):
    from tpmlab.shipping import dora
    return dora.by_service(*dora.load(eng))["lead_time_h"].to_dict()"""
PKG_CFR = """def change_failure_rate(eng):
    import tpmlab.shipping.dora as d
    return d.change_failure_rate(*d.load(eng))"""
PKG_RT = """from tpmlab.shipping import dora as _dora

def recovery_time_hours(eng):
    return _dora.recovery_time_hours(_dora.load(eng)[1])"""
PKG_DF = """import tpmlab

def deploys_per_day(eng):
    return tpmlab.shipping.dora.deployment_frequency(tpmlab.shipping.dora.load(eng)[0])"""
# only incidents whose causing deploy failed or was rolled back (a success can cause one too)
RT_FAILED_ONLY = """def recovery_time_hours(eng):
    i = pd.read_sql(
        "SELECT i.started_at, i.resolved_at FROM incidents i JOIN deploys d "
        "ON d.deploy_id = i.cause_deploy_id WHERE d.status IN ('failed', 'rolled_back')",
        eng, parse_dates=["started_at", "resolved_at"])
    return float(((i.resolved_at - i.started_at).dt.total_seconds() / 3600).median())"""
# Q6 that reads all its tasks in one page of 1000: the fixed server refuses it (422, no "data")
BOLA_BIG_PAGE = """def demonstrate_bola(base_url, token):
    h = {"Authorization": f"Bearer {token}"}
    body = requests.get(f"{base_url}/v1/tasks", headers=h, params={"limit": 1000}).json()
    own = {t["id"] for t in body["data"]}
    other = min(set(range(1, max(own))) - own)
    return requests.get(f"{base_url}/v1/tasks/{other}", headers=h)"""
# Q8 that asserts its PATCH worked: the fixed server refuses it (422, no "role")
PATCH_ASSERTS = """def demonstrate_mass_assignment(base_url, token):
    r = requests.patch(f"{base_url}/v1/me", headers={"Authorization": f"Bearer {token}"},
                       json={"role": "admin"})
    assert r.json()["role"] == "admin"
    return r"""

WRONG = [
    {
        "q1": LT % "median() / 86400",  # days, not hours
        "q2": CFR % "return float(d['status'].isin(['failed', 'rolled_back']).mean())",
        "q3": RT
        % "return float(((i.resolved_at - i.started_at).dt.total_seconds() / 3600).median())",
        "q4": DF % "return len(d) / days.nunique()",
        "q5": NOTHING,
        "q6": OWN_TASK,
        "q7": AUTH % "",  # no token at all
        "q8": PATCH % '{"name": "Admin"}',
        "q9": PAGE % '{"limit": 50}',
        "q10": BFLA % "/v1/me",
    },
    {
        "q1": LT % "mean() / 3600",
        "q2": CFR % "bad = d['status'].isin(['failed', 'rolled_back']).sum()\n"
        "    return float((bad + i['cause_deploy_id'].notna().sum()) / len(d))",
        "q3": RT % "c = i[i.cause_deploy_id.notna()]\n"
        "    return float(((c.resolved_at - c.started_at).dt.total_seconds() / 3600).mean())",
        "q4": DF % "return len(d) / (days.max() - days.min()).days",
        "q5": STATUSES,
        "q6": MISSING_TASK,
        "q7": AUTH % 'headers={"Authorization": "Bearer expired-token"}',
        "q8": PATCH % '{"is_admin": True}',
        "q9": PAGE % '{"per_page": 1000}',
        "q10": BFLA % "/admin/users",
    },
    {
        "q1": PKG_LT,
        "q2": PKG_CFR,
        "q3": RT % "c = i[i.cause_deploy_id.notna()]\n"
        "    return float(((c.detected_at - c.started_at).dt.total_seconds() / 3600).median())",
        "q4": PKG_DF,
        "q5": FAILS_ON_CORRECT,
        "q6": BOLA_BIG_PAGE,
        "q8": PATCH % '{"workspace_id": 3}',  # uses the flaw, but does not make the caller admin
    },
    # Two more runs: Q3, Q4 and Q8 have more plausible wrong answers than three runs hold. Their
    # Q5 is the suite that asserts nothing, already proven to fail, because it keeps a run short.
    {
        "q3": PKG_RT,
        "q4": DF % "return len(d) / 181",  # Orbit's period typed in
        "q5": NOTHING,
        "q8": PATCH % '{"role": "superuser"}',
    },
    {
        "q3": RT_FAILED_ONLY,
        # raw timestamps: Orbit's first deploy is earlier in the day than its last
        "q4": DF % "return len(d) / ((d.deployed_at.max() - d.deployed_at.min()).days + 1)",
        "q5": NOTHING,
        "q8": PATCH_ASSERTS,
    },
]


@pytest.fixture(scope="module")
def runs():
    return [nbs.run(PATH, wrong) for wrong in WRONG]


def _cells(qid: str) -> list[str]:
    return MUTANT_CELLS if qid == "q5" else [f"{qid}_tests"]


def test_wrong_answers_fail_and_the_others_pass(runs):
    for n, (wrong, results) in enumerate(zip(WRONG, runs, strict=True)):
        for qid in QUESTIONS:
            for cell in _cells(qid):
                if qid not in wrong:
                    assert results[cell].passed, (
                        f"run {n}: solution of {cell}: {results[cell].error}"
                    )
                elif wrong[qid] is STATUSES and cell in (
                    "q5_not_found_tests",
                    "q5_duplicate_tests",
                ):
                    # checking statuses does catch the two mutants that change a status
                    assert results[cell].passed and results[cell].points == 3, results[cell].error
                else:
                    assert not results[cell].passed, f"run {n}: the wrong {qid} passed {cell}"
                    assert results[cell].points == 0


def test_messages_say_what_to_fix(runs):
    first, second, third, fourth, fifth = runs
    assert "days" in first["q1_tests"].error
    assert "mean" in second["q1_tests"].error
    assert "status is 'success'" in first["q2_tests"].error
    assert "Count deploys, not incidents" in second["q2_tests"].error
    assert "all incidents" in first["q3_tests"].error
    assert "This is the mean" in second["q3_tests"].error
    assert "every calendar day" in first["q4_tests"].error
    assert "+ 1" in second["q4_tests"].error
    assert "off-by-one pagination" in first["q5_pagination_tests"].error
    assert "ignores status" in second["q5_filter_tests"].error
    assert "fails against the CORRECT server" in third["q5_not_found_tests"].error
    assert "test_every_page_is_full" in third["q5_pagination_tests"].error
    for cell in ("q6_tests", "q7_tests", "q8_tests", "q9_tests", "q10_tests"):
        assert "saw no request that used" in first[cell].error, first[cell].error
        assert "saw no request that used" in second[cell].error, second[cell].error
    # the lesson's package is refused by reading the source, whatever name it is bound to
    for results, cell, found in (
        (third, "q1_tests", "imports from tpmlab.shipping"),
        (third, "q2_tests", "imports tpmlab.shipping.dora"),
        (fourth, "q3_tests", "uses _dora.recovery_time_hours, which is in tpmlab.shipping"),
        (third, "q4_tests", "uses tpmlab.shipping.dora.deployment_frequency"),
    ):
        assert found in results[cell].error, results[cell].error
        assert "compute the metric yourself" in results[cell].error
    # the hand-made probes of the hidden checks name what they hold
    assert "deploys whose status is 'success' count too" in fifth["q3_tests"].error
    assert "7 deploys over 10 calendar days" in fourth["q4_tests"].error
    assert "first deploy at 23:30" in fifth["q4_tests"].error
    # Q8 used the flaw without making the caller admin
    for results in (third, fourth):
        assert "not 'admin'" in results["q8_tests"].error, results["q8_tests"].error
    # a function that assumes success meets the fixed server's refusal, and is told so
    assert "KeyError: 'data'" in third["q6_tests"].error
    assert "KeyError: 'role'" in fifth["q8_tests"].error
    for results, cell in ((third, "q6_tests"), (fifth, "q8_tests")):
        assert "against the fixed configuration, which refuses the request" in results[cell].error
        assert "return the response" in results[cell].error
