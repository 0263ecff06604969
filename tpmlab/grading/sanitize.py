"""Make what a submission displays inert before an instructor's browser renders it.

Everything an instructor opens of a submission (the formgrader's view of the autograded
notebook, the feedback HTML, the class report) is HTML that a student could have written: an
answer cell can ``display(HTML("<script>..."))``, a markdown cell can hold
``<img src=x onerror=...>``. Rendered in the instructor's Jupyter origin, such a script could
start kernels as the instructor and read the gradebook and the hidden tests.

- :func:`sanitize_html` is the one sanitiser: it keeps text, formatting, lists, tables (pandas'
  ``DataFrame`` HTML), code highlighting and images embedded as ``data:image/png|jpeg|gif``, and
  removes everything else: ``script``, ``style``, ``iframe``, ``object``, ``embed``, ``svg``,
  forms, event handlers (``on*``), ``style`` and ``id`` attributes, ``javascript:`` and every
  non-``http(s)``/``mailto`` link, and every remote resource (an ``<img>`` whose source is not an
  embedded image). It uses bleach, the sanitiser nbconvert itself depends on.
- :func:`sanitize_cell` makes one cell inert in place (the nbconvert preprocessor
  :class:`~tpmlab.grading.preprocessors.sanitize_notebook.SanitizeNotebook` applies it to every
  cell): outputs keep only plain text, sanitised HTML, and valid base64 PNG/JPEG images
  (JavaScript, SVG, LaTeX, widget and unknown outputs go; output metadata keeps only numeric
  image sizes); a markdown cell whose rendered HTML is not inert (:func:`inert_problems`) is
  shown as text instead, honest markdown is left as written; a raw cell's HTML is sanitised;
  attachments keep only valid images. The autograde steps in
  ``autograder/nbgrader_config.py`` run it before the autograded notebook is saved, so every
  later view starts from an inert notebook.
- :func:`inert_problems` lists what is *not* inert in a page of HTML (parsed with
  :mod:`html.parser`): the tests use it on the formgrader's own rendering.

``autograder/nbgrader_config.py`` also sets ``HTMLExporter.sanitize_html`` and makes
:func:`sanitize_html` nbconvert's ``clean_html`` filter, so the formgrader and feedback templates
sanitise again when they render.
"""

from __future__ import annotations

import base64
import binascii
import re
from html.parser import HTMLParser

import bleach  # type: ignore[import-untyped]  # mypy 1 knows of stubs it does not have
import nbformat

TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "code",
        "col",
        "colgroup",
        "dd",
        "del",
        "details",
        "div",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "mark",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "summary",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "tt",
        "u",
        "ul",
        "var",
    }
)
#: Elements removed with everything inside them (their text is code, not prose).
DROP_WHOLE = ("script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math")
IMAGE_MIMES = ("image/png", "image/jpeg")
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*$")
_CLASS = re.compile(r"^[A-Za-z0-9_\- ]{0,200}$")
_NUMBER = re.compile(r"^\d{1,5}%?$")
_DROP = re.compile(
    r"<\s*(" + "|".join(DROP_WHOLE) + r")\b.*?(<\s*/\s*\1\s*>|\Z)", re.IGNORECASE | re.DOTALL
)
_LINK = re.compile(r"^(https?://|mailto:|#)", re.IGNORECASE)


def _attribute(tag: str, name: str, value: str) -> bool:
    if name == "class":
        return bool(_CLASS.match(value))
    if name == "title" or (tag == "img" and name == "alt"):
        return True
    if tag == "img" and name == "src":
        return bool(_DATA_IMAGE.match(value))
    if tag == "img" and name in ("width", "height"):
        return bool(_NUMBER.match(value))
    if tag == "a" and name == "href":
        return bool(_LINK.match(value.strip()))
    if tag in ("td", "th") and name in ("colspan", "rowspan"):
        return value.isdigit()
    if tag in ("td", "th", "tr", "table") and name == "align":
        return value.lower() in ("left", "right", "center")
    return tag == "table" and name == "border" and value.isdigit()


_CLEANER = bleach.sanitizer.Cleaner(
    tags=TAGS,
    attributes=_attribute,
    protocols=["http", "https", "mailto", "data"],
    strip=True,
    strip_comments=True,
)


def sanitize_html(html) -> str:
    """``html`` (a string of HTML a student may have written) as inert HTML: see the module
    docstring for what is kept. Anything that is not a string becomes its escaped text."""
    if not isinstance(html, str):
        html = "" if html is None else str(html)
    previous = None
    while previous != html:  # until nothing more is dropped (nested or split tags)
        previous, html = html, _DROP.sub("", html)
    return _CLEANER.clean(html)


def _is_inert(html: str) -> bool:
    return not inert_problems(html)


def _valid_base64(data) -> bool:
    if not isinstance(data, str) or len(data) > 50_000_000:
        return False
    try:
        base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _fenced(text: str) -> str:
    """``text`` as a fenced code block that nothing inside can close."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _as_text(source) -> str:
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


NOTE = "*(This cell held active HTML; it is shown as text.)*\n\n"


def _markdown_is_inert(source: str) -> bool:
    from nbconvert.filters.markdown import markdown2html

    try:
        return _is_inert(markdown2html(source))
    except Exception:  # noqa: BLE001 - markdown the renderer cannot read is shown as text
        return False


def sanitize_output(output: dict) -> dict | None:
    """One cell output, inert (None when nothing of it can be kept)."""
    kind = output.get("output_type")
    if kind == "stream":
        return {
            "output_type": "stream",
            "name": "stderr" if output.get("name") == "stderr" else "stdout",
            "text": _as_text(output.get("text", "")),
        }
    if kind == "error":
        traceback = output.get("traceback") or []
        return {
            "output_type": "error",
            "ename": str(output.get("ename", "Error")),
            "evalue": str(output.get("evalue", "")),
            "traceback": [str(t) for t in traceback] if isinstance(traceback, list) else [],
        }
    if kind not in ("display_data", "execute_result"):
        return None
    data = raw if isinstance(raw := output.get("data"), dict) else {}
    kept = {}
    if "text/plain" in data:
        kept["text/plain"] = _as_text(data["text/plain"])
    if "text/html" in data:
        kept["text/html"] = sanitize_html(_as_text(data["text/html"]))
    if "text/markdown" in data:
        from nbconvert.filters.markdown import markdown2html

        try:
            kept.setdefault(
                "text/html", sanitize_html(markdown2html(_as_text(data["text/markdown"])))
            )
        except Exception:  # noqa: BLE001 - unreadable markdown: keep its text only
            kept.setdefault("text/plain", _as_text(data["text/markdown"]))
    for mime in IMAGE_MIMES:
        if mime in data and _valid_base64(data[mime]):
            kept[mime] = "".join(data[mime].split())
    metadata = {}
    raw_meta = meta if isinstance(meta := output.get("metadata"), dict) else {}
    for mime in IMAGE_MIMES:
        sizes = raw_meta.get(mime)
        if mime in kept and isinstance(sizes, dict):
            clean = {
                k: int(v)
                for k, v in sizes.items()
                if k in ("width", "height") and isinstance(v, (int, float)) and 0 < v < 100_000
            }
            if clean:
                metadata[mime] = clean
    if not kept:
        return None
    out = {"output_type": kind, "data": kept, "metadata": metadata}
    if kind == "execute_result":
        count = output.get("execution_count")
        out["execution_count"] = count if isinstance(count, int) else None
    return out


def sanitize_cell(cell) -> None:
    """Make one notebook cell inert, in place."""
    kind = cell.get("cell_type")
    if kind == "code":
        outputs = [sanitize_output(o) for o in cell.get("outputs", []) if isinstance(o, dict)]
        cell["outputs"] = [nbformat.from_dict(o) for o in outputs if o]
        return
    source = _as_text(cell.get("source", ""))
    if kind == "markdown":
        if not _markdown_is_inert(source):
            cell["source"] = NOTE + _fenced(source)
        attachments = cell.get("attachments")
        if isinstance(attachments, dict):
            cell["attachments"] = {
                name: {m: v for m, v in bundle.items() if m in IMAGE_MIMES and _valid_base64(v)}
                for name, bundle in attachments.items()
                if isinstance(bundle, dict)
            }
    elif kind == "raw" and not _is_inert(source):
        cell["source"] = sanitize_html(source)


# ---- checking a rendered page -----------------------------------------------------------------
class _Audit(HTMLParser):
    BAD_TAGS = {"script", "iframe", "object", "embed", "frame", "frameset", "applet", "base"}
    URL_ATTRS = {"src", "href", "action", "formaction", "data", "poster", "srcset", "background"}
    LOADS = {"src", "srcset", "poster", "background", "data"}  # fetched without a click

    def __init__(self, allowed: set[str]):
        super().__init__(convert_charrefs=True)
        self.allowed = allowed
        self.problems: list[str] = []
        self._style = False

    def handle_starttag(self, tag, attrs):
        attrs = {name: (value or "").strip() for name, value in attrs}
        loaded = attrs.get("src") or attrs.get("href") or ""
        if tag in self.BAD_TAGS and not (tag == "script" and loaded in self.allowed):
            self.problems.append(f"<{tag}> element")
        if tag == "link" and loaded not in self.allowed:
            self.problems.append(f"<link> to {loaded[:60]}")
        if tag == "meta" and "http-equiv" in attrs:
            self.problems.append("<meta http-equiv> element")
        if tag == "style":
            self._style = True
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"event handler {name} on <{tag}>")
            if name in self.URL_ATTRS and re.match(
                r"^(javascript|vbscript|data:text)", value, re.I
            ):
                self.problems.append(f"script URL in {name} of <{tag}>")
            loads = name in self.LOADS and value and value not in self.allowed
            if loads and not re.match(r"^(data:image/|attachment:)", value, re.I):
                self.problems.append(f"resource {value[:60]} loaded by <{tag}>")
            if name == "style" and re.search(r"url\(|@import|expression\(", value, re.I):
                self.problems.append(f"url() in the style of <{tag}>")

    def handle_endtag(self, tag):
        if tag == "style":
            self._style = False

    def handle_data(self, data):
        if self._style and re.search(r"url\(\s*['\"]?\s*(https?:)?//|@import", data, re.I):
            self.problems.append("remote resource in a <style> element")


def inert_problems(html: str, allowed_scripts: set[str] | None = None) -> list[str]:
    """What in ``html`` is not inert (empty when it is): script, iframe/object/embed elements,
    event handlers, ``javascript:`` URLs and remote resources. ``allowed_scripts`` are the
    ``src`` of scripts the page itself (not the submission) loads."""
    audit = _Audit(set(allowed_scripts or ()))
    audit.feed(html)
    audit.close()
    return audit.problems
