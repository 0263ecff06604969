"""The course website (``make site``, :mod:`tpmlab.website`), built once for the session.

The build here is the one ``make site`` makes, with the network cut off (a network namespace of
its own with only the loopback, where ``unshare`` allows it: as root in CI), less the
execution of the lessons: one lesson with plots is executed (``SITE_LESSON``), the others are
staged without outputs, because ``make test`` already executes every lesson (nbval) and doing it
twice would double that time. The theme is built (npm, once per machine) before the cut-off.

``TPMLAB_SITE_BUILT=build/site`` checks a site built already by ``make site`` instead.

Checked on the built HTML: every page of the course is there, in teaching order in the
navigation, each with its Binder launch button; no internal link is broken; no solution,
hidden test or answer-key content anywhere in the output (strings taken from the source
assignments in ``exercises/`` that their student versions do not contain); and, in Chromium,
the executed lesson shows its matplotlib plot.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tpmlab.paths import REPO_ROOT
from tpmlab.website.pages import all_pages, launch_url, modules, toc
from tpmlab.website.stage import _with_launch_button

#: The lesson the test build executes: its page must show a plot.
SITE_LESSON = "course/03-ab-testing/02-analysis.ipynb"
SHOTS = REPO_ROOT / "test-output" / "site"
TEXT_SUFFIXES = {".html", ".json", ".txt", ".xml", ".js", ".ipynb", ".md", ".inv", ".css"}


# --- fast checks of the pages and the navigation (no build) -------------------------------


def test_every_lesson_and_student_assignment_is_a_page_in_teaching_order():
    pages = all_pages()
    paths = [p.path for p in pages]
    lessons = sorted(
        p.relative_to(REPO_ROOT).as_posix()
        for p in (REPO_ROOT / "course").glob("[0-9][0-9]-*/[0-9][0-9]-*.ipynb")
    )
    assert [p for p in paths if p.startswith("course/") and p != "course/index.ipynb"] == lessons
    assert paths[0] == "course/index.ipynb" and paths[-1] == "datasets/README.md"
    released = sorted((REPO_ROOT / "autograder" / "release").glob("*/*.ipynb"))
    assert {p.source for p in pages if p.kind == "assignment"} == set(released)
    assert not any("exercises" in p.source.parts for p in pages)
    # Each module: its lessons, then its assignment(s); modules in number order.
    nav = [e for e in toc() if "children" in e and e["title"].startswith("Module")]
    assert [e["title"].split(":")[0] for e in nav] == [f"Module {m.number}" for m in modules()]
    first = [c["file"] for c in nav[0]["children"]]
    assert first[-1] == "assignments/00-warmup/warmup.ipynb", first
    assert nav[0]["title"] == "Module 0: Orientation"


def test_launch_link_opens_that_notebook_on_binder():
    url = launch_url(
        "course/03-ab-testing/02-analysis.ipynb", "https://mybinder.org/v2/gh/o/r/main"
    )
    assert url == (
        "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/course/03-ab-testing/02-analysis.ipynb"
    )
    readme = (REPO_ROOT / "README.md").read_text()
    assert launch_url("course/index.ipynb") in readme, "README's Binder badge and pyproject differ"
    text = _with_launch_button("# 3.2 Title\n\nBody", "BUTTON")
    assert text.splitlines()[:3] == ["# 3.2 Title", "", "BUTTON"]


# --- the built site ------------------------------------------------------------------------


def _offline_prefix() -> list[str]:
    """A command prefix that runs a program without network (loopback only), if allowed here."""
    unshare = shutil.which("unshare")
    if not unshare:
        return []
    probe = subprocess.run(
        [unshare, "-rn", "sh", "-c", "ip link set lo up"], capture_output=True, text=True
    )
    return (
        [unshare, "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "offline"]
        if (probe.returncode == 0)
        else []
    )


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    from tpmlab.website.theme import ensure_theme, theme_dir

    if os.environ.get("TPMLAB_SITE_BUILT"):  # check a site built already (make site)
        return Path(os.environ["TPMLAB_SITE_BUILT"])
    ensure_theme()  # npm's registry is needed here only, the first time on a machine
    tmp = tmp_path_factory.mktemp("site")
    out, work = tmp / "site", tmp / "work"
    offline = _offline_prefix()
    cmd = [
        *offline,
        sys.executable,
        "-m",
        "tpmlab.website",
        "build",
        "--out",
        str(out),
        "--work",
        str(work),
        "--theme",
        str(theme_dir()),
        "--execute",
        SITE_LESSON,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout, f"(offline: {bool(offline)})")
    return out


def _plain(text: str) -> str:
    """HTML text with entities decoded and MyST's typographic quotes made plain again."""
    text = html.unescape(text)
    return text.translate(
        str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
    )


def _html_files(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def _page_html(site: Path, page_path: str) -> str:
    """The built HTML of the page made from ``page_path`` (found by its Binder button)."""
    needle = launch_url(page_path).replace("&", "&amp;")
    found = [f for f in _html_files(site) if needle in f.read_text()]
    assert found, f"no page of the site has the launch button of {page_path}"
    # the page itself is the one whose own button it is (others may link to it): shortest path
    return min(found, key=lambda f: len(f.parts)).read_text()


@pytest.mark.slow
def test_the_site_has_a_page_for_every_lesson_with_its_launch_button(site):
    pages = all_pages()
    assert (site / "index.html").exists()
    by_button: dict[str, list[Path]] = {}
    for f in _html_files(site):
        text = f.read_text()
        for page in pages:
            if launch_url(page.path).replace("&", "&amp;") in text:
                by_button.setdefault(page.path, []).append(f)
    missing = [p.path for p in pages if p.path not in by_button]
    assert not missing, f"pages without a built page (or without their launch button): {missing}"
    for page in pages:
        text = _plain(min(by_button[page.path], key=lambda f: len(f.parts)).read_text())
        assert f"<title>{page.title}" in text, f"{page.path}: title {page.title!r} not its page's"


@pytest.mark.slow
def test_navigation_is_in_teaching_order(site):
    """The theme draws its navigation from the site's config.json: its pages, in order."""
    config = json.loads((site / "config.json").read_text())
    nav = [(p["level"], _plain(p["title"])) for p in config["projects"][0]["pages"]]
    expected = []
    for module in modules():
        expected.append((1, f"Module {module.number}: {module.title}"))
        expected += [(2, p.title) for p in (*module.lessons, *module.assignments)]
    expected += [(1, "Reference"), (2, all_pages()[-1].title)]
    assert nav == expected
    home = _plain((site / "index.html").read_text())
    assert all(f"Module {m.number}: {m.title}" in home for m in modules())


class _Links(__import__("html.parser").parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def _target(site: Path, page: Path, link: str) -> Path | None:
    """The file an internal link points to, or None for an external one."""
    parts = urlsplit(link)
    if parts.scheme or parts.netloc or link.startswith(("#", "data:", "mailto:", "javascript:")):
        return None
    path = unquote(parts.path)
    if not path:
        return None
    base = site if path.startswith("/") else page.parent
    return base / path.lstrip("/")


@pytest.mark.slow
def test_no_internal_link_is_broken(site):
    broken, checked = [], 0
    for page in _html_files(site):
        parser = _Links()
        parser.feed(page.read_text())
        for link in parser.links:
            target = _target(site, page, link)
            if target is None:
                continue
            checked += 1
            candidates = [target, target / "index.html", target.with_suffix(".html")]
            if not any(c.is_file() for c in candidates):
                broken.append(f"{page.relative_to(site)} -> {link}")
    assert checked > 200, f"only {checked} internal links found: is the site complete?"
    assert not broken, "broken internal links:\n" + "\n".join(broken[:40])


def _solution_only_strings() -> list[str]:
    """Lines of the source assignments' solutions and hidden tests that no student version,
    lesson or data dictionary contains: the answer key."""
    public = "".join(
        p.read_text()
        for p in [
            *(REPO_ROOT / "autograder" / "release").rglob("*.ipynb"),
            *(REPO_ROOT / "course").rglob("*.ipynb"),
            REPO_ROOT / "datasets" / "README.md",
        ]
    )
    block = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)
    found = []
    for source in sorted((REPO_ROOT / "exercises").rglob("*.ipynb")):
        nb = json.loads(source.read_text())
        for cell in nb["cells"]:
            for _kind, body in block.findall("".join(cell["source"])):
                for line in body.splitlines():
                    line = line.strip()
                    if len(line) >= 30 and json.dumps(line)[1:-1] not in public:
                        found.append(line)
    return found


@pytest.mark.slow
def test_no_solution_hidden_test_or_answer_key_in_the_site(site):
    secrets = _solution_only_strings()
    assert len(secrets) > 50, f"only {len(secrets)} answer-key lines found to look for"
    markers = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    leaks = []
    files = [f for f in site.rglob("*") if f.is_file() and f.suffix in TEXT_SUFFIXES]
    assert len(files) > 40
    for f in files:
        text = f.read_text(errors="replace")
        for marker in markers:
            if marker in text:
                leaks.append(f"{f.relative_to(site)}: {marker}")
        for secret in secrets:
            if secret in text or json.dumps(secret)[1:-1] in text:
                leaks.append(f"{f.relative_to(site)}: {secret[:60]}")
    assert not leaks, "answer content in the built site:\n" + "\n".join(leaks[:40])


@pytest.mark.slow
def test_the_executed_lesson_has_its_plots_in_the_html(site):
    html = _page_html(site, SITE_LESSON)
    images = re.findall(r'<img[^>]+src="([^"]+\.(?:png|webp|svg))"', html)
    assert images, f"no image in the built page of {SITE_LESSON}"
    for src in images:
        assert _target(site, site / "x.html", src).is_file(), src


@pytest.mark.slow
@pytest.mark.browser
def test_a_lesson_page_shows_its_plot_in_the_browser(site):
    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, _missing_browser

    reason = _missing_browser()
    if reason:
        if os.environ.get("TPMLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"TPMLAB_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        slug = _slug_of(site, SITE_LESSON)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/{slug}", wait_until="load")
            expect(page.locator("h1").first).to_contain_text("3.2")
            plot = page.locator("img[src*='.png'], img[src*='.webp']").first
            plot.scroll_into_view_if_needed()
            expect(plot).to_be_visible()
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=plot.element_handle()
            )
            size = plot.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            assert size[0] > 100 and size[1] > 100, f"the plot did not load: {size}"
            plot.screenshot(path=str(SHOTS / "lesson-plot.png"))
            page.screenshot(path=str(SHOTS / "lesson-page.png"))
            button = page.get_by_role("link", name="Launch on Binder").first
            assert button.get_attribute("href") == launch_url(SITE_LESSON)
            browser.close()
    finally:
        server.shutdown()


def _slug_of(site: Path, page_path: str) -> str:
    """The URL path of the built page made from ``page_path``."""
    needle = launch_url(page_path).replace("&", "&amp;")
    found = [f for f in _html_files(site) if needle in f.read_text()]
    page = min(found, key=lambda f: len(f.parts))
    rel = page.relative_to(site).parent.as_posix()
    return "" if rel == "." else rel + "/"
