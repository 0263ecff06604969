"""A whole class on one JupyterHub (issue 26), end to end with real local accounts.

One JupyterHub for the module, started with deploy/jupyterhub/jupyterhub_config.py exactly as
deploy/jupyterhub/README.md says (``jupyterhub -f ...`` from its state folder, the class roster
beside it, the exchange made as nbgrader documents), with configurable-http-proxy from npm. An
instructor and two students are real Unix accounts (``useradd``, removed afterwards) logging in
with their passwords (PAM); their servers run as themselves (LocalProcessSpawner). A student logs
in through the real browser; the rest goes through the hub's REST API with each account's own
token (``jupyterhub token``): the students' Assignments extension (fetch, submit, feedback), the
contents API (answering), and the accounts' own kernels for the instructor's terminal commands
and for what a student may try to read.

The class: the instructor releases the warm-up; alice submits a blank notebook, then her
answers (the later counts: 7/7); the deadline passes and bob submits one wrong answer (5/7,
flagged late). The instructor collects, the grader autogrades in the sandbox as root, the
instructor releases feedback, and each student fetches their own and cannot read the other's
work or the exchange's other inbound folders. No course file is world-writable but the exchange
folders nbgrader documents.

Needs root (to create accounts), useradd, configurable-http-proxy, bubblewrap and Chromium:
skips without them, and fails instead where ``TPMLAB_REQUIRE_HUB=1`` (CI, ``.ci/run``).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nbformat
import pytest
import requests

from tpmlab.paths import REPO_ROOT

pytestmark = [pytest.mark.hub, pytest.mark.slow, pytest.mark.sandbox, pytest.mark.browser]

CONFIG = REPO_ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"
BIN = Path(sys.executable).parent
ASSIGNMENT, NOTEBOOK = "00-warmup", "warmup.ipynb"
COURSE_ID = "tpm-skills-lab"
CHROMIUM = os.environ.get("TPMLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
#: bob's wrong answer: counts instead of shares (question 3, 2 of the 7 autograded points)
WRONG_Q3 = 'def platform_shares(users):\n    return users["platform"].value_counts()\n'


def _missing() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux to create the class's local accounts"
    for tool in ("useradd", "userdel", "chpasswd", "unshare", "configurable-http-proxy"):
        if not shutil.which(tool):
            hint = "npm install -g configurable-http-proxy@5.3.0" if "proxy" in tool else tool
            return f"{tool} is not installed ({hint}; .ci/run installs it)"
    try:
        import jupyterhub  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    from tpmlab.grading.sandbox import probe

    return probe()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unreachable_python() -> Path | None:
    """The folder of root's home holding this Python, when other accounts cannot traverse it
    (a Python built under /root, as pyenv does; a real install lives in /opt or /usr)."""
    real = Path(os.path.realpath(sys.executable))
    for parent in real.parents:
        if parent == Path("/"):
            return None
        if parent.parent == Path("/root") and not os.stat("/root").st_mode & stat.S_IXOTH:
            return parent
    return None


def _hub_command(state: Path) -> list[str]:
    cmd = [str(BIN / "jupyterhub"), "-f", str(CONFIG)]
    hidden = _unreachable_python()
    if hidden is None:
        return cmd
    # Let the accounts run this Python: in a mount namespace of the hub's own, /root becomes an
    # empty traversable folder with only the Python installation bound back into it. Nothing on
    # the machine changes, and the namespace ends with the hub.
    keep = state / "python-install"
    keep.mkdir()
    script = (
        f"mount --bind {hidden} {keep} && mount -t tmpfs -o mode=0711 tmpfs /root && "
        f'mkdir -p {hidden} && mount --bind {keep} {hidden} && exec "$@"'
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *cmd]


def _login_token(url: str, name: str, password: str) -> str:
    """Log in with the account's password (the hub's login form) and ask for an API token, as
    the hub's Token page does."""
    s = requests.Session()
    s.get(url + "/hub/login", timeout=30)
    xsrf = s.cookies.get("_xsrf")
    r = s.post(
        url + "/hub/login",
        data={"username": name, "password": password, "_xsrf": xsrf},
        allow_redirects=False,
        timeout=60,
    )
    assert r.status_code == 302, f"{name} could not log in: {r.status_code} {r.text[:300]}"
    r = s.post(
        f"{url}/hub/api/users/{name}/tokens",
        json={"note": "tests/test_jupyterhub.py", "expires_in": 3600},
        headers={"X-XSRFToken": s.cookies.get("_xsrf") or xsrf},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return r.json()["token"]


class Hub:
    """The running hub, its accounts and their tokens."""

    def __init__(self, url, state, exchange, accounts, password, tokens, proc):
        self.url, self.state, self.exchange = url, state, exchange
        self.accounts, self.password, self.tokens, self.proc = accounts, password, tokens, proc
        self.kernels: dict[str, str] = {}

    def api(self, who: str, method: str, path: str, **kw) -> requests.Response:
        headers = {"Authorization": f"token {self.tokens[who]}"}
        return requests.request(method, self.url + path, headers=headers, timeout=120, **kw)

    def user(self, who: str, method: str, path: str, **kw) -> requests.Response:
        return self.api(who, method, f"/user/{self.accounts[who]}{path}", **kw)

    def home(self, who: str) -> Path:
        return Path(pwd.getpwnam(self.accounts[who]).pw_dir)

    def start(self, who: str) -> None:
        """Ask the hub for ``who``'s server (no-op when it runs)."""
        r = self.api(who, "POST", f"/hub/api/users/{self.accounts[who]}/server")
        assert r.status_code in (201, 202, 400), r.text  # 400: already running

    def wait(self, who: str) -> None:
        name = self.accounts[who]
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            info = self.api(who, "GET", f"/hub/api/users/{name}").json()
            server = info.get("servers", {}).get("")
            if server and server.get("ready"):
                return
            time.sleep(0.5)
        raise AssertionError(f"{name}'s server did not start: {self.log()}")

    def run(self, who: str, code: str, timeout: float = 300) -> str:
        """Execute ``code`` in ``who``'s kernel (one per account, started on first use, in the
        home folder); its stdout. Raises with the traceback on an error."""
        import websocket

        if who not in self.kernels:
            r = self.user(who, "POST", "/api/kernels", json={"name": "python3"})
            self.kernels[who] = r.json()["id"]
        ws_url = self.url.replace("http", "ws", 1)
        ws = websocket.create_connection(
            f"{ws_url}/user/{self.accounts[who]}/api/kernels/{self.kernels[who]}/channels",
            header=[f"Authorization: token {self.tokens[who]}"],
            timeout=timeout,
        )
        msg_id = uuid.uuid4().hex
        ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": who,
                        "session": uuid.uuid4().hex,
                        "msg_type": "execute_request",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": code, "silent": False, "allow_stdin": False},
                    "channel": "shell",
                }
            )
        )
        out, error = [], None
        try:
            while True:
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "stream":
                    out.append(msg["content"]["text"])
                elif kind == "error":
                    error = "\n".join(msg["content"]["traceback"])
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    break
        finally:
            ws.close()
        if error:
            raise AssertionError(f"{who}'s code failed:\n{''.join(out)}\n{error}")
        return "".join(out)

    def shell(self, who: str, command: str, cwd: str = "~") -> str:
        """A command typed in ``who``'s terminal on the hub (their server's environment)."""
        code = (
            "import os, subprocess\n"
            f"p = subprocess.run({command!r}, shell=True, cwd=os.path.expanduser({cwd!r}), "
            "capture_output=True, text=True)\n"
            "print(p.stdout + p.stderr)\nprint('EXIT', p.returncode)\n"
        )
        out = self.run(who, code)
        assert out.rstrip().endswith("EXIT 0"), f"{command!r} as {who} failed:\n{out}"
        return out

    def log(self) -> str:
        return (self.state / "hub.log").read_text()[-4000:]


@pytest.fixture(scope="module")
def hub():
    reason = _missing()
    if reason:
        pytest.skip(reason)
    suffix = secrets.token_hex(2)
    accounts = {w: f"tpm{w[0]}{suffix}" for w in ("instructor", "alice", "bob")}
    password = secrets.token_urlsafe(12)
    created: list[str] = []
    state = Path(tempfile.mkdtemp(prefix="tpmlab-hub-"))  # 0700: the hub's database and secret
    shared = Path(tempfile.mkdtemp(prefix="tpmlab-srv-"))
    proc = None
    try:
        for name in accounts.values():
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
            created.append(name)
        subprocess.run(
            ["chpasswd"],
            input="".join(f"{n}:{password}\n" for n in accounts.values()),
            text=True,
            check=True,
        )
        # The exchange, as nbgrader documents it: a folder every account can write.
        os.chmod(shared, 0o755)
        exchange = shared / "nbgrader" / "exchange"
        exchange.mkdir(parents=True)
        os.chmod(exchange.parent, 0o755)
        os.chmod(exchange, 0o777)
        with (state / "roster.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["username", "role"])
            w.writerow([accounts["instructor"], "instructor"])
            w.writerow([accounts["alice"], "student"])
            w.writerow([accounts["bob"], "student"])
        port = _free_port()
        env = dict(
            os.environ,
            TPMLAB_EXCHANGE=str(exchange),
            TPMLAB_HUB_BIND_URL=f"http://127.0.0.1:{port}",
            TPMLAB_HUB_INTERNAL_URL=f"http://127.0.0.1:{_free_port()}",
            TPMLAB_HUB_PROXY_API_URL=f"http://127.0.0.1:{_free_port()}",
        )
        log = (state / "hub.log").open("w")
        proc = subprocess.Popen(
            _hub_command(state),
            cwd=state,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(url + "/hub/api/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "JupyterHub did not start:\n" + (state / "hub.log").read_text()
                )
            time.sleep(0.3)
        tokens = {who: _login_token(url, name, password) for who, name in accounts.items()}
        yield Hub(url, state, exchange, accounts, password, tokens, proc)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the hub stops the servers it spawned
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for name in created:
            left = subprocess.run(["pgrep", "-u", name], capture_output=True, text=True).stdout
            for pid in left.split():
                os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["userdel", "--remove", name], capture_output=True)
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(shared, ignore_errors=True)


# ---- the class ----------------------------------------------------------------------------------


def test_a_student_logs_in_in_the_browser_and_finds_the_course(hub):
    """alice's first login, in Chromium: the hub's login page, her server starting, JupyterLab
    on her home with the course copied into it."""
    from playwright.sync_api import expect, sync_playwright

    name = hub.accounts["alice"]
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context.set_default_timeout(240_000)
        page = context.new_page()
        try:
            page.goto(hub.url + "/hub/login")
            page.fill("#username_input", name)
            page.fill("#password_input", hub.password)
            page.click("#login_submit")
            page.wait_for_url(f"**/user/{name}/lab**")
            listing = page.locator(".jp-DirListing-content")
            expect(listing.get_by_text("tpm-skills-lab", exact=True)).to_be_visible(timeout=180_000)
        except Exception:
            shots = REPO_ROOT / "test-output" / "hub"
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "failure.png"))
            print(hub.log())
            raise
        finally:
            context.close()
    copied = hub.home("alice") / "tpm-skills-lab"
    assert (copied / "course" / "index.ipynb").is_file()
    assert not (copied / "autograder").exists()  # the nbgrader course is the instructor's
    assert copied.stat().st_uid == pwd.getpwnam(name).pw_uid
    assert (hub.home("instructor") / "tpm-skills-lab").exists() is False  # not logged in yet


def _solutions() -> dict[str, str]:
    """The source notebook's answer cells without the solution markers: a correct answer."""
    nb = nbformat.read(REPO_ROOT / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            lines = [ln for ln in cell.source.splitlines() if "### " not in ln]
            out[meta["grade_id"]] = "\n".join(lines) + "\n"
    return out


def _answer(hub: Hub, who: str, answers: dict[str, str]) -> None:
    """Write ``answers`` into the answer cells of ``who``'s fetched notebook (contents API)."""
    path = f"/api/contents/{ASSIGNMENT}/{NOTEBOOK}"
    model = hub.user(who, "GET", path).json()
    for cell in model["content"]["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    r = hub.user(who, "PUT", path, json={"type": "notebook", "content": model["content"]})
    assert r.status_code == 200, r.text


def _assignments(hub: Hub, who: str, action: str) -> dict:
    """Press the Assignments tab's button ``action`` (fetch, submit, fetch_feedback)."""
    r = hub.user(
        who,
        "POST",
        f"/assignments/{action}",
        data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT},
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert result.get("success"), f"{action} as {who} failed: {result}"
    return result


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


@pytest.fixture(scope="module")
def graded(hub):
    """The whole class, in the order of deploy/jupyterhub/README.md ("A class, step by step")."""
    for who in hub.accounts:
        hub.start(who)
    for who in hub.accounts:
        hub.wait(who)
    course = "~/tpm-skills-lab/autograder"
    course_abs = hub.home("instructor") / "tpm-skills-lab" / "autograder"
    log: dict = {}
    t0 = last = time.monotonic()

    def lap(step: str) -> None:
        nonlocal last
        print(f"{step}: {time.monotonic() - last:.1f} s", flush=True)
        last = time.monotonic()

    lap("servers")
    # 1. the instructor generates and releases the warm-up
    log["generate"] = hub.shell("instructor", f"nbgrader generate_assignment {ASSIGNMENT}", course)
    log["release"] = hub.shell("instructor", f"nbgrader release_assignment {ASSIGNMENT}", course)
    lap("release")
    # 2. both students fetch it; alice hands in the blank notebook, then her answers
    for who in ("alice", "bob"):
        _assignments(hub, who, "fetch")
    _assignments(hub, "alice", "submit")
    time.sleep(1.1)  # nbgrader's submission times have one-second folders
    _answer(hub, "alice", _solutions())
    _assignments(hub, "alice", "submit")
    lap("fetch and alice's submissions")
    # 3. the deadline passes; bob hands in after it, with question 3 wrong
    deadline = _utc_now()
    hub.shell(
        "instructor", f'nbgrader db assignment add {ASSIGNMENT} --duedate="{deadline}"', course
    )
    time.sleep(1.1)
    _answer(hub, "bob", {**_solutions(), "q3_platform_shares": WRONG_Q3})
    _assignments(hub, "bob", "submit")
    lap("bob's late submission")
    # 4. the instructor collects; the grader autogrades in the sandbox, as root
    log["collect"] = hub.shell(
        "instructor", f"nbgrader collect {ASSIGNMENT} && chmod -R go-w submitted", course
    )
    grade = subprocess.run(
        [
            str(BIN / "tpmlab-grade"),
            "--course",
            str(course_abs),
            "autograde",
            ASSIGNMENT,
            "--workers",
            "2",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    log["autograde"] = grade.stdout + grade.stderr
    assert grade.returncode == 0, log["autograde"]
    instructor = hub.accounts["instructor"]
    subprocess.run(["chown", "-R", f"{instructor}:{instructor}", str(course_abs)], check=True)
    lap("collect and autograde")
    # 5. feedback, released through the exchange, fetched by each student
    log["feedback"] = hub.shell(
        "instructor",
        f"tpmlab-grade --course . feedback {ASSIGNMENT} && nbgrader release_feedback {ASSIGNMENT}",
        course,
    )
    for who in ("alice", "bob"):
        log[f"fetch_feedback {who}"] = _assignments(hub, who, "fetch_feedback")
    lap("feedback")
    print(f"the class took {time.monotonic() - t0:.1f} s after the hub started")
    return course_abs, log


def test_scores_are_exact_and_the_later_submission_counts(hub, graded):
    from nbgrader.api import Gradebook

    course_abs, log = graded
    alice, bob = hub.accounts["alice"], hub.accounts["bob"]
    assert f"Collecting submission: {alice} {ASSIGNMENT}" in log["collect"], log["collect"]
    with Gradebook(f"sqlite:///{course_abs / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        a = gb.find_submission(ASSIGNMENT, alice)
        b = gb.find_submission(ASSIGNMENT, bob)
        scores = {
            who: {g.name: g.score for g in sub.notebooks[0].grades}
            for who, sub in (("alice", a), ("bob", b))
        }
        assert a.score == 7.0, (scores, log["autograde"])
        assert b.score == 5.0, (scores, log["autograde"])
        assert scores["bob"]["q3_platform_shares_tests"] == 0.0
        assert a.max_score == 8.0  # 7 autograded points and the hand-graded question
        # alice handed in twice: the collected submission is the later one
        inbound = hub.exchange / COURSE_ID / "inbound"
        hers = sorted(p.name.split("+")[2] for p in inbound.iterdir() if p.name.startswith(alice))
        assert len(hers) == 2
        collected = (course_abs / "submitted" / alice / ASSIGNMENT / "timestamp.txt").read_text()
        assert collected == hers[-1]
        # bob handed in after the deadline: nbgrader's late flag
        assert b.total_seconds_late > 0 and a.total_seconds_late == 0
    assert f"{alice}" in log["autograde"] and "graded" in log["autograde"]


def test_each_student_fetches_their_own_feedback(hub, graded):
    for who, score in (("alice", "7"), ("bob", "5")):
        listing = hub.user(who, "GET", f"/api/contents/{ASSIGNMENT}/feedback").json()
        stamps = [item["name"] for item in listing["content"]]
        assert len(stamps) == 1, listing  # alice's blank first submission has no feedback
        path = f"/api/contents/{ASSIGNMENT}/feedback/{stamps[0]}/warmup.html"
        html = hub.user(who, "GET", path).json()["content"]
        assert f"Score: {score}.0 / 8.0" in html or f"{score}.0 / 8.0" in html, html[:2000]
        assert "BEGIN HIDDEN TESTS" not in html


def test_students_cannot_read_each_others_work_or_the_inbound_folders(hub, graded):
    course_abs, _ = graded
    bob, ex = hub.accounts["bob"], hub.exchange / COURSE_ID
    targets = {
        "the exchange's inbound folder": ex / "inbound",
        "the exchange's feedback folder": ex / "feedback",
        "bob's home": hub.home("bob"),
        "bob's feedback": hub.home("bob") / ASSIGNMENT / "feedback",
        "the instructor's submitted folder": course_abs / "submitted",
    }
    code = (
        "import glob, json, os\n"
        f"targets = {json.dumps({k: str(v) for k, v in targets.items()})}\n"
        "out = {}\n"
        "for what, path in targets.items():\n"
        "    try:\n"
        "        out[what] = os.listdir(path)\n"
        "    except PermissionError:\n"
        "        out[what] = 'refused'\n"
        f"out['guess'] = glob.glob({str(ex / 'inbound' / (bob + '+*'))!r})\n"
        "print(json.dumps(out))\n"
    )
    seen = json.loads(hub.run("alice", code).strip().splitlines()[-1])
    assert {k: seen[k] for k in targets} == {k: "refused" for k in targets}, seen
    assert seen["guess"] == []  # bob's submission cannot even be found by its name
    # a student gets no instructor tools, the instructor no student ones
    assert hub.user("alice", "GET", "/formgrader").status_code == 404
    assert hub.user("instructor", "GET", "/formgrader").status_code == 200
    assert hub.user("instructor", "GET", f"/assignments?course_id={COURSE_ID}").status_code == 404


def test_no_course_file_is_world_writable_but_the_exchange(hub, graded):
    ex = hub.exchange
    allowed = {ex, ex / COURSE_ID / "inbound"}
    allowed |= set(
        (ex / COURSE_ID / "inbound").iterdir()
    )  # nbgrader: 0777 so the instructor can delete
    writable = []
    for top in [ex, *(hub.home(w) for w in hub.accounts)]:
        assert top == ex or stat.S_IMODE(top.stat().st_mode) == 0o700, top
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                p = Path(root) / name
                if not p.is_symlink() and p.lstat().st_mode & stat.S_IWOTH and p not in allowed:
                    writable.append(f"{p} {oct(p.lstat().st_mode)}")
    assert writable == []
    inbound = stat.S_IMODE((ex / COURSE_ID / "inbound").stat().st_mode)
    assert inbound == 0o2733  # write-only for the others: nobody lists the submissions
