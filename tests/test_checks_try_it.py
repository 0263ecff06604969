"""The Try-it self-check: placeholder, wrong and right answers, and the strict mode of `make test`."""

from __future__ import annotations

import pytest

from tpmlab.checks import STRICT_TRY_IT, SolvedTryIt, try_it


def test_placeholder_wrong_right(capsys, monkeypatch):
    monkeypatch.delenv(STRICT_TRY_IT, raising=False)
    assert try_it("days", ..., lambda v: v == 28, hint="Use 4 * 7.") is False
    assert "Your turn" in capsys.readouterr().out
    assert try_it("days", 27, lambda v: v == 28, hint="Use 4 * 7.") is False
    out = capsys.readouterr().out
    assert out.startswith("Not yet") and "Use 4 * 7." in out and "✅" not in out
    assert try_it("days", 28, lambda v: v == 28, hint="Use 4 * 7.") is True
    assert capsys.readouterr().out.startswith("✅ days")


def test_a_check_that_raises_is_not_yet(capsys, monkeypatch):
    monkeypatch.delenv(STRICT_TRY_IT, raising=False)
    assert try_it("df", "text", lambda v: v.shape == (3, 2), hint="Return a DataFrame.") is False
    out = capsys.readouterr().out
    assert "AttributeError" in out and "Return a DataFrame." in out


def test_strict_mode_refuses_a_solved_try_it(monkeypatch):
    monkeypatch.setenv(STRICT_TRY_IT, "1")
    with pytest.raises(SolvedTryIt, match="leave the learner something"):
        try_it("days", 28, lambda v: v == 28, hint="Use 4 * 7.")
    # placeholders and wrong answers still pass quietly in strict mode
    assert try_it("days", ..., lambda v: v == 28, hint="h") is False
    assert try_it("days", 1, lambda v: v == 28, hint="h") is False
