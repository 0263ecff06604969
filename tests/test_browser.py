"""A learner's first minutes, in a real browser: course home, an assignment, a check, Validate.

Playwright for Python drives Debian's Chromium (``/usr/bin/chromium``; Playwright's own browser
download does not work here). The test starts JupyterLab the way ``make lab`` does, on a private
copy of the course (so nothing is written into the repository's ``assignments/``), then:

1. opens the course home and follows its link to the warm-up assignment;
2. runs all cells (Run menu) and sees the unanswered question's check explain what to do;
3. types a correct answer to question 1, re-runs it and its check, and sees the check pass;
4. presses nbgrader's **Validate** and reads its result dialog.

Screenshots of each step go to ``test-output/browser/``. Skips (saying why) when Chromium or
Playwright is missing, unless ``TPMLAB_REQUIRE_BROWSER=1`` (set in CI), which makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.lab_server import running_lab
from tpmlab.paths import REPO_ROOT

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("TPMLAB_CHROMIUM", "/usr/bin/chromium")
SHOTS = REPO_ROOT / "test-output" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
Q1_ANSWER = "def count_users(users):\n    return len(users)\n"


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="module")
def browser_ready():
    reason = _missing_browser()
    if reason:
        if os.environ.get("TPMLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"TPMLAB_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


def _course_copy(root: Path) -> None:
    """What a learner has after `make lab`: the course and their own assignment copies."""
    shutil.copytree(REPO_ROOT / "course", root / "course")
    shutil.copytree(REPO_ROOT / "autograder" / "release", root / "assignments")
    shutil.copytree(
        REPO_ROOT / "datasets",
        root / "datasets",
        ignore=shutil.ignore_patterns("*.sqlite*", "cache"),
    )


@pytest.fixture(scope="module")
def lab(browser_ready, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "learner"
    _course_copy(root)
    config = tmp / "jupyter-config"
    (config / "labconfig").mkdir(parents=True)
    # No "Would you like to receive Jupyter news?" toast over the notebook.
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    # Render every cell (JupyterLab otherwise renders only the cells on screen).
    settings = tmp / "lab-settings"
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"})
    )
    # The learner's setup as `make lab` and Binder write it (Validate message first, no
    # instructor tools), in a prefix of its own that outranks this environment's.
    from tpmlab.course import learner_setup

    learner_setup(prefix=tmp / "prefix")
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_CONFIG_PATH=str(tmp / "prefix" / "etc" / "jupyter"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
    )
    with running_lab(tmp, [f"--ServerApp.root_dir={root}"], env) as (base, token, log_path):
        yield base, token, root, log_path


def _cell_with(page, text: str):
    """The notebook cell whose editor contains ``text``."""
    return page.locator(".jp-Notebook .jp-Cell").filter(
        has=page.locator(".jp-InputArea-editor", has_text=text)
    )


def test_a_learner_opens_the_course_runs_an_assignment_and_validates(lab):
    from playwright.sync_api import expect, sync_playwright

    base, token, root, log_path = lab
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(30_000)
        page = context.new_page()
        try:
            _walkthrough(page, expect, base, token, log_path, root)
        except Exception:
            page.screenshot(path=str(SHOTS / "failure.png"))
            print(log_path.read_text()[-5000:])
            raise
        finally:
            context.close()


def _walkthrough(page, expect, base: str, token: str, log_path: Path, root: Path) -> None:
    expect.set_options(timeout=30_000)  # generous: a loaded CI machine is slow
    # 1. The URL JupyterLab prints (what `make lab` shows the learner) opens the course home.
    # (JupyterLab prints a token it was given as "...": fill it in, as the learner's shows it.)
    printed = re.findall(r"http://127\.0\.0\.1:\d+/\S*\?token=", log_path.read_text())
    assert printed and printed[0].startswith(base), log_path.read_text()[-2000:]
    page.goto(printed[0] + token)
    home = page.locator(".jp-NotebookPanel").filter(has_text="TPM Skills Lab")
    expect(home.locator(".jp-RenderedMarkdown h1").first).to_contain_text("TPM Skills Lab")
    expect(home.locator("table").first).to_contain_text("Orientation")
    page.screenshot(path=str(SHOTS / "01-course-home.png"))
    # Opening a notebook does not mark it modified (no "unsaved changes" dot on its tab).
    page.wait_for_timeout(1500)
    expect(page.locator(".lm-TabBar-tab.jp-mod-current")).not_to_have_class(
        re.compile(r"jp-mod-dirty")
    )
    # ...whose module map links to the learner's copy of the warm-up.
    link = home.locator("table a", has_text="00-warmup").first
    assert "assignments/00-warmup/warmup.ipynb" in (link.get_attribute("href") or "")
    link.click()
    tab = page.locator(".lm-TabBar-tab.jp-mod-current")
    expect(tab).to_contain_text("warmup.ipynb")
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook.locator(".jp-RenderedMarkdown h1").first).to_contain_text("Warm-up")
    expect(notebook.locator(".jp-Cell", has_text="Before you hand in")).to_be_attached()
    # Wait for the kernel before running anything.
    expect(notebook.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=60_000
    )
    page.screenshot(path=str(SHOTS / "02-warmup-opened.png"))
    # ...not even once its kernel has started and reported its language (tpmlab.lab_contents).
    page.wait_for_timeout(1500)
    expect(page.locator(".lm-TabBar-tab.jp-mod-current")).not_to_have_class(
        re.compile(r"jp-mod-dirty")
    )
    # 2. Run > Run All Cells: the setup loads Orbit's data, then the first (unanswered) check
    # stops the run and says what to do.
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    setup = _cell_with(page, "read_sql")
    expect(setup.locator(".jp-OutputArea-output").first).to_contain_text("Loaded", timeout=60_000)
    q1_check = _cell_with(page, 'check_defined(globals(), "count_users")')
    expect(q1_check.locator(".jp-OutputArea-output")).to_contain_text(
        "This answer is not written yet", timeout=60_000
    )
    expect(q1_check.locator(".jp-OutputArea-output")).to_contain_text("What to do")
    q1_check.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "03-run-all-unanswered.png"))

    # 3. Answer question 1: replace the stub, run the answer and its check (Shift+Enter twice).
    answer = _cell_with(page, "def count_users(users):")
    answer.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(Q1_ANSWER)
    expect(answer.locator(".cm-content")).to_contain_text("return len(users)")
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")
    passed = q1_check.locator(".jp-OutputArea-output")
    expect(passed).to_contain_text("Question 1: public checks passed", timeout=30_000)
    expect(passed).not_to_contain_text("not written yet")
    q1_check.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "04-question-1-passes.png"))

    # 4. Validate (saves, then runs the whole notebook server-side like the grader).
    notebook.locator(".validate-button").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_be_visible(timeout=90_000)
    expect(dialog).to_contain_text("Validation Results", timeout=90_000)
    # Questions 2-5 are still unanswered, so validation lists their failing checks...
    expect(dialog).to_contain_text("count_paying")
    expect(dialog).not_to_contain_text("count_users` still says")
    # ...each with its message first (tpmlab.validate_dialog), the check's code after it.
    blocks = dialog.locator("pre")
    expect(blocks.first).to_contain_text("not written yet")
    expect(blocks.nth(1)).to_contain_text("The check that failed")
    page.screenshot(path=str(SHOTS / "05-validate-result.png"))
    dialog.locator("button.jp-mod-accept, button.jp-mod-reject").first.click()
    expect(dialog).to_be_hidden()

    # The answer was saved into the learner's copy (not the repository).
    saved = json.loads((root / "assignments" / "00-warmup" / "warmup.ipynb").read_text())
    assert any("return len(users)" in "".join(c["source"]) for c in saved["cells"])
