"""The learner's Validate button, message first: nbgrader's validation, reordered for a learner.

nbgrader's Validate dialog lists each failing check as "The following cell failed:", the check
cell's whole source, then the traceback, so the one line a learner needs (what is wrong, what to
try) sits below a screen of code. This Jupyter server extension serves the same
``/assignments/validate`` endpoint with nbgrader's own :class:`~nbgrader.validator.Validator`,
and only rearranges each failure: the dialog's first block becomes the check's message (the
``CheckFailed`` text or the error with its plain-words advice), the second the details (the
check cell's source, then the traceback).

``python -m tpmlab.course learner-setup`` enables it in place of nbgrader's
``validate_assignment`` server extension (the JupyterLab side, the Validate button, is nbgrader's
and unchanged).
"""

from __future__ import annotations

import html
import json
import re

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: The line where a Python traceback names the exception: ``CheckFailed: ...``, ``KeyError: ...``.
EXCEPTION_LINE = re.compile(
    r"^(?:[\w.]+\.)?(?P<name>[A-Z]\w*(?:Error|Exception|Failed|Warning))(?::|$)"
)


def learner_message(raw_error: str) -> str:
    """The part of a failing cell's error a learner should read first.

    From the last line that names an exception to the end (the message and any plain-words
    advice under it), without colour codes; the whole text when no such line exists (for example
    nbgrader's "You did not provide a response.").
    """
    lines = ANSI.sub("", raw_error).rstrip().splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if EXCEPTION_LINE.match(lines[index]):
            return "\n".join(lines[index:]).strip()
    return "\n".join(lines).strip()


def message_first(result: dict) -> dict:
    """nbgrader's validation result with each failure's message moved to the top.

    ``result`` is what :meth:`Validator.validate` returns (keys ``failed``, ``changed``, ...);
    only ``failed`` entries change: ``source`` (shown first, as text) becomes the message, and
    ``error`` (shown second, as HTML) the check cell's source and then the traceback.
    """
    failed = result.get("failed")
    if not failed:
        return result
    rearranged = []
    for cell in failed:
        raw = cell.get("raw_error", "")
        details = (
            "<b>The check that failed:</b>\n"
            + html.escape(cell.get("source", ""))
            + "\n\n<b>Full error:</b>\n"
            + cell.get("error", "")
        )
        rearranged.append({**cell, "source": learner_message(raw), "error": details})
    return {**result, "failed": rearranged}


def _handlers():
    from nbgrader.server_extensions.validate_assignment.handlers import (
        NbGraderVersionHandler,
        ValidateAssignmentHandler,
    )
    from tornado import web

    class MessageFirstValidateHandler(ValidateAssignmentHandler):
        """nbgrader's validate handler, with failures rearranged by :func:`message_first`."""

        @web.authenticated
        def post(self):
            try:
                path = self.get_argument("path")
            except web.MissingArgumentError:
                path = self.get_json_body()["path"]
            output = self.validate_notebook(path)
            if output.get("success") and isinstance(output.get("value"), dict):
                output = {**output, "value": message_first(output["value"])}
            self.finish(json.dumps(output))

    return [
        (r"/assignments/validate", MessageFirstValidateHandler),
        (r"/nbgrader_version", NbGraderVersionHandler),
    ]


def _jupyter_server_extension_points():
    return [{"module": "tpmlab.validate_dialog"}]


def _load_jupyter_server_extension(serverapp) -> None:
    from jupyter_server.utils import url_path_join

    webapp = serverapp.web_app
    webapp.settings["root_dir"] = serverapp.root_dir
    base_url = webapp.settings["base_url"]
    webapp.add_handlers(
        ".*$", [(url_path_join(base_url, pattern), handler) for pattern, handler in _handlers()]
    )
    serverapp.log.info("tpmlab.validate_dialog: Validate shows each failing check's message first")
