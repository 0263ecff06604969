"""The sandboxed kernel's first code: an audit hook that reports what the submission did.

The sandbox launcher (:mod:`tpmlab.grading.sandbox`) starts the kernel as ``python -m
tpmlab.grading.sentinel -f CONNECTION_FILE``. Before ipykernel starts, and so before any code of
the submission runs, this module installs a Python audit hook (:pep:`578`; an audit hook cannot be
removed once installed) that writes one JSON line per event of interest to a pipe whose other end
is the launcher, outside the sandbox. The launcher appends what it reads to the evidence file of
the notebook being graded, where :func:`evidence_flags` turns it into review flags
(``sandbox saw: ...``). What was reported cannot be taken back by the submission.

Reported, from the first cell the kernel runs on:

- processes started (``subprocess.Popen``, ``os.system``, ``os.exec*``, ``os.spawn*``,
  ``os.posix_spawn``, ``os.fork``, ``os.forkpty``), however the name was built;
- network connections and name lookups to anything but the sandbox's own loopback;
- files opened for writing outside the working directory, ``/tmp`` and the home directory
  (they fail anyway: everything else is read-only);
- at every cell start: course code replaced (``tpmlab.checks``, ``tpmlab.scoring``, and the
  common builtins, compared by identity with what was imported before the submission ran, so
  ``vars(module)[...] = ...`` and ``setattr(module, "na" + "me", ...)`` are seen too), IPython
  input or AST transformers, event callbacks or exception handlers added, a trace or profile
  function set;
- one ``cell`` line per cell, so that a submission that silences the pipe shows as cells that
  ran without a report.

This is evidence, not proof: it runs in the submission's own process, so code that digs the
hook's state out of the garbage collector, or redirects the pipe, can hide what it does after
that. It never changes a score, and it never raises into the submission's code.

IPython's history database is switched off in the sandboxed kernel (``HistoryManager.
enabled=False``): no file of past inputs, hidden tests included, is written there.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import types
from pathlib import Path

#: Environment variable holding the write end of the evidence pipe, inside the sandbox.
FD_ENV = "TPMLAB_EVIDENCE_FD"
#: Environment variable holding the evidence file, in the grading process (outside).
FILE_ENV = "TPMLAB_SANDBOX_EVIDENCE"
#: Bytes of evidence kept per kernel; the rest is read and dropped.
MAX_EVIDENCE_BYTES = 64 * 1024

SPAWN_EVENTS = {
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.spawn",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "pty.spawn",
}
WATCHED_MODULES = ("tpmlab.checks", "tpmlab.scoring")
WATCHED_BUILTINS = (
    "__import__",
    "abs",
    "all",
    "any",
    "bool",
    "compile",
    "dict",
    "eval",
    "exec",
    "float",
    "getattr",
    "hasattr",
    "int",
    "isinstance",
    "len",
    "list",
    "max",
    "min",
    "open",
    "print",
    "repr",
    "round",
    "setattr",
    "sorted",
    "str",
    "sum",
    "tuple",
    "type",
)
#: Where the kernel may write (the sandbox's tmpfs), as the kernel sees it.
WRITABLE = ("/assignment", "/tmp", "/home/student", "/dev/null", "/proc/self/fd")
#: Modules whose IPython hooks are the kernel's own (matplotlib's inline backend, IPython).
OWN_HOOKS = ("IPython", "ipykernel", "matplotlib_inline", "matplotlib", "tpmlab")
#: Modules that start processes on the way to the caller (skipped to find who asked).
PLUMBING = {"subprocess", "os", "pty", "platform", "shutil"}
#: Library code that starts a fixed helper on its own (matplotlib lists fonts with fc-list).
#: The course's own key-value server helper starts valkey-server or redis-server.
QUIET_SPAWNERS = ("matplotlib.font_manager", "tpmlab.sysdesign.kvstore")
LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0", "")


def _install(fd: int) -> None:
    import builtins
    import importlib

    write = os.write
    dumps = json.dumps
    abspath = os.path.abspath
    modules = sys.modules
    snapshots = {}
    for name in WATCHED_MODULES:
        module = importlib.import_module(name)
        snapshots[name] = (module, dict(vars(module)))
    own_builtins = {name: getattr(builtins, name) for name in WATCHED_BUILTINS}
    state: dict = {"started": False, "busy": False, "cells": 0, "shell": None}
    reported: set = set()

    def report(kind: str, detail: str = "") -> None:
        line = (kind, detail)
        if line in reported and kind != "cell":
            return
        reported.add(line)
        # a closed pipe means nothing more can be reported
        with contextlib.suppress(Exception):
            write(fd, (dumps({"kind": kind, "detail": detail[:200]}) + "\n").encode())

    def hooks_of(shell) -> dict:
        found: dict = {}
        for attr in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers"):
            found[attr] = list(getattr(shell, attr, []) or [])
        events = getattr(getattr(shell, "events", None), "callbacks", {}) or {}
        found["events"] = {name: list(cbs) for name, cbs in events.items()}
        found["custom_exceptions"] = getattr(shell, "custom_exceptions", ())
        found["instance"] = sorted(
            k
            for k in ("run_cell", "run_cell_async", "run_code", "showtraceback", "transform_cell")
            if k in vars(shell)
        )
        return found

    def foreign(obj) -> bool:
        module = getattr(obj, "__module__", None) or type(obj).__module__ or ""
        return str(module).split(".")[0] not in OWN_HOOKS

    def course_handler(shell) -> bool:
        """Whether the custom exception handler is the course's plain-words advice
        (``tpmlab.errors.explain_errors()``, which assignments call in their setup)."""
        wrapped = getattr(shell, "CustomTB", None)
        fn = getattr(wrapped, "__func__", wrapped)
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if callable(value) and getattr(value, "__module__", "") == "tpmlab.errors":
                return True
        return False

    def check_state() -> None:
        for name, (module, before) in snapshots.items():
            if modules.get(name) is not module:
                report("course code replaced", f"{name} (the module itself)")
                continue
            now = vars(module)
            for attr, obj in before.items():
                if attr.startswith("__"):
                    continue
                if now.get(attr, report) is not obj:
                    report("course code replaced", f"{name}.{attr}")
        for name, obj in own_builtins.items():
            if getattr(builtins, name, None) is not obj:
                report("builtins replaced", name)
        if sys.gettrace() is not None or sys.getprofile() is not None:
            report("trace function set")
        if sys.excepthook is not sys.__excepthook__ and foreign(sys.excepthook):
            report("exception handler replaced", "sys.excepthook")
        shell = state["shell"]
        if shell is None:
            return
        now = hooks_of(shell)
        before = state["hooks"]
        for attr in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers"):
            added = [h for h in now[attr] if h not in before[attr] and foreign(h)]
            if added or len(now[attr]) < len(before[attr]):
                report("IPython hooks changed", attr)
        for event, callbacks in now["events"].items():
            old = before["events"].get(event, [])
            if any(cb not in old and foreign(cb) for cb in callbacks):
                report("IPython hooks changed", f"event callback {event}")
        if now["custom_exceptions"] != before["custom_exceptions"] and not course_handler(shell):
            report("exception handler replaced", "set_custom_exc")
        for attr in now["instance"]:
            if attr not in before["instance"]:
                report("IPython hooks changed", f"shell.{attr} replaced")

    def on_cell() -> None:
        if state["shell"] is None:
            ipython = modules.get("IPython")
            shell = ipython.get_ipython() if ipython is not None else None
            if shell is not None:
                state["shell"], state["hooks"] = shell, hooks_of(shell)
        state["cells"] += 1
        report("cell", str(state["cells"]))
        check_state()

    def calling_module() -> str:
        """The module that called into the process-starting machinery."""
        frame: types.FrameType | None = sys._getframe(2)
        while frame is not None and frame.f_globals.get("__name__", "") in PLUMBING:
            frame = frame.f_back
        return "" if frame is None else str(frame.f_globals.get("__name__", ""))

    def writes(mode, flags) -> bool:
        if isinstance(mode, str):
            return any(c in mode for c in "wax+")
        if isinstance(flags, int):
            return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
        return False

    def hook(event: str, args: tuple) -> None:
        if state["busy"]:
            return
        state["busy"] = True
        try:
            if event == "exec":
                # IPython runs every cell with exec() on code compiled from a file name of its
                # own; kernel start-up before the first cell is not the submission's doing
                filename = str(getattr(args[0], "co_filename", "")) if args else ""
                if "ipykernel_" in filename or filename.startswith("<ipython-input"):
                    state["started"] = True
                    on_cell()
            elif not state["started"]:
                return
            elif event in SPAWN_EVENTS:
                caller = calling_module()
                if caller.startswith(QUIET_SPAWNERS):
                    return
                what = args[0] if args and isinstance(args[0], (str, bytes, list, tuple)) else ""
                if isinstance(what, (list, tuple)):
                    what = " ".join(str(w) for w in what[:3])
                if isinstance(what, bytes):
                    what = what.decode(errors="replace")
                report("process started", f"{event} {what}".strip())
            elif event == "socket.connect" and len(args) > 1:
                address = args[1]
                host = address[0] if isinstance(address, tuple) and address else address
                if isinstance(host, str) and not host.startswith(LOOPBACK) and "/" not in host:
                    report("network connection", f"{host}")
            elif event == "socket.getaddrinfo" and args:
                host = args[0]
                if isinstance(host, bytes):
                    host = host.decode(errors="replace")
                if isinstance(host, str) and not host.startswith(LOOPBACK):
                    report("network name lookup", host)
            elif event == "open" and len(args) >= 3:
                path, mode, flags = args[0], args[1], args[2]
                if isinstance(path, (str, bytes)) and writes(mode, flags):
                    path = os.fsdecode(path)
                    full = abspath(path)
                    if not any(full == w or full.startswith(w + "/") for w in WRITABLE):
                        report("write outside the working directory", full)
        except Exception:  # noqa: BLE001 - an audit hook that raises would break honest code
            pass
        finally:
            state["busy"] = False

    sys.addaudithook(hook)


#: Grading kernels ignore the environment's IPython extensions: a learner's setup of the same
#: environment (``learner-setup`` loads ``tpmlab.errors`` in every kernel) shortens tracebacks,
#: and the feedback reads the traceback to tell a public check's error from a hidden test's.
KERNEL_ARGS = ("--InteractiveShellApp.extensions=[]",)


#: The module a grading kernel does not import (ipykernel then starts without its debugger).
NO_DEBUGGER = "debugpy"


def _preload(names: str) -> None:
    """Import the course's libraries a kernel started ahead of need loads before any student's
    code (:mod:`tpmlab.grading.sandbox.ahead`); one that fails is left for the student's own
    import to report."""
    import importlib

    for name in filter(None, names.split(",")):
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    fd = os.environ.pop(FD_ENV, None)
    # ipykernel's debugger is never used in grading, and importing debugpy for it is more than
    # half of the kernel's start-up (0.6 of 1.0 CPU seconds); without it ipykernel starts with
    # the debugger off
    sys.modules.setdefault(NO_DEBUGGER, None)  # type: ignore[arg-type]
    # the debugger's import also asked the platform module for the processor, which runs
    # ``uname -p`` once per process and keeps the answer; asked here, before the audit hook, a
    # library that reports the platform (dbt does) starts no process in a student's cell
    platform.processor()
    _preload(os.environ.pop("TPMLAB_SANDBOX_PRELOAD", ""))
    if fd is not None and fd.isdigit():
        _install(int(fd))
    from ipykernel import kernelapp

    sys.argv = [sys.argv[0], *argv, "--HistoryManager.enabled=False", *KERNEL_ARGS]
    kernelapp.launch_new_instance()
    return 0


# ---- outside the sandbox: reading the evidence ------------------------------------------------
#: How long the reader waits for the launcher's relay to finish writing the evidence file.
RELAY_WAIT_S = 10.0


def _wait_for_relay(path: Path | str) -> None:
    """Wait (at most :data:`RELAY_WAIT_S`) until no relay holds the evidence file's lock: the
    launcher's relay (:mod:`tpmlab.grading.sandbox.launcher`) takes it before the kernel starts
    and lets it go once it has read the sentinel's pipe to its end, so reports still in the pipe
    when the kernel was killed are in the file when it is read."""
    import fcntl
    import time

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return
    deadline = time.monotonic() + RELAY_WAIT_S
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return  # read what is there: a cut stream shows as "reports stopped"
                time.sleep(0.02)
            except OSError:
                return
    finally:
        os.close(fd)


def evidence_flags(path: Path | str, cells_run: int | None = None) -> list[str]:
    """Review flags for what the evidence file at ``path`` reports (``sandbox saw: ...``).
    ``cells_run`` is the number of code cells the grader sent: fewer ``cell`` reports than that
    means the submission silenced its kernel's reports part of the way."""
    flags: list[str] = []
    cells = 0
    _wait_for_relay(path)
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return flags
    for line in text.splitlines():
        try:
            item = json.loads(line)
            kind, detail = str(item["kind"]), str(item.get("detail", ""))
        except (ValueError, KeyError, TypeError):
            flag = "sandbox saw: unreadable reports"
        else:
            if kind == "cell":
                cells += 1
                continue
            flag = f"sandbox saw: {kind}" + (f" ({detail[:80]})" if detail else "")
        if flag not in flags and len(flags) < 20:
            flags.append(flag)
    if cells_run is not None and cells < cells_run:
        flags.append(
            f"sandbox saw: reports stopped ({cells} of {cells_run} cells reported; the "
            "submission may have silenced them)"
        )
    return flags


if __name__ == "__main__":
    sys.exit(main())
