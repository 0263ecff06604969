"""The practice API's security lab (tpmlab.api.lab): planted flaws, their fixes, and the mutants.

Each flaw is demonstrated by an ordinary request: the vulnerable configuration lets it through and
records it as exploited, the fixed one refuses it (the status a client sees) and records the
refusal. Each mutant differs from the correct server in exactly the behaviour it names.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from tpmlab.api import lab


def forge(token: str, **claims) -> str:
    """The token with its claims changed and the old signature kept (so it no longer verifies)."""
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(claims)
    raw = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    return f"{header}.{raw}.{signature}"


def attempts(api: lab.LabServer) -> dict[str, requests.Response]:
    """One request per flaw, as a learner would send it with a member's token."""
    me = api.member(1)
    h = api.auth(me)
    other = min(i for i, t in api.data.tasks.items() if t["workspace_id"] != 1)
    expired = api.token(me, expires_in=-60)
    return {
        "bola": requests.get(f"{api.url}/v1/tasks/{other}", headers=h),
        "broken_authentication": requests.get(
            f"{api.url}/v1/me", headers={"Authorization": f"Bearer {expired}"}
        ),
        "unrestricted_resource_consumption": requests.get(
            f"{api.url}/v1/tasks?limit=100000", headers=h
        ),
        "broken_function_level_authorization": requests.get(f"{api.url}/v1/admin/users", headers=h),
        # last: on the vulnerable server it makes the member an admin
        "mass_assignment": requests.patch(f"{api.url}/v1/me", headers=h, json={"role": "admin"}),
    }


def test_the_fixed_configuration_is_the_default_and_refuses_every_flaw():
    with lab.start_lab() as api:
        got = attempts(api)
        statuses = {flaw: r.status_code for flaw, r in got.items()}
        assert statuses == {
            "bola": 404,
            "broken_authentication": 401,
            "mass_assignment": 422,
            "unrestricted_resource_consumption": 422,
            "broken_function_level_authorization": 403,
        }
        assert api.observed("exploited") == []
        assert api.observed("refused") == sorted(lab.FLAWS)
        assert all(r.headers["content-type"] == "application/problem+json" for r in got.values())
        assert "read-only" in got["mass_assignment"].json()["detail"]
        assert api.data.users[api.member(1)]["role"] == "member"


def test_the_vulnerable_configuration_lets_every_flaw_through_and_records_it():
    with lab.start_lab(vulnerable=True) as api:
        me = api.member(1)
        got = attempts(api)
        assert {flaw: r.status_code for flaw, r in got.items()} == dict.fromkeys(lab.FLAWS, 200)
        assert api.observed("exploited") == sorted(lab.FLAWS)
        assert api.observed("refused") == []
        assert got["bola"].json()["workspace_id"] != 1
        assert api.data.users[me]["role"] == "admin"  # the PATCH really escalated
        assert len(got["unrestricted_resource_consumption"].json()["data"]) > lab.MAX_LIMIT


def test_a_forged_signature_is_broken_authentication_but_garbage_is_not():
    for vulnerable, status in ((True, 200), (False, 401)):
        with lab.start_lab(vulnerable=vulnerable) as api:
            admin_of_2 = api.admin(2)
            forged = forge(api.token(api.member(1)), sub=admin_of_2)
            r = requests.get(f"{api.url}/v1/me", headers={"Authorization": f"Bearer {forged}"})
            assert r.status_code == status
            if vulnerable:
                assert r.json()["id"] == admin_of_2
            unsigned = lab.make_token("", admin_of_2, time.time() + 60, alg="none")
            unsigned = unsigned.rsplit(".", 1)[0] + "."
            r = requests.get(f"{api.url}/v1/me", headers={"Authorization": f"Bearer {unsigned}"})
            assert r.status_code == status
            assert len(api.observations()) == 2
            for junk in ("not-a-token", "a.b.c"):
                r = requests.get(f"{api.url}/v1/me", headers={"Authorization": f"Bearer {junk}"})
                assert r.status_code == 401
            assert requests.get(f"{api.url}/v1/me").status_code == 401
            assert len(api.observations()) == 2  # garbage uses no flaw


def test_legitimate_requests_are_not_recorded_and_behave_alike_in_both():
    for vulnerable in (False, True):
        with lab.start_lab(vulnerable=vulnerable) as api:
            admin = api.auth(api.admin(1))
            member = api.auth(api.member(1))
            assert requests.get(f"{api.url}/v1/admin/users", headers=admin).status_code == 200
            r = requests.patch(f"{api.url}/v1/me", headers=member, json={"name": "Renamed"})
            assert r.status_code == 200 and r.json()["name"] == "Renamed"
            r = requests.patch(f"{api.url}/v1/me", headers=member, json={"role": "member"})
            assert r.status_code == 200  # sending the value it already has changes nothing
            assert requests.get(f"{api.url}/v1/tasks?limit=50", headers=member).status_code == 200
            assert api.observations() == []


def pages(api, headers, limit=7, **params) -> list[dict]:
    items, offset = [], 0
    while True:
        body = requests.get(
            f"{api.url}/v1/tasks",
            headers=headers,
            params={**params, "limit": limit, "offset": offset},
        ).json()
        items += body["data"]
        offset += limit
        if offset >= body["total"]:
            return items


def test_correct_server_pages_filters_404s_and_conflicts():
    with lab.start_lab() as api:
        h = api.auth()
        first = requests.get(f"{api.url}/v1/tasks?limit=50", headers=h).json()
        everything = pages(api, h, limit=50)
        assert len(first["data"]) == lab.MAX_LIMIT < first["total"] == len(everything)
        assert len({t["id"] for t in everything}) == len(everything)
        assert {t["workspace_id"] for t in everything} == {1}
        assert pages(api, h) == everything
        done = pages(api, h, status="done")
        assert done and {t["status"] for t in done} == {"done"}
        assert done == [t for t in everything if t["status"] == "done"]
        r = requests.get(f"{api.url}/v1/tasks/999999", headers=h)
        assert r.status_code == 404 and "no task" in r.json()["detail"]
        r = requests.post(f"{api.url}/v1/tasks", headers=h, json={"title": "Launch plan"})
        assert r.status_code == 201 and r.headers["Location"] == f"/v1/tasks/{r.json()['id']}"
        again = requests.post(f"{api.url}/v1/tasks", headers=h, json={"title": "Launch plan"})
        assert again.status_code == 409
        assert requests.get(f"{api.url}/v1/tasks/{r.json()['id']}", headers=h).status_code == 200
        assert requests.post(f"{api.url}/v1/tasks", headers=h, json={}).status_code == 422


def test_each_mutant_breaks_only_what_it_names():
    with lab.start_lab() as good:
        h = good.auth()
        want = pages(good, h)
        want_done = pages(good, h, status="done")
    for mutant in lab.MUTANTS:
        with lab.start_lab(mutant=mutant) as api:
            h = api.auth()
            paged, done = pages(api, h), pages(api, h, status="done")
            first = requests.get(f"{api.url}/v1/tasks?limit=5", headers=h).json()["data"]
            missing = requests.get(f"{api.url}/v1/tasks/999999", headers=h)
            created = requests.post(f"{api.url}/v1/tasks", headers=h, json={"title": "Dup"})
            dup = requests.post(f"{api.url}/v1/tasks", headers=h, json={"title": "Dup"})
            assert first == want[:5]  # the first page is right for every mutant
            assert (paged != want) == (mutant == "off_by_one_pagination")
            if mutant == "off_by_one_pagination":
                assert len(paged) < len(want) and set(map(str, paged)) < set(map(str, want))
            assert (done != want_done) == (mutant in ("filter_ignored", "off_by_one_pagination"))
            if mutant == "filter_ignored":
                assert {t["status"] for t in done} == set(lab.STATUSES)
            if mutant == "missing_404":
                assert missing.status_code == 200 and missing.json() is None
            else:
                assert missing.status_code == 404
            assert created.status_code == 201
            if mutant == "duplicate_create_status":
                assert dup.status_code == 200 and dup.json() == created.json()
            else:
                assert dup.status_code == 409


def test_unknown_mutant_and_user_say_what_exists():
    with pytest.raises(lab.LabError, match="no mutant 'off_by_two'") as err:
        lab.create_lab_app(mutant="off_by_two")
    assert "missing_404" in err.value.fix
    with lab.start_lab() as api, pytest.raises(lab.LabError, match="no user 999"):
        api.token(999)


def test_the_main_practice_api_has_no_lab_routes():
    from tpmlab.api import start_server

    with start_server() as api:
        assert requests.get(f"{api.url}/v1/admin/users", headers=api.auth()).status_code == 404
        assert "/v1/me" not in requests.get(f"{api.url}/openapi.json").json()["paths"]


def test_send_claims_and_forgeries_for_the_lesson():
    with lab.start_lab() as api, lab.start_lab(vulnerable=True) as vuln:
        assert api.send("GET", "/v1/me").json()["id"] == api.member(1)
        token = api.token(api.member(1))
        assert lab.claims_of(token)["sub"] == api.member(1)
        forged = lab.with_claims(token, sub=api.admin(2))
        assert lab.claims_of(forged)["sub"] == api.admin(2)
        assert forged.rsplit(".", 1)[1] == token.rsplit(".", 1)[1]  # same, now wrong, signature
        assert api.send("GET", "/v1/me", token=forged).status_code == 401
        forged_v = lab.with_claims(vuln.token(vuln.member(1)), sub=vuln.admin(2))
        assert vuln.send("GET", "/v1/me", token=forged_v).json()["role"] == "admin"
        assert api.send("GET", "/v1/tasks", params={"limit": 3}).json()["limit"] == 3


def test_0704_try_it_answer_moves_the_member_and_is_refused_when_fixed():
    """Lesson 7.4's Try it: PATCH /v1/me with {"workspace_id": 3} is mass assignment."""
    body = {"workspace_id": 3}
    with lab.start_lab(vulnerable=True) as vuln, lab.start_lab() as fixed:
        r = vuln.send("PATCH", "/v1/me", json=body)
        assert vuln.observed() == ["mass_assignment"] and r.json()["workspace_id"] == 3
        r = fixed.send("PATCH", "/v1/me", json=body)
        assert r.status_code == 422 and "workspace_id" in r.json()["detail"]
        assert fixed.observed("refused") == ["mass_assignment"]
        expired = fixed.token(fixed.member(1), expires_in=-60)
        assert "expired" in fixed.send("GET", "/v1/me", token=expired).json()["detail"]
