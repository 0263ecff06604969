"""The Module 4 assignment (exercises/04-apis/apis.ipynb) rejects plausible wrong answers.

tests/test_assignments.py already proves that the solution passes and the released version fails
every test cell; here each autograded question gets at least two wrong answers a learner could
plausibly write, and each must fail that question's checks (public or hidden) while the others
are unaffected. Wrong answers are grouped into a few notebook runs to keep CI fast.
"""

from __future__ import annotations

import pytest

from tpmlab.api.store import default_database
from tpmlab.grading.notebooks import run
from tpmlab.paths import REPO_ROOT

NOTEBOOK = REPO_ROOT / "exercises" / "04-apis" / "apis.ipynb"

pytestmark = pytest.mark.skipif(
    not default_database().exists(), reason="Orbit's dataset is not built (make data)"
)

WRONG = {
    "q1": [
        # only the first page
        """def fetch_all(base_url, token, path, params=None):
    r = requests.get(base_url + path, headers={"Authorization": f"Bearer {token}"}, params=params)
    return r.json()["data"]""",
        # stops on a short page
        """def fetch_all(base_url, token, path, params=None):
    params = dict(params or {})
    limit = params.get("limit", 20)
    items = []
    while True:
        body = requests.get(base_url + path, headers={"Authorization": f"Bearer {token}"}, params=params).json()
        items += body["data"]
        if len(body["data"]) < limit or not body["next_cursor"]:
            return items
        params["cursor"] = body["next_cursor"]""",
    ],
    "q2": [
        # retries every 5xx whatever the method
        """def should_retry(method, status, has_idempotency_key):
    return status == 429 or status >= 500""",
        # never retries POST, even after 429 or with a key
        """def should_retry(method, status, has_idempotency_key):
    if method.upper() in ("POST", "PATCH"):
        return False
    return status in (408, 429, 500, 502, 503, 504)""",
    ],
    "q3": [
        # ignores Retry-After, fixed short sleep
        """def get_with_retries(url, token, max_attempts=4, base_delay=0.1):
    for attempt in range(max_attempts):
        r = requests.get(url, headers={"Authorization": f"Bearer {token}"})
        if r.status_code < 400 or attempt == max_attempts - 1:
            return r
        time.sleep(0.05)
    return r""",
        # no retries at all
        """def get_with_retries(url, token, max_attempts=4, base_delay=0.1):
    return requests.get(url, headers={"Authorization": f"Bearer {token}"})""",
    ],
    "q4": [
        # retries without an idempotency key
        """def create_task(base_url, token, payload, max_attempts=4):
    for attempt in range(max_attempts):
        r = requests.post(f"{base_url}/v1/tasks", headers={"Authorization": f"Bearer {token}"}, json=payload)
        if r.status_code == 201:
            return r.json()
        time.sleep(0.05)""",
        # a new key on every attempt
        """def create_task(base_url, token, payload, max_attempts=4):
    for attempt in range(max_attempts):
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
        r = requests.post(f"{base_url}/v1/tasks", headers=headers, json=payload)
        if r.status_code == 201:
            return r.json()
        time.sleep(0.05)""",
    ],
    "q5": [
        # no replay protection
        """def verify_webhook(body, header, secret, now=None, tolerance=300):
    try:
        items = [p.split("=", 1) for p in header.split(",")]
        t = int(dict(items)["t"])
    except Exception:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in items if k == "v1")""",
        # only the first v1 (breaks during secret rotation)
        """def verify_webhook(body, header, secret, now=None, tolerance=300):
    try:
        items = dict(p.split("=", 1) for p in header.split(","))
        t = int(items["t"])
    except Exception:
        return False
    now = time.time() if now is None else now
    if abs(now - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, items.get("v1", ""))""",
    ],
    "q6": [
        # ignores the direction: removals break, additions do not
        """def is_breaking(change):
    return change.kind.endswith("removed") or change.kind in ("type_changed", "type_narrowed", "field_became_required", "constraint_tightened")""",
        # ignores `required` on added request fields
        """def is_breaking(change):
    if change.direction == "operation":
        return change.kind == "operation_removed"
    if change.kind == "type_changed":
        return True
    if change.direction == "request":
        return change.kind in {"field_removed", "field_became_required", "type_narrowed", "enum_value_removed", "constraint_tightened"}
    return change.kind in {"field_removed", "field_became_optional", "type_widened", "enum_value_added", "constraint_relaxed"}""",
    ],
    "q7": [
        # never revalidates: serves the cache forever
        """def get_task_cached(base_url, token, task_id, cache):
    if task_id not in cache:
        r = requests.get(f"{base_url}/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {token}"})
        cache[task_id] = (r.headers["ETag"], r.json())
    return cache[task_id][1]""",
        # no conditional request: downloads every time
        """def get_task_cached(base_url, token, task_id, cache):
    r = requests.get(f"{base_url}/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {token}"})
    cache[task_id] = (r.headers["ETag"], r.json())
    return r.json()""",
    ],
    "q8": [
        # mean instead of median, 4xx counted as errors
        """def summarise_calls(calls):
    lat = np.array([c[0] for c in calls])
    return {"p50": float(lat.mean()), "p95": float(np.percentile(lat, 95)), "p99": float(np.percentile(lat, 99)),
            "error_rate": sum(s is None or s >= 400 for _, s in calls) / len(calls)}""",
        # percentiles of successful calls only
        """def summarise_calls(calls):
    lat = np.array([c[0] for c in calls if c[1] is not None and c[1] < 500])
    return {"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)), "p99": float(np.percentile(lat, 99)),
            "error_rate": sum(s is None or s >= 500 for _, s in calls) / len(calls)}""",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", [0, 1])
def test_each_question_rejects_plausible_wrong_answers(variant):
    answers = {q: wrongs[variant] for q, wrongs in WRONG.items()}
    results = run(NOTEBOOK, answers, timeout=180)
    for question in WRONG:
        result = results[f"{question}_tests"]
        assert not result.passed, f"{question}: wrong answer {variant} was accepted"
        assert "CheckFailed" in result.error or "Error" in result.error, result.error


def test_every_question_has_two_wrong_answers_and_enough_points():
    import nbformat

    from tpmlab.grading.notebooks import autograded_test_ids, grade_cells

    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    ids = autograded_test_ids(nb)
    assert len(ids) >= 8 and {f"{q}_tests" for q in WRONG} == set(ids)
    cells = grade_cells(nb)
    assert sum(cells[i]["points"] for i in ids) >= 25
    assert all(len(w) >= 2 for w in WRONG.values())
    manual = [m for m in cells.values() if m.get("solution") and m["cell"].cell_type == "markdown"]
    assert len(manual) == 1 and manual[0]["points"] > 0
