"""Module 7 assignment (shipping software): plausible wrong answers fail their question, through
the same judge as grading; the mutation question gives each killed mutant its points.

The wrong answers come from the question text: the mean instead of the median, days instead of
hours, counting failed statuses only or counting incidents instead of deploys, every incident
instead of the deploy-caused ones, the time to detect, dividing by deploy days or forgetting the
last day; a test suite that asserts nothing, one that checks status codes only, one that fails
against the correct server; and, for each security finding, requests that use no flaw (one's own
task, a missing task, no token or a token that is not a JWT, a harmless field, the maximum page
size or a misspelt parameter, a route that is not the admin route).
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
        "q3": RT % "c = i[i.cause_deploy_id.notna()]\n"
        "    return float(((c.detected_at - c.started_at).dt.total_seconds() / 3600).median())",
        "q5": FAILS_ON_CORRECT,
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
    first, second, third = runs
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
