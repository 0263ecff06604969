"""Errors a learner or instructor can meet, each saying what went wrong and what to do next.

Every error raised on purpose by ``tpmlab`` is a :class:`TPMLabError`. Its message is written for
someone who is not (yet) a programmer: one sentence on what is wrong, one on what to do.
"""

from __future__ import annotations


class TPMLabError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem}\nWhat to do: {fix}")


class DataNotFoundError(TPMLabError):
    """The Orbit dataset has not been built (or was deleted)."""


class DatabaseURLError(TPMLabError):
    """A database URL is malformed, points to an unknown driver, or cannot be reached."""


class CheckFailed(AssertionError):
    """A public check in an exercise failed; the message explains the likely mistake.

    It is an ``AssertionError`` so that nbgrader counts the test cell as failed.
    """


# --- Plain-words advice for the errors learners meet most ---------------------------------------
#
# ``advice(exc)`` says what to do next about an exception a learner is likely to meet in a
# notebook; ``%load_ext tpmlab.errors`` (or the kernel configuration written by Binder's postBuild)
# shows that advice under the error. The error is still an error: the cell fails, and nbgrader and
# Validate still count a failing check as failed. Notebooks call ``explain_errors()``.

NOT_ANSWERED = (
    "This answer is not written yet: the cell still says `raise NotImplementedError()`. Replace "
    "that line with your answer, run the answer cell (Shift+Enter), then run the check below it."
)
CHECK_FAILED = (
    "A check did not pass. Read the message above, change your answer, run the answer cell again "
    "(Shift+Enter), then run this check cell again."
)
API_DOWN = (
    "Nothing answered at {where}: the practice API (or the server you are calling) is not "
    "running. Run the cell above that starts it (`start_server()`), or in a terminal run "
    "`python -m tpmlab.api`, then run this cell again."
)
DATA_STALE = (
    "Orbit's database is missing something ({detail}): it may be empty, half-built or from an "
    "older version of the course. Rebuild it with `make data` (or `python -m tpmlab.data build`) "
    "in the course folder, then restart the kernel (Kernel > Restart Kernel) and run the cells "
    "again."
)
NOT_DEFINED = (
    "`{name}` is not defined yet. Run the cells above this one first (Run > Run All Above "
    "Selected Cell). After a kernel restart every cell has to be run again."
)
COURSE_NOT_INSTALLED = (
    "The course package `tpmlab` is not installed in this kernel. Use the course's kernel "
    "('Python 3 (ipykernel)' started by `make lab`), or run `make lab` in the course folder to "
    "set it up."
)
PACKAGE_MISSING = (
    "The package `{name}` is not installed in this environment. The course installs everything "
    "it needs: start it with `make lab` (or relaunch Binder) rather than installing packages "
    "by hand."
)
NO_SUCH_COLUMN = (
    "There is no column (or key) named {key!r}. Check its spelling and upper/lower case: "
    "`df.columns` lists a table's columns, and `datasets/README.md` describes Orbit's tables."
)


def _connection_target(exc: BaseException) -> str | None:
    """The URL or address a failed connection was for, if the exception says."""
    request = getattr(exc, "request", None)
    try:
        url = getattr(request, "url", None)  # httpx: raises if no request was attached
    except RuntimeError:
        url = None
    return str(url) if url else None


def _is_connection_refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ConnectionRefusedError):
            return True
        name = f"{type(exc).__module__}.{type(exc).__name__}"
        if name in {
            "httpx.ConnectError",
            "requests.exceptions.ConnectionError",
            "urllib3.exceptions.NewConnectionError",
            "urllib3.exceptions.MaxRetryError",
        }:
            return True
        reason = getattr(exc, "reason", None)  # urllib.error.URLError wraps the OSError
        if isinstance(reason, ConnectionRefusedError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


READ_ONLY_DATA = (
    "Orbit's database is read-only, so that no query can change the data every check compares "
    "with. To try INSERT, UPDATE, DELETE or CREATE, work on a scratch copy: "
    "`scratch = sqlalchemy.create_engine('sqlite://')`, then copy a table into it with "
    "`pandas.read_sql('SELECT * FROM tasks', engine()).to_sql('tasks', scratch)`."
)


def advice(exc: BaseException) -> str | None:
    """What a learner should do next about ``exc``, in plain words; ``None`` if nothing useful.

    A :class:`TPMLabError` already carries its own "What to do", so it gets none here.
    """
    if isinstance(exc, TPMLabError):
        return None
    if isinstance(exc, CheckFailed):
        return CHECK_FAILED
    if isinstance(exc, NotImplementedError):
        return NOT_ANSWERED
    if isinstance(exc, ModuleNotFoundError):
        name = (exc.name or "").split(".")[0]
        if name == "tpmlab":
            return COURSE_NOT_INSTALLED
        return PACKAGE_MISSING.format(name=name) if name else None
    if isinstance(exc, NameError) and getattr(exc, "name", None):
        return NOT_DEFINED.format(name=exc.name)
    if _is_connection_refused(exc):
        return API_DOWN.format(where=_connection_target(exc) or "that address")
    text = str(exc)
    if "attempt to write a readonly database" in text:
        return READ_ONLY_DATA
    if "no such table" in text or "no such column" in text:
        detail = next((line.strip() for line in text.splitlines() if "no such" in line), "a table")
        if "no such column" in text:
            detail += "; if you typed that column yourself, check its spelling first"
        return DATA_STALE.format(detail=detail.split(")", 1)[-1].strip())
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return NO_SUCH_COLUMN.format(key=exc.args[0])
    return None


def _show_with_advice(shell, etype, value, tb, tb_offset=None):
    """IPython custom exception handler: the usual error, then one plain-words line on what to do.

    Errors whose message was written for learners (checks, TPMLabError) are shown without the
    traceback, which only hides the message.
    """
    if isinstance(value, TPMLabError | CheckFailed):
        stb = [f"\x1b[1;31m{etype.__name__}\x1b[0m: {value}"]
    else:
        stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    tip = advice(value)
    if tip:
        stb = [*stb, "", f"\x1b[1;34mWhat to do:\x1b[0m {tip}"]
    # IPython leaves the display to the handler; this sends the usual "error" output (ename,
    # evalue, traceback), so the cell still counts as failed for nbgrader and Validate.
    shell._showtraceback(etype, value, stb)
    return stb


def explain_errors() -> None:
    """In a notebook: show plain-words advice under common errors from now on.

    Same as ``%load_ext tpmlab.errors``, but silent when run twice. Outside IPython it does
    nothing.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return
    shell = get_ipython()
    if shell is not None:
        load_ipython_extension(shell)


def load_ipython_extension(ipython) -> None:
    """``%load_ext tpmlab.errors``: show plain-words advice under common errors."""
    ipython.set_custom_exc((Exception,), _show_with_advice)


def unload_ipython_extension(ipython) -> None:
    """``%unload_ext tpmlab.errors``: back to IPython's usual error display."""
    ipython.set_custom_exc((), None)
