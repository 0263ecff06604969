"""Mutation grading (tpmlab.shipping.mutants): which suites kill which mutants of the lab server."""

from __future__ import annotations

import pytest
import requests

from tpmlab.api import lab
from tpmlab.shipping import mutants


def _get(base_url, token, path, **params):
    return requests.get(
        base_url + path, headers={"Authorization": f"Bearer {token}"}, params=params, timeout=10
    )


def _post(base_url, token, title):
    return requests.post(
        f"{base_url}/v1/tasks",
        headers={"Authorization": f"Bearer {token}"},
        json={"title": title},
        timeout=10,
    )


# -- a suite that checks behaviour (named accept_*, so pytest does not collect it here) --
def accept_pages_cover_the_list_once(base_url, token):
    every = _get(base_url, token, "/v1/tasks", limit=50).json()
    seen, offset = [], 0
    while offset < every["total"]:
        seen += _get(base_url, token, "/v1/tasks", limit=7, offset=offset).json()["data"]
        offset += 7
    assert len(seen) == every["total"] and len({t["id"] for t in seen}) == len(seen)


def accept_unknown_task_is_404(base_url, token):
    assert _get(base_url, token, "/v1/tasks/999999").status_code == 404


def accept_duplicate_title_is_409(base_url, token):
    assert _post(base_url, token, "Same title").status_code == 201
    assert _post(base_url, token, "Same title").status_code == 409


def accept_status_filter(base_url, token):
    done = _get(base_url, token, "/v1/tasks", status="done", limit=50).json()["data"]
    assert done and all(t["status"] == "done" for t in done)


GOOD = [accept_pages_cover_the_list_once, accept_unknown_task_is_404, accept_duplicate_title_is_409]
GOOD.append(accept_status_filter)


# -- plausible weak suites ------------------------------------------------------------------
def asserts_nothing(base_url, token):
    _get(base_url, token, "/v1/tasks", limit=7, offset=7)
    _get(base_url, token, "/v1/tasks/999999")
    _post(base_url, token, "Same title")
    _post(base_url, token, "Same title")
    _get(base_url, token, "/v1/tasks", status="done")


def statuses_only(base_url, token):
    assert _get(base_url, token, "/v1/tasks", limit=7, offset=7).status_code == 200
    assert _get(base_url, token, "/v1/tasks/999999").status_code == 404
    assert _post(base_url, token, "Same title").status_code == 201
    assert _post(base_url, token, "Same title").status_code == 409
    assert _get(base_url, token, "/v1/tasks", status="done").status_code == 200


def fails_on_the_correct_server(base_url, token):
    accept_unknown_task_is_404(base_url, token)
    accept_status_filter(base_url, token)
    assert _get(base_url, token, "/v1/tasks").json()["total"] == 10  # the page size, not total


def test_a_behavioural_suite_kills_every_mutant():
    report = mutants.mutation_report(GOOD, seed=11)
    assert report.passes_correct, report.correct.failures
    assert report.score() == dict.fromkeys(lab.MUTANTS, True)
    assert set(report.mutants["filter_ignored"].failures) == {"accept_status_filter"}
    assert "AssertionError" in report.mutants["missing_404"].failures["accept_unknown_task_is_404"]
    assert mutants.mutation_report(GOOD, seed=11) is report  # cached for the same functions


def test_weak_suites_kill_only_what_they_look_at():
    assert mutants.mutation_report([asserts_nothing]).score() == dict.fromkeys(lab.MUTANTS, False)
    assert mutants.mutation_report([statuses_only]).score() == {
        "off_by_one_pagination": False,
        "missing_404": True,
        "duplicate_create_status": True,
        "filter_ignored": False,
    }


def test_a_suite_failing_on_the_correct_server_kills_nothing():
    report = mutants.mutation_report([*GOOD, fails_on_the_correct_server])
    assert not report.passes_correct
    assert "fails_on_the_correct_server" in report.correct.failures
    assert not any(report.score().values())
    assert not mutants.mutation_report([]).passes_correct  # no tests: nothing is proven


def test_collect_finds_tests_and_names_a_bad_fixture():
    namespace = {"test_a": accept_unknown_task_is_404, "helper": _get, "test_x": 3}
    assert mutants.collect(namespace) == [accept_unknown_task_is_404]

    def test_b(client):
        pass

    with pytest.raises(mutants.SuiteError, match="asks for client") as err:
        mutants.collect({"test_b": test_b})
    assert "base_url, token" in str(err.value)


def test_each_test_starts_from_the_same_data():
    def also_creates_the_same_title(base_url, token):
        accept_duplicate_title_is_409(base_url, token)

    # without the reset between tests the second POST of "Same title" would be a 409
    result = mutants.run_suite([accept_duplicate_title_is_409, also_creates_the_same_title])
    assert result.passed, result.failures
