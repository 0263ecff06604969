"""Show HTTP exchanges the way the lessons teach them: as raw HTTP text and as a curl command.

``requests`` hides the wire format; these helpers put it back so a learner sees exactly what was
sent and received, and can paste the same call into a terminal::

    r = requests.get(url, headers=api.auth())
    print(to_curl(r.request))
    print(exchange(r))
"""

from __future__ import annotations

import json
import shlex
from urllib.parse import urlsplit

import requests

#: Headers requests adds on its own; hidden to keep the examples readable.
NOISE = {"user-agent", "accept-encoding", "connection", "accept", "content-length", "date"}


def _redact(name: str, value: str, redact: bool) -> str:
    if redact and name.lower() == "authorization" and " " in value:
        scheme, token = value.split(" ", 1)
        return f"{scheme} {token[:8]}..." if len(token) > 8 else value
    return value


def to_curl(request: requests.PreparedRequest, redact: bool = False) -> str:
    """The curl command that sends the same request (``redact`` shortens the bearer token)."""
    parts = ["curl", "-i"]
    if request.method != "GET":
        parts += ["-X", request.method]
    for name, value in request.headers.items():
        if name.lower() in NOISE and not (name.lower() == "accept" and value != "*/*"):
            continue
        parts += ["-H", f"{name}: {_redact(name, value, redact)}"]
    if request.body:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        parts += ["--data", body]
    parts.append(request.url)
    return " ".join(shlex.quote(p) for p in parts)


def exchange(response: requests.Response, redact: bool = True, max_body: int = 800) -> str:
    """The request and the response as HTTP/1.1 text (headers that requests adds are hidden)."""
    req = response.request
    url = urlsplit(req.url)
    target = url.path + (f"?{url.query}" if url.query else "")
    lines = [f"{req.method} {target} HTTP/1.1", f"Host: {url.netloc}"]
    lines += [
        f"{k}: {_redact(k, v, redact)}" for k, v in req.headers.items() if k.lower() not in NOISE
    ]
    if req.body:
        lines += ["", req.body.decode() if isinstance(req.body, bytes) else str(req.body)]
    lines += ["", f"HTTP/1.1 {response.status_code} {response.reason}"]
    lines += [f"{k}: {v}" for k, v in response.headers.items() if k.lower() not in {"date"}]
    if response.content:
        try:
            body = json.dumps(response.json(), indent=2)
        except ValueError:
            body = response.text
        lines += ["", body if len(body) <= max_body else body[:max_body] + "\n..."]
    return "\n".join(lines)
