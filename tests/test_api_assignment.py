"""The Module 4 assignment (exercises/04-apis/apis.ipynb) rejects plausible wrong answers.

tests/test_grading_assignments.py already proves that the solution passes and the released version fails
every test cell; here each autograded question gets wrong answers a learner could plausibly write,
and each must fail that question's test cell for the expected reason: a public check (its message)
or a hidden probe (the grader's ``HiddenTestFailed: '<key>' ...``, judged against the answer key).
Answers whose reason is a ``HiddenTestFailed`` pass every public check, so only the recorded hidden
answers can reject them. Wrong answers are grouped into one notebook run per variant number (every
question's n-th wrong answer in run n) to keep CI fast.

Q5's ``==`` comparison gives right answers on every probe: only the static check of the function's
source (tpmlab.api.digests, stated in the question) can reject it.
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

# Wrong answers that get one thing wrong need the rest right, including both Retry-After forms.
WAIT = """
def _wait(r, attempt, base=0.05):
    value = r.headers.get("Retry-After")
    if value is None:
        return random.uniform(0, base * 2**attempt)
    if value.isdigit():
        return float(value)
    return max(0.0, (email.utils.parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())

"""

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
        # returns None instead of [] for an empty collection
        """def fetch_all(base_url, token, path, params=None):
    params = dict(params or {})
    items = []
    while True:
        r = requests.get(base_url + path, headers={"Authorization": f"Bearer {token}"}, params=params)
        body = r.json()
        items += body["data"]
        if not body["next_cursor"]:
            return items or None
        params["cursor"] = body["next_cursor"]""",
        # sends only the cursor on later pages (the filters are dropped)
        """def fetch_all(base_url, token, path, params=None):
    params, items = dict(params or {}), []
    while True:
        r = requests.get(base_url + path, headers={"Authorization": f"Bearer {token}"}, params=params)
        r.raise_for_status()
        body = r.json()
        items += body["data"]
        if not body["next_cursor"]:
            return items
        params = {"cursor": body["next_cursor"]}""",
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
        # compares the method case-sensitively ("get" is not retried)
        """def should_retry(method, status, has_idempotency_key):
    if status == 429:
        return True
    if status in (408, 500, 502, 503, 504):
        return method in {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"} or has_idempotency_key
    return False""",
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
        # honours Retry-After on 503 only, so it hammers a rate-limited server after a 429
        WAIT
        + """def get_with_retries(url, token, max_attempts=4, base_delay=0.1):
    for attempt in range(max_attempts):
        r = requests.get(url, headers={"Authorization": f"Bearer {token}"})
        if attempt == max_attempts - 1 or not should_retry("GET", r.status_code, False):
            return r
        if r.status_code == 503:
            time.sleep(_wait(r, attempt, base_delay))
        else:
            time.sleep(random.uniform(0, base_delay * 2**attempt))
    return r""",
        # reads Retry-After as seconds only (RFC 9110 also allows an HTTP-date)
        """def get_with_retries(url, token, max_attempts=4, base_delay=0.1):
    for attempt in range(max_attempts):
        r = requests.get(url, headers={"Authorization": f"Bearer {token}"})
        if attempt == max_attempts - 1 or not should_retry("GET", r.status_code, False):
            return r
        if "Retry-After" in r.headers:
            time.sleep(float(r.headers["Retry-After"]))
        else:
            time.sleep(random.uniform(0, base_delay * 2**attempt))
    return r""",
        # honours Retry-After in both forms, but retries a 5xx without it at once (no backoff)
        WAIT
        + """def get_with_retries(url, token, max_attempts=4, base_delay=0.1):
    for attempt in range(max_attempts):
        r = requests.get(url, headers={"Authorization": f"Bearer {token}"})
        if attempt == max_attempts - 1 or not should_retry("GET", r.status_code, False):
            return r
        if "Retry-After" in r.headers:
            time.sleep(_wait(r, attempt))
    return r""",
        # reads the HTTP-date form only on a 503 (the public check's case), seconds on a 429
        WAIT
        + """def get_with_retries(url, token, max_attempts=4, base_delay=0.1):
    for attempt in range(max_attempts):
        r = requests.get(url, headers={"Authorization": f"Bearer {token}"})
        if attempt == max_attempts - 1 or not should_retry("GET", r.status_code, False):
            return r
        if r.status_code == 429:
            time.sleep(float(r.headers["Retry-After"]))
        else:
            time.sleep(_wait(r, attempt, base_delay))
    return r""",
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
        # one constant key for every call: a second task replays (rejected: another body)
        WAIT
        + """_KEY = str(uuid.uuid4())


def create_task(base_url, token, payload, max_attempts=4):
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": _KEY}
    for attempt in range(max_attempts):
        r = requests.post(f"{base_url}/v1/tasks", headers=headers, json=payload)
        if r.status_code == 201:
            return r.json()
        if attempt == max_attempts - 1 or r.status_code not in (429, 500, 502, 503, 504):
            r.raise_for_status()
            return r.json()
        time.sleep(_wait(r, attempt))""",
        # the right key, but ignores Retry-After on a 503 (a short fixed wait)
        """def create_task(base_url, token, payload, max_attempts=4):
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    for attempt in range(max_attempts):
        r = requests.post(f"{base_url}/v1/tasks", headers=headers, json=payload)
        if r.status_code == 201:
            return r.json()
        if attempt == max_attempts - 1 or r.status_code not in (429, 500, 502, 503, 504):
            r.raise_for_status()
            return r.json()
        time.sleep(0.05)""",
        # derives the key from the payload: two deliberate identical creates collapse into one
        WAIT
        + """import json


def create_task(base_url, token, payload, max_attempts=4):
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    for attempt in range(max_attempts):
        r = requests.post(f"{base_url}/v1/tasks", headers=headers, json=payload)
        if r.status_code == 201:
            return r.json()
        if attempt == max_attempts - 1 or r.status_code not in (429, 500, 502, 503, 504):
            r.raise_for_status()
            return r.json()
        time.sleep(_wait(r, attempt))""",
        # the first try plus max_attempts retries: one request too many
        WAIT
        + """def create_task(base_url, token, payload, max_attempts=4):
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    for attempt in range(max_attempts + 1):
        r = requests.post(f"{base_url}/v1/tasks", headers=headers, json=payload)
        if r.status_code == 201:
            return r.json()
        if attempt == max_attempts or r.status_code not in (429, 500, 502, 503, 504):
            r.raise_for_status()
            return r.json()
        time.sleep(_wait(r, attempt))""",
        # the right key and waits, but retries every error status, a 422 included
        WAIT
        + """def create_task(base_url, token, payload, max_attempts=4):
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    for attempt in range(max_attempts):
        r = requests.post(f"{base_url}/v1/tasks", headers=headers, json=payload)
        if r.status_code == 201:
            return r.json()
        if attempt == max_attempts - 1:
            r.raise_for_status()
        time.sleep(_wait(r, attempt))""",
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
        # raises on a malformed header instead of returning False
        """def verify_webhook(body, header, secret, now=None, tolerance=300):
    items = [p.split("=", 1) for p in header.split(",")]
    t = int(dict(items)["t"])
    now = time.time() if now is None else now
    if abs(now - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in items if k == "v1")""",
        # right in every probe, but compares with == (a timing leak no probe can see)
        """def verify_webhook(body, header, secret, now=None, tolerance=300):
    try:
        items = [p.split("=", 1) for p in header.split(",")]
        t = int(dict(items)["t"])
    except Exception:
        return False
    now = time.time() if now is None else now
    if abs(now - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(expected == v for k, v in items if k == "v1")""",
        # refuses a signature exactly `tolerance` seconds old (>= where the question says within)
        """def verify_webhook(body, header, secret, now=None, tolerance=300):
    try:
        items = [p.split("=", 1) for p in header.split(",")]
        t = int(dict(items)["t"])
    except Exception:
        return False
    now = time.time() if now is None else now
    if abs(now - t) >= tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in items if k == "v1")""",
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
        # forgets that a new enum value in a response breaks exhaustive clients
        """def is_breaking(change):
    if change.direction == "operation":
        return change.kind == "operation_removed"
    if change.kind == "type_changed":
        return True
    if change.direction == "request":
        if change.kind == "field_added":
            return bool(change.required)
        return change.kind in {"field_removed", "field_became_required", "type_narrowed", "enum_value_removed", "constraint_tightened"}
    return change.kind in {"field_removed", "field_became_optional", "type_widened", "constraint_relaxed"}""",
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
        # keeps the first ETag forever: after a change every call downloads the task again
        """def get_task_cached(base_url, token, task_id, cache):
    headers = {"Authorization": f"Bearer {token}"}
    if task_id in cache:
        headers["If-None-Match"] = cache[task_id][0]
    r = requests.get(f"{base_url}/v1/tasks/{task_id}", headers=headers)
    if r.status_code == 304:
        return cache[task_id][1]
    if task_id not in cache:
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
        # counts 4xx as errors (the public example has none)
        """def summarise_calls(calls):
    lat = np.array([c[0] for c in calls], dtype=float)
    return {"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)), "p99": float(np.percentile(lat, 99)),
            "error_rate": sum(s is None or s >= 400 for _, s in calls) / len(calls)}""",
        # nearest-rank percentiles instead of numpy's default linear interpolation
        """import math


def summarise_calls(calls):
    lat = sorted(c[0] for c in calls)
    rank = lambda q: lat[max(0, math.ceil(q / 100 * len(lat)) - 1)]
    return {"p50": rank(50), "p95": rank(95), "p99": rank(99),
            "error_rate": sum(s is None or s >= 500 for _, s in calls) / len(calls)}""",
    ],
}


# Why each wrong answer fails: a public check's message, or the key of a hidden probe.
REASONS = {
    "q1": [
        "keep requesting with cursor=next_cursor",
        "HiddenTestFailed: 'task ids, pages capped at 7' has 7 item(s)",
        "HiddenTestFailed: 'empty collection' is null, expected a list",
        "different filters or sort order. Keep the same query parameters on every page and only "
        "change `cursor`. If this was a later page, your request lost the filters",
    ],
    "q2": [
        "A POST that got 500 may already have been executed",
        """HiddenTestFailed: "should_retry('POST', status, False)" [429] is false""",
        """HiddenTestFailed: "should_retry('get', status, False)" [408] is false""",
    ],
    "q3": [
        "you retried sooner",
        "retry retryable statuses",
        "'requests sent less than 0.9 s after a 429, Retry-After in seconds' is ",
        "The 503 carried Retry-After as an HTTP-date (like 'Tue, 01 Dec 2026 12:00:03 GMT') and "
        "your code raised ValueError",
        "HiddenTestFailed: 'waited base_delay or more in total over five 500s without "
        "Retry-After' is false, expected true",
        "ValueError: could not convert string to float",
    ],
    "q4": [
        "The task now exists 3 times",
        "The task now exists 3 times",
        "422 Client Error",
        "but you retried sooner: honour Retry-After as in Question 3",
        "HiddenTestFailed: 'tasks saved by two calls with the same payload' is 1, expected 2",
        "HiddenTestFailed: 'POSTs when every POST fails, max_attempts=3' is 4, expected 3",
        "HiddenTestFailed: 'raised an exception on a 422' is false, expected true",
    ],
    "q5": [
        "HiddenTestFailed: 'signed 600 s ago (replay)' is true, expected false",
        "HiddenTestFailed: 'valid signature first of two v1' is false, expected true",
        """HiddenTestFailed: 'empty header' is {"$dict": [["$raised", "ValueError"]]}, expected false""",
        "verify_webhook does not compare in constant time: it compares a computed digest with an "
        "ordinary operator: `expected == v`",
        "HiddenTestFailed: 'signed 300 s ago, tolerance 300' is false, expected true",
    ],
    "q6": [
        "A new *required* request field breaks every existing call",
        "A new *required* request field breaks every existing call",
        "HiddenTestFailed: 'is_breaking(enum_value_added, response, required=None)' is false",
    ],
    "q7": [
        "must ask the server with If-None-Match",
        "must ask the server with If-None-Match",
        "HiddenTestFailed: 'status of the last request' is 200, expected 304",
    ],
    "q8": [
        "your p50 is the mean: a percentile is not an average",
        "these are percentiles of the successful calls only",
        "HiddenTestFailed: 'error_rate of 500 calls' is 0.13, expected 0.056",
        "this is another percentile definition (nearest rank",
    ],
}


VARIANTS = max(len(wrongs) for wrongs in WRONG.values())


@pytest.mark.slow
@pytest.mark.parametrize("variant", range(VARIANTS))
def test_each_question_rejects_plausible_wrong_answers(variant):
    # One run per variant: every question with a wrong answer of that number is substituted.
    answers = {q: wrongs[variant] for q, wrongs in WRONG.items() if variant < len(wrongs)}
    results = run(NOTEBOOK, answers, timeout=240)
    for question in answers:
        result = results[f"{question}_tests"]
        assert not result.passed, f"{question}: wrong answer {variant} was accepted"
        assert REASONS[question][variant] in result.error, f"{question}: {result.error}"


def test_every_question_has_two_wrong_answers_and_enough_points():
    import nbformat

    from tpmlab.grading.notebooks import autograded_test_ids, grade_cells

    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    ids = autograded_test_ids(nb)
    assert len(ids) >= 8 and {f"{q}_tests" for q in WRONG} == set(ids)
    cells = grade_cells(nb)
    assert sum(cells[i]["points"] for i in ids) >= 25
    assert all(len(w) >= 2 for w in WRONG.values())
    assert all(len(REASONS[q]) == len(w) for q, w in WRONG.items())
    manual = [m for m in cells.values() if m.get("solution") and m["cell"].cell_type == "markdown"]
    assert len(manual) == 1 and manual[0]["points"] > 0
