"""The practice API's lab configurations: a deliberately vulnerable one, and mutants for grading.

Module 7 needs a server with workspaces, members and roles (which the main practice API does not
model), that can be started **on purpose** in three ways, each a switch of the same application::

    from tpmlab.api.lab import start_lab
    with start_lab() as api: ...                       # the fixed (correct) configuration
    with start_lab(vulnerable=True) as api: ...        # five planted OWASP API Top 10 flaws
    with start_lab(mutant="missing_404") as api: ...   # one planted bug, for mutation grading

Nothing here is reachable from :func:`tpmlab.api.start_server`: the main practice API, its tests
and its OpenAPI document are unchanged. The lab binds 127.0.0.1 only, so it runs inside the
grading sandbox like the main API.

**The API.** Workspaces hold members (role ``member`` or ``admin``) and tasks. Bearer tokens are
HS256 JSON Web Tokens (RFC 7519) with ``sub`` (the user id) and ``exp``; ``api.token(user_id)``
issues one. Routes: ``GET /v1/me``, ``PATCH /v1/me`` (``name`` only), ``GET /v1/tasks``
(the caller's workspace; ``status`` filter; ``limit`` 1-50, default 10, and ``offset``),
``GET /v1/tasks/{id}`` (404 unless the task exists *in the caller's workspace*), ``POST
/v1/tasks`` (201; 409 if the workspace already has a task with that title), ``GET
/v1/admin/users`` (admins only, else 403).

**The planted flaws** (``vulnerable=True``; names from the OWASP API Security Top 10, 2023):

* ``bola`` (API1, broken object level authorization): ``GET /v1/tasks/{id}`` serves a task of
  another workspace;
* ``broken_authentication`` (API2): a token whose signature does not verify, or that has
  expired, is accepted;
* ``mass_assignment`` (API3, broken object property level authorization): ``PATCH /v1/me``
  applies ``role`` (or ``workspace_id``) from the body;
* ``unrestricted_resource_consumption`` (API4): ``limit`` has no maximum;
* ``broken_function_level_authorization`` (API5): a member reaches ``GET /v1/admin/users``.

The server **records what it observed** (:meth:`LabServer.observed`): each request that used a
flaw, as ``exploited`` on the vulnerable configuration and ``refused`` on the fixed one (which
answers 404, 401, 422, 422 and 403 to them). A grader reads that record, not the learner's words.

**The mutants** (bugs a good acceptance test suite catches; each off unless named):
``off_by_one_pagination`` (every page after the first starts one item late, so one item per page
boundary is never listed), ``missing_404`` (an unknown task id answers ``200`` with ``null``),
``duplicate_create_status`` (a duplicate title answers ``200`` with the existing task instead of
``409``), ``filter_ignored`` (``status`` is ignored).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tpmlab.errors import TPMLabError

FLAWS = (
    "bola",
    "broken_authentication",
    "mass_assignment",
    "unrestricted_resource_consumption",
    "broken_function_level_authorization",
)
MUTANTS = ("off_by_one_pagination", "missing_404", "duplicate_create_status", "filter_ignored")
STATUSES = ("todo", "doing", "done")
DEFAULT_LIMIT, MAX_LIMIT = 10, 50
READ_ONLY_FIELDS = ("id", "role", "workspace_id", "email")


class LabError(TPMLabError):
    """The lab server was asked for something it does not have."""


# ---------------------------------------------------------------------------------------------
# Tokens: HS256 JSON Web Tokens, written out so a lesson can show every part
# ---------------------------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: str, user_id: int, exp: float, alg: str = "HS256") -> str:
    """A JWT for ``user_id`` expiring at unix time ``exp``, signed with ``secret``."""
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps({"sub": user_id, "exp": int(exp)}, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def read_token(token: str, secret: str, now: float) -> tuple[dict | None, str | None]:
    """``(claims, problem)``: the claims if the token can be read at all, and what is wrong.

    ``problem`` is None for a valid token, else ``"bad-signature"`` (unsigned, ``alg: none``,
    or signed with another key) or ``"expired"``. ``claims`` is None for a token that is not a
    JWT at all.
    """
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        claims = json.loads(b64url_decode(payload_b64))
        int(claims["sub"])
    except (ValueError, KeyError, TypeError):
        return None, None
    expected = hmac.new(
        secret.encode(), f"{header_b64}.{payload_b64}".encode(), hashlib.sha256
    ).digest()
    try:
        signature = b64url_decode(signature_b64)
    except ValueError:
        signature = b""
    if header.get("alg") != "HS256" or not hmac.compare_digest(expected, signature):
        return claims, "bad-signature"
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= now:
        return claims, "expired"
    return claims, None


def claims_of(token: str) -> dict:
    """The claims of a JWT, read **without** checking its signature (as an attacker can)."""
    return json.loads(b64url_decode(token.split(".")[1]))


def with_claims(token: str, **changes: Any) -> str:
    """The token with some claims changed and its old signature kept: a forgery a server must
    refuse, since the signature no longer matches the claims."""
    header, _, signature = token.split(".")
    claims = {**claims_of(token), **changes}
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{signature}"


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
@dataclass
class LabData:
    """Workspaces, users and tasks of one lab server (made from a seed, kept in memory)."""

    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_task_id: int = 1

    @classmethod
    def generate(cls, seed: int, workspaces: int = 3, members: int = 3) -> LabData:
        rng = random.Random(seed)
        data = cls()
        uid = 1
        for ws in range(1, workspaces + 1):
            for k in range(members + 1):
                role = "admin" if k == 0 else "member"
                data.users[uid] = {
                    "id": uid,
                    "name": f"{rng.choice(['Ana', 'Ben', 'Chen', 'Dara', 'Eli', 'Femi'])} {uid}",
                    "email": f"user{uid}@ws{ws}.orbit.example",
                    "workspace_id": ws,
                    "role": role,
                }
                uid += 1
        # tasks of all workspaces interleaved, so ids do not reveal the workspace
        owners = [ws for ws in range(1, workspaces + 1) for _ in range(rng.randint(60, 80))]
        rng.shuffle(owners)
        for n, ws in enumerate(owners, 1):
            data.tasks[n] = {
                "id": n,
                "workspace_id": ws,
                "title": f"Task {n}: {rng.choice(['fix', 'write', 'review', 'ship'])} "
                f"{rng.choice(['onboarding', 'billing', 'search', 'sync', 'export'])}",
                "status": rng.choice(STATUSES),
            }
        data.next_task_id = len(owners) + 1
        return data

    def members_of(self, workspace_id: int, role: str) -> list[int]:
        return [
            u["id"]
            for u in self.users.values()
            if u["workspace_id"] == workspace_id and u["role"] == role
        ]


@dataclass
class Observation:
    """One request that used a planted flaw, and whether the server let it through."""

    flaw: str
    outcome: str  # "exploited" (vulnerable configuration) or "refused" (fixed configuration)
    method: str
    path: str
    user_id: int | None


# ---------------------------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------------------------
def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


class _Refused(Exception):
    def __init__(self, response: JSONResponse):
        self.response = response


def create_lab_app(
    *, vulnerable: bool = False, mutant: str | None = None, seed: int = 7, secret: str = "lab"
) -> FastAPI:
    """The lab application; its state (data, observations) is in ``app.state.lab``."""
    if mutant is not None and mutant not in MUTANTS:
        raise LabError(f"There is no mutant {mutant!r}.", f"Use one of: {', '.join(MUTANTS)}.")
    app = FastAPI(title="Orbit workspace API (security lab)", docs_url=None, redoc_url=None)
    data = LabData.generate(seed)
    observations: list[Observation] = []
    lock = threading.Lock()
    app.state.lab = {"data": data, "observations": observations, "secret": secret}

    def observe(request: Request, flaw: str, user_id: int | None) -> None:
        outcome = "exploited" if vulnerable else "refused"
        with lock:
            observations.append(
                Observation(flaw, outcome, request.method, request.url.path, user_id)
            )

    def caller(request: Request) -> dict[str, Any]:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise _Refused(
                _problem(401, "Authentication required", "Send `Authorization: Bearer <token>`.")
            )
        claims, problem = read_token(header[7:].strip(), secret, time.time())
        user = data.users.get(int(claims["sub"])) if claims else None
        if claims is None or user is None:
            raise _Refused(_problem(401, "Authentication required", "The token is not valid."))
        if problem is not None:
            observe(request, "broken_authentication", user["id"])
            if not vulnerable:
                why = (
                    "The token has expired: ask for a new one."
                    if problem == "expired"
                    else "The token's signature does not verify: it was changed or not issued "
                    "by this server."
                )
                raise _Refused(_problem(401, "Authentication required", why))
        return user

    @app.exception_handler(_Refused)
    async def refused(_request: Request, exc: _Refused) -> JSONResponse:
        return exc.response

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/v1/me")
    async def me(request: Request):
        return caller(request)

    @app.patch("/v1/me")
    async def update_me(request: Request):
        user = caller(request)
        try:
            body = await request.json()
        except ValueError:
            return _problem(400, "Malformed request", "The body is not valid JSON.")
        if not isinstance(body, dict):
            return _problem(422, "Invalid request", 'Send a JSON object such as {"name": ...}.')
        protected = sorted(k for k in body if k in READ_ONLY_FIELDS and body[k] != user.get(k))
        unknown = sorted(k for k in body if k not in READ_ONLY_FIELDS and k != "name")
        if unknown:
            return _problem(422, "Invalid request", f"Unknown field(s): {', '.join(unknown)}.")
        if protected:
            observe(request, "mass_assignment", user["id"])
            if not vulnerable:
                return _problem(
                    422,
                    "Invalid request",
                    f"Field(s) {', '.join(protected)} are read-only: only `name` can change.",
                )
        name = body.get("name", "unchanged")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            return _problem(422, "Invalid request", "name must be 1 to 100 characters.")
        changes = {k: v for k, v in body.items() if k == "name" or (vulnerable and k != "id")}
        user.update(changes)
        return user

    @app.get("/v1/tasks")
    async def list_tasks(request: Request):
        user = caller(request)
        q = request.query_params
        try:
            limit = int(q.get("limit", DEFAULT_LIMIT))
            offset = int(q.get("offset", 0))
        except ValueError:
            return _problem(422, "Invalid request", "limit and offset must be whole numbers.")
        status = q.get("status")
        if status is not None and status not in STATUSES:
            return _problem(422, "Invalid request", f"status must be one of {STATUSES}.")
        if limit < 1 or offset < 0:
            return _problem(422, "Invalid request", "limit must be >= 1 and offset >= 0.")
        if limit > MAX_LIMIT:
            observe(request, "unrestricted_resource_consumption", user["id"])
            if not vulnerable:
                return _problem(
                    422, "Invalid request", f"limit must be at most {MAX_LIMIT}: page through."
                )
        rows = [t for t in data.tasks.values() if t["workspace_id"] == user["workspace_id"]]
        if status is not None and mutant != "filter_ignored":
            rows = [t for t in rows if t["status"] == status]
        start = offset + 1 if mutant == "off_by_one_pagination" and offset > 0 else offset
        return {
            "data": rows[start : start + limit],
            "total": len(rows),
            "limit": limit,
            "offset": offset,
        }

    @app.get("/v1/tasks/{task_id}")
    async def get_task(request: Request, task_id: int):
        user = caller(request)
        task = data.tasks.get(task_id)
        if task is None:
            if mutant == "missing_404":
                return None
            return _problem(404, "Not found", f"There is no task {task_id} in your workspace.")
        if task["workspace_id"] != user["workspace_id"]:
            observe(request, "bola", user["id"])
            if not vulnerable:  # the same answer as a missing task: do not reveal it exists
                return _problem(404, "Not found", f"There is no task {task_id} in your workspace.")
        return task

    @app.post("/v1/tasks", status_code=201)
    async def create_task(request: Request):
        user = caller(request)
        try:
            body = await request.json()
        except ValueError:
            return _problem(400, "Malformed request", "The body is not valid JSON.")
        title = body.get("title") if isinstance(body, dict) else None
        status = body.get("status", "todo") if isinstance(body, dict) else None
        if not isinstance(title, str) or not 1 <= len(title.strip()) <= 200:
            return _problem(422, "Invalid request", "title is required (1 to 200 characters).")
        if status not in STATUSES:
            return _problem(422, "Invalid request", f"status must be one of {STATUSES}.")
        with lock:
            same = [
                t
                for t in data.tasks.values()
                if t["workspace_id"] == user["workspace_id"] and t["title"] == title
            ]
            if same:
                if mutant == "duplicate_create_status":
                    return JSONResponse(same[0], status_code=200)
                return _problem(
                    409, "Conflict", f"Your workspace already has a task titled {title!r}."
                )
            task = {
                "id": data.next_task_id,
                "workspace_id": user["workspace_id"],
                "title": title,
                "status": status,
            }
            data.tasks[task["id"]] = task
            data.next_task_id += 1
        return JSONResponse(task, status_code=201, headers={"Location": f"/v1/tasks/{task['id']}"})

    @app.get("/v1/admin/users")
    async def admin_users(request: Request):
        user = caller(request)
        if user["role"] != "admin":
            observe(request, "broken_function_level_authorization", user["id"])
            if not vulnerable:
                return _problem(403, "Forbidden", "This route is for workspace admins only.")
        return {"data": list(data.users.values())}

    return app


# ---------------------------------------------------------------------------------------------
# Running it
# ---------------------------------------------------------------------------------------------
class LabServer:
    """A running lab server on 127.0.0.1 (``.url``); stop with ``.stop()`` or a ``with`` block."""

    def __init__(self, *, vulnerable: bool, mutant: str | None, seed: int, secret: str):
        self.vulnerable, self.mutant, self.seed = vulnerable, mutant, seed
        self._secret = secret
        self.app = create_lab_app(vulnerable=vulnerable, mutant=mutant, seed=seed, secret=secret)
        self.data: LabData = self.app.state.lab["data"]
        self._observations: list[Observation] = self.app.state.lab["observations"]
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self._sock])),
            name=f"orbit-lab-{self.port}",
            daemon=True,
        )

    def start(self, timeout: float = 10.0) -> LabServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise LabError(
                    "The security lab server did not start.",
                    "Restart the kernel and run the cell again; if it persists, report it.",
                )
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> LabServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        kind = "vulnerable" if self.vulnerable else "fixed"
        if self.mutant:
            kind += f", mutant {self.mutant}"
        return f"<Orbit security lab ({kind}) at {self.url}>"

    # -- for lessons, tests and graders --------------------------------------------------------
    def token(self, user_id: int, expires_in: float = 3600) -> str:
        """A valid token for ``user_id`` (``expires_in`` seconds from now; negative: expired)."""
        if user_id not in self.data.users:
            raise LabError(f"There is no user {user_id}.", f"Use one of {sorted(self.data.users)}.")
        return make_token(self._secret, user_id, time.time() + expires_in)

    def member(self, workspace_id: int = 1) -> int:
        """The id of the first member (not admin) of a workspace."""
        return self.data.members_of(workspace_id, "member")[0]

    def admin(self, workspace_id: int = 1) -> int:
        return self.data.members_of(workspace_id, "admin")[0]

    def auth(self, user_id: int | None = None) -> dict[str, str]:
        """Headers with a valid bearer token (default: the first member of workspace 1)."""
        return {"Authorization": f"Bearer {self.token(user_id or self.member())}"}

    def send(self, method: str, path: str, token: str | None = None, **kwargs: Any):
        """``requests.request`` to this server with a bearer token (default: a member of
        workspace 1). ``kwargs`` go to requests (``json=``, ``params=``)."""
        import requests

        token = token or self.token(self.member())
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def observations(self) -> list[Observation]:
        return list(self._observations)

    def observed(self, outcome: str = "exploited") -> list[str]:
        """The flaws that requests used so far, with this outcome, sorted, each once."""
        return sorted({o.flaw for o in self._observations if o.outcome == outcome})

    def clear(self) -> None:
        """Forget the observations (the data stays as the requests left it)."""
        self._observations.clear()

    def reset(self) -> None:
        """Back to the data it started with, and no observations (tokens stay valid)."""
        fresh = LabData.generate(self.seed)
        self.data.users, self.data.tasks = fresh.users, fresh.tasks
        self.data.next_task_id = fresh.next_task_id
        self._observations.clear()


def start_lab(
    *, vulnerable: bool = False, mutant: str | None = None, seed: int = 7, secret: str | None = None
) -> LabServer:
    """Start a lab server: fixed by default; ``vulnerable=True`` or a ``mutant`` only if asked.

    ``secret`` signs the tokens (default: a fresh random key, so a learner's code cannot sign a
    token itself and must use the tokens it is given; it changes no result, only signatures).
    """
    if secret is None:
        secret = secrets.token_hex(16)
    return LabServer(vulnerable=vulnerable, mutant=mutant, seed=seed, secret=secret).start()
