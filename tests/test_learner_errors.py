"""The errors a learner meets most often say, in plain words, what to do next.

The common cases: the data was never built, a server (the practice API) is not running, a check
failed, an answer was not written yet, a cell was run before the cells above it, a column name is
misspelt. Each exception here is produced for real (a refused connection to a closed localhost
port, a query on an empty database...), then :func:`tpmlab.errors.advice` and the notebook
extension (``%load_ext tpmlab.errors``) are checked on it, in a real kernel.
"""

from __future__ import annotations

import socket
import sqlite3
import urllib.error
import urllib.request

import httpx
import nbformat
import pandas as pd
import pytest
import requests
from nbclient import NotebookClient
from sqlalchemy import create_engine

from tpmlab.errors import CheckFailed, DataNotFoundError, TPMLabError, advice


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def raised(func) -> BaseException:
    try:
        func()
    except BaseException as exc:  # noqa: BLE001 - we want whatever the learner would see
        return exc
    raise AssertionError("expected an exception")


def test_missing_data_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TPMLAB_DATA_DIR", str(tmp_path))
    from tpmlab.data import engine

    exc = raised(engine)
    assert isinstance(exc, DataNotFoundError)
    assert "make data" in str(exc) and "What to do" in str(exc)
    assert advice(exc) is None  # it already carries its own advice


@pytest.mark.parametrize("client", ["httpx", "requests", "urllib"])
def test_server_down_says_to_start_the_practice_api(client):
    url = f"http://127.0.0.1:{closed_port()}/v1/projects"
    call = {
        "httpx": lambda: httpx.get(url, timeout=5),
        "requests": lambda: requests.get(url, timeout=5),
        "urllib": lambda: urllib.request.urlopen(url, timeout=5),
    }[client]
    exc = raised(call)
    tip = advice(exc)
    assert tip is not None, f"{type(exc)} got no advice"
    assert "not running" in tip and "python -m tpmlab.api" in tip
    if client == "httpx":
        assert url in tip  # names the address that did not answer


def test_an_empty_or_old_database_says_to_rebuild(tmp_path):
    eng = create_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    exc = raised(lambda: pd.read_sql("SELECT * FROM users", eng))
    tip = advice(exc)
    assert tip and "no such table: users" in tip and "make data" in tip
    raw = raised(lambda: sqlite3.connect(":memory:").execute("SELECT * FROM events"))
    assert "make data" in advice(raw)


def test_unanswered_question_and_failed_check():
    def answer():
        # YOUR CODE HERE
        raise NotImplementedError()

    assert "raise NotImplementedError()" in advice(raised(answer))
    assert "Replace that line with your answer" in advice(raised(answer))
    tip = advice(CheckFailed("`q1` should be a number."))
    assert "change your answer" in tip and "run this check cell again" in tip


def test_running_cells_out_of_order_and_misspelt_columns():
    exc = raised(lambda: eval("users.head()", {}))
    assert "`users` is not defined" in advice(exc) and "Run All Above" in advice(exc)
    df = pd.DataFrame({"platform": ["web"]})
    tip = advice(raised(lambda: df["Platform"]))
    assert "'Platform'" in tip and "df.columns" in tip
    assert "python -m tpmlab.api" not in tip


def test_missing_packages():
    assert "make lab" in advice(ModuleNotFoundError("No module named 'tpmlab'", name="tpmlab"))
    tip = advice(raised(lambda: __import__("surely_not_a_course_package")))
    assert "`surely_not_a_course_package` is not installed" in tip


def test_unrelated_errors_get_no_made_up_advice():
    assert advice(ZeroDivisionError("division by zero")) is None
    assert advice(TPMLabError("x", "y")) is None


def test_notebook_extension_shows_the_advice_and_keeps_the_error(tmp_path):
    """In a real kernel: the cell still fails (so nbgrader and Validate count it), the output ends
    with the advice, and a check's message is shown without a wall of traceback."""
    cells = [
        "%load_ext tpmlab.errors",
        "def q1():\n    # YOUR CODE HERE\n    raise NotImplementedError()\nq1()",
        "from tpmlab.errors import CheckFailed\n"
        "raise CheckFailed('`q1` is 7, which is not the expected value.')",
        "print(orbit_users)",
        f"import httpx\nhttpx.get('http://127.0.0.1:{closed_port()}/v1/me', timeout=5)",
        "1 / 0",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, kernel_name="python3", timeout=60, allow_errors=True).execute(
        cwd=str(tmp_path)
    )
    errors = []
    for cell in nb.cells[1:]:
        [err] = [o for o in cell.outputs if o.output_type == "error"]
        errors.append(err)
    not_answered, check_failed, not_defined, api_down, zero = errors
    assert not_answered.ename == "NotImplementedError"
    assert "What to do:" in not_answered.traceback[-1]
    assert "Replace that line" in not_answered.traceback[-1]
    assert check_failed.ename == "CheckFailed"
    assert "`q1` is 7" in check_failed.traceback[0]
    assert len(check_failed.traceback) <= 3, check_failed.traceback  # message + advice only
    assert "Run All Above" in not_defined.traceback[-1]
    assert "python -m tpmlab.api" in api_down.traceback[-1]
    assert zero.ename == "ZeroDivisionError"
    assert not any("What to do" in line for line in zero.traceback)


def test_a_failing_check_still_stops_a_run_all(tmp_path):
    """With the extension loaded, the kernel still reports the cell as failed (what nbgrader's
    Validate and autograder rely on), not only displays it."""
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("%load_ext tpmlab.errors"),
            nbformat.v4.new_code_cell(
                "from tpmlab.errors import CheckFailed\nraise CheckFailed('wrong')"
            ),
            nbformat.v4.new_code_cell("print('not reached')"),
        ]
    )
    client = NotebookClient(nb, kernel_name="python3", timeout=60, allow_errors=False)
    with pytest.raises(CellExecutionError, match="wrong"):
        client.execute(cwd=str(tmp_path))
    assert nb.cells[2].outputs == []
