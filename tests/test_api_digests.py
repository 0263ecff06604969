"""The static constant-time check that grades Module 4's webhook question (tpmlab.api.digests)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tpmlab.api.digests import constant_time_problem, constant_time_problem_in_source

GOOD = """
def verify(body, header, secret):
    items = [p.split("=", 1) for p in header.split(",")]
    t = int(dict(items)["t"])
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in items if k == "v1")
"""


@pytest.mark.parametrize(
    "source",
    [
        GOOD,
        GOOD.replace("return any(", "return True is any("),
        "def f(a, b):\n    return secrets.compare_digest(a, b) == True\n",
    ],
)
def test_constant_time_comparisons_pass(source):
    assert constant_time_problem_in_source(source) is None


@pytest.mark.parametrize(
    ("source", "found"),
    [
        (GOOD.replace("hmac.compare_digest(expected, v)", "expected == v"), "`expected == v`"),
        (
            GOOD.replace(
                'any(hmac.compare_digest(expected, v) for k, v in items if k == "v1")',
                "expected in [v for k, v in items]",
            ),
            "expected in",
        ),
        ("def f(b, s, k):\n    return hmac.new(k, b, 'sha256').hexdigest() != s\n", "!="),
        (  # a name derived from a digest is still a digest
            "def f(b, s, k):\n    d = hmac.digest(k, b, 'sha256')\n    h = d.hex()\n"
            "    ok = hmac.compare_digest(b'', b'')\n    return h == s\n",
            "`h == s`",
        ),
        ("def f(b, s, k):\n    return s.startswith('v1')\n", "never calls hmac.compare_digest"),
        ("def f(:\n", "could not be parsed"),
    ],
)
def test_ordinary_comparisons_of_digests_are_found(source, found):
    problem = constant_time_problem_in_source(source)
    assert problem is not None and found in problem


def test_reads_a_real_function_and_explains_one_without_source():
    def verify(body, sig, key):
        expected = hmac.new(key, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, sig)

    def leaky(body, sig, key):
        return hmac.new(key, body, hashlib.sha256).hexdigest() == sig

    assert constant_time_problem(verify) is None
    assert "ordinary operator" in constant_time_problem(leaky)
    assert "cannot be read" in constant_time_problem(len)
