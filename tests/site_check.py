"""Open every page of the built book in a real headless browser and check it.

Usage::

    python -m tests.site_check _build/html [--screenshots DIR] [--only SUBSTRING]

The site is served from a local ``http.server`` on 127.0.0.1 and opened in Debian's
Chromium (``/usr/bin/chromium``, driven by Playwright; no browser is ever downloaded).
For every HTML page (everything except ``_static/``, ``_sources/``, ``_images/``) it asserts:

* **network** -- the page requests nothing outside the local server (every other request is
  intercepted, aborted and reported), and no local request fails or answers >= 400;
* **math** -- MathJax is loaded from the site, every ``.math`` element was typeset into an
  ``mjx-container``, MathJax reported no TeX error, and no raw TeX (``\\(``, ``\\[``, ``$$``,
  ``\\begin``, ``\\frac`` ..., ``$..\\..$``) is left in the visible text outside code;
* **figures** -- every ``<img>`` loaded (``naturalWidth > 0``), and every notebook page shows at
  least one loaded image inside its cell outputs; no figure is shown narrower than its natural
  size (its width in CSS pixels, from a ``width`` attribute or inline style, else its pixel
  width: a figure wider than the column is shrunk, and its labels with it), and a cell output's PNG has at least 1.5 pixels per CSS pixel
  (150 dpi and more);
* **layout** -- no display equation is wider than its column (hidden behind a scrollbar), no
  visible code block is clipped, no line of a code cell is longer than 88 characters, and no
  raw pipe-table text (``|---|``) is left in the visible text;
* **links** -- every same-site ``href`` points to an existing file, and its ``#fragment`` (if any)
  to an existing ``id`` in that file; a link whose text names a chapter by number ("chapter 4")
  leads to the page that shows that number in its title;
* **quiet outputs** -- no stderr or error output block, and no TensorFlow log line or "Warning"
  text inside cell outputs;
* **scripts** -- no uncaught JavaScript exception and no console error.

It prints one line per page and exits non-zero if any check failed.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import sys
import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
SKIP_DIRS = ("_static", "_sources", "_images")
PAGE_TIMEOUT_MS = 30_000
# Console messages that are theme chatter, not defects (pydata-sphinx-theme, first visit).
BENIGN_CONSOLE = re.compile(r"Got invalid theme mode")
# A page that only forwards elsewhere (Jupyter Book writes one as the root index.html).
REDIRECT = re.compile(r"""<meta\s+http-equiv=["']refresh["']\s+content=["'][^"']*url=([^"'>]+)""",
                      re.IGNORECASE)

# Raw TeX that escaped typesetting (checked in visible text outside code and typeset math).
RAW_TEX = re.compile(
    r"\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|\\end\{"
    r"|\\(?:frac|mathbf|mathcal|mathbb|mathrm|operatorname|sum|prod|int|log|exp|det|left|right"
    r"|alpha|beta|gamma|delta|epsilon|theta|lambda|mu|sigma|pi|phi|Phi|varphi|nabla|partial"
    r"|cdot|odot|top|sqrt|hat|tilde|quad|text|label|eqref|ref)\b"
    r"|\$[^$\n]{0,200}[\\^_{}][^$\n]{0,200}\$"
)
# Raw pipe-table text: a separator row such as |---|--:| that was not rendered as a table.
RAW_TABLE = re.compile(r"\|\s*:?-{2,}:?\s*\|")
# The longest code line a chapter may have (black's default; it fits the column at 1280 px).
CODE_COLUMNS = 88
# Pixels per CSS pixel of a cell output's PNG: 1.5 is 150 dpi for a figure drawn at 96 dpi.
DENSITY = 1.5
# A link text that names a chapter by its number ("chapter 4", "4 · Title"), and the number a
# chapter page shows in its title ("<title>5. A coupling flow ...").
CHAPTER_NUMBER = re.compile(r"\b[Cc]hapters?\s+(\d+)\b|^(\d+)\s*[·.]\s")
NUMBERED_TITLE = re.compile(r"<title>\s*(\d+)\.\s")
# Log noise inside cell outputs: TensorFlow/absl log lines and Python warnings.
LOG_NOISE = re.compile(
    r"cpu_feature_guard|tensorflow/core|tensorflow/compiler|external/local_xla|oneDNN|cuInit"
    r"|absl::|WARNING:|^[IWEF]\d{4} \d\d:\d\d:\d\d|\w*Warning\b|warnings\.warn",
    re.MULTILINE,
)

# Collected in the browser, in one round trip per page.
_PAGE_FACTS_JS = r"""
async () => {
  const facts = {};
  const mathNodes = Array.from(document.querySelectorAll('span.math, div.math'));
  facts.math = mathNodes.length;
  const scripts = Array.from(document.querySelectorAll('script[src]')).map(s => s.src);
  facts.mathjaxSrc = scripts.filter(s => /mathjax/i.test(s));
  if (mathNodes.length && facts.mathjaxSrc.length) {
    for (let i = 0; i < 300; i++) {
      if (window.MathJax && MathJax.startup && MathJax.startup.promise) break;
      await new Promise(r => setTimeout(r, 50));
    }
    facts.mathjax = !!(window.MathJax && MathJax.startup && MathJax.startup.promise);
    if (facts.mathjax) {
      await MathJax.startup.promise;
    }
  } else {
    facts.mathjax = mathNodes.length === 0;
  }
  facts.typeset = mathNodes.filter(n => n.querySelector('mjx-container')).length;
  facts.mathErrors = Array.from(document.querySelectorAll('mjx-merror'))
      .map(e => e.getAttribute('data-mjx-error') || e.textContent).slice(0, 5);
  // Visible text outside code, typeset maths, scripts and styles.
  const root = (document.querySelector('main') || document.body).cloneNode(true);
  root.querySelectorAll('pre, code, script, style, textarea, mjx-container, .highlight, '
                        + 'dt.sig, .sig, .MathJax, mjx-assistive-mml').forEach(n => n.remove());
  facts.text = root.textContent;

  const imgs = Array.from(document.querySelectorAll('img'));
  facts.images = imgs.map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0,
                                 output: !!i.closest('.cell_output, .output'),
                                 natural: i.naturalWidth,
                                 // design width in CSS px: a numeric width attribute or inline style
                                 attrWidth: /^\s*\d+(\.\d+)?(px)?\s*$/.test(i.getAttribute('width') || '')
                                     ? parseFloat(i.getAttribute('width'))
                                     : (/^\d+(\.\d+)?px$/.test(i.style.width) ? parseFloat(i.style.width) : NaN),
                                 shown: i.getBoundingClientRect().width,
                                 content: !!i.closest('main, article') && !i.closest('nav, header, footer, .navbar-brand')}));
  // Display maths and code blocks wider than their box (the reader gets a scrollbar).
  facts.wideMath = Array.from(document.querySelectorAll('div.math, mjx-container[display="true"]'))
      .filter(n => n.clientWidth > 0 && n.scrollWidth > n.clientWidth + 1)
      .map(n => ({over: n.scrollWidth - n.clientWidth, text: n.textContent.slice(0, 70)}));
  facts.clippedCode = Array.from(document.querySelectorAll('main pre'))
      .filter(n => n.clientWidth > 0 && n.scrollWidth > n.clientWidth + 1)
      .map(n => ({over: n.scrollWidth - n.clientWidth,
                  line: n.textContent.split('\n').reduce((a, b) => b.length > a.length ? b : a, '')}));
  facts.codeLines = Array.from(document.querySelectorAll('.cell_input pre, div.highlight-ipython3 pre'))
      .flatMap(n => n.textContent.split('\n'));
  facts.cells = document.querySelectorAll('div.cell').length;
  facts.stderr = Array.from(document.querySelectorAll(
      '.cell_output .stderr, .cell_output .traceback, .cell_output .error, .output.stderr, '
      + '.output.traceback, .output.error')).map(n => n.textContent.trim().slice(0, 160));
  facts.outputText = Array.from(document.querySelectorAll('.cell_output'))
      .map(n => n.innerText).join('\n');
  facts.links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
  facts.namedLinks = Array.from(document.querySelectorAll('main a[href]'))
      .map(a => ({href: a.href, text: a.textContent.trim()}));
  facts.title = document.title;
  return facts;
}
"""


@dataclass
class PageResult:
    path: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    def fail(self, kind: str, message: str) -> None:
        if (kind, message) not in self.problems:
            self.problems.append((kind, message))

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> set[str]:
        return {kind for kind, _ in self.problems}


class _IdCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                if value:
                    self.ids.add(value)


@functools.lru_cache(maxsize=None)
def _ids_in(file: Path) -> frozenset[str]:
    parser = _IdCollector()
    parser.feed(file.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the report readable
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The browser drops connections it no longer needs (page closed): not a site problem.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def serve(root: Path):
    """Serve ``root`` on 127.0.0.1 (a free port) in a daemon thread; returns (server, base URL)."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = _QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def find_pages(root: Path) -> list[str]:
    pages = []
    for file in sorted(root.rglob("*.html")):
        rel = file.relative_to(root).as_posix()
        if rel.split("/", 1)[0] in SKIP_DIRS:
            continue
        pages.append(rel)
    return pages


def _is_notebook_page(rel: str, facts: dict) -> bool:
    return rel.startswith("notebooks/") or facts.get("cells", 0) > 0


def _check_link(root: Path, base: str, href: str) -> str | None:
    """Return a problem description for a same-site link, or None if it resolves."""
    url, fragment = urldefrag(href)
    path = unquote(urlsplit(url).path).lstrip("/")
    target = root / path
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"{href} -> missing file {path or '/'}"
    if fragment and target.suffix == ".html" and unquote(fragment) not in _ids_in(target):
        return f"{href} -> no id '{unquote(fragment)}' in {target.relative_to(root).as_posix()}"
    return None


@functools.lru_cache(maxsize=None)
def _chapter_number(root: Path, href: str) -> int | None:
    """The number a page shows before its title ("5. A coupling flow ..."), or None."""
    path = root / unquote(urlsplit(href).path).lstrip("/")
    if path.suffix != ".html" or not path.is_file():
        return None
    match = NUMBERED_TITLE.search(path.read_text(encoding="utf-8", errors="replace")[:20000])
    return int(match.group(1)) if match else None


def _analyse(result: PageResult, facts: dict, root: Path, base: str) -> None:
    # Maths.
    result.stats["math"] = facts["math"]
    if facts["math"]:
        if not facts["mathjax"]:
            result.fail("math", "page has maths but MathJax never started")
        elif facts["typeset"] < facts["math"]:
            result.fail("math", f"only {facts['typeset']} of {facts['math']} maths elements typeset")
        if not facts["mathjaxSrc"] or any(not s.startswith(base) for s in facts["mathjaxSrc"]):
            result.fail("math", f"MathJax not served by the site: {facts['mathjaxSrc']}")
    for err in facts["mathErrors"]:
        result.fail("math", f"MathJax error: {err}")
    for match in list(RAW_TEX.finditer(facts["text"]))[:3]:
        start = max(match.start() - 40, 0)
        snippet = " ".join(facts["text"][start:match.end() + 40].split())
        result.fail("raw-tex", f"raw TeX {match.group(0)!r} in visible text: ...{snippet}...")

    # Figures.
    images = facts["images"]
    result.stats["images"] = sum(1 for i in images if i["ok"])
    for img in images:
        if not img["ok"]:
            result.fail("figure", f"image did not load: {img['src'][:120]}")
    for img in images:
        if not (img["ok"] and img["content"] and img["shown"] > 0):
            continue
        natural = img["attrWidth"] if img["attrWidth"] == img["attrWidth"] else img["natural"]
        name = img["src"].rsplit("/", 1)[-1][:40]
        if img["shown"] < natural - 1:
            result.fail("figure-size", f"figure {name} is {natural:.0f} px wide but shown at "
                        f"{img['shown']:.0f} px: draw it at most as wide as the column")
        if img["output"] and img["natural"] < DENSITY * img["shown"] - 1:
            result.fail("figure-dpi", f"figure {name} has {img['natural'] / img['shown']:.2f} pixels "
                        f"per CSS pixel (< {DENSITY}: blurry)")
    if facts["is_notebook"]:
        shown = sum(1 for i in images if i["ok"] and i["output"])
        if shown == 0:
            result.fail("figure", "notebook page shows no figure in its cell outputs")

    # Cell outputs.
    for block in facts["stderr"]:
        result.fail("stderr", f"stderr/error output block: {block!r}")
    for match in list(LOG_NOISE.finditer(facts["outputText"]))[:3]:
        line_start = facts["outputText"].rfind("\n", 0, match.start()) + 1
        line_end = facts["outputText"].find("\n", match.end())
        line = facts["outputText"][line_start:line_end if line_end >= 0 else None].strip()
        result.fail("log-noise", f"log/warning text in cell output: {line[:160]!r}")

    # Layout.
    for block in facts["wideMath"][:3]:
        result.fail("wide-math", f"display equation {block['over']} px wider than its column: "
                    f"{' '.join(block['text'].split())!r}")
    for block in facts["clippedCode"][:3]:
        result.fail("clipped-code", f"code block clipped by {block['over']} px: {block['line'][:90]!r}")
    long_lines = [line for line in facts["codeLines"] if len(line.rstrip()) > CODE_COLUMNS]
    for line in long_lines[:3]:
        result.fail("long-code", f"code line of {len(line.rstrip())} > {CODE_COLUMNS} characters: "
                    f"{line.strip()[:90]!r}")
    for match in list(RAW_TABLE.finditer(facts["text"]))[:1]:
        start = max(match.start() - 60, 0)
        snippet = " ".join(facts["text"][start:match.end() + 20].split())
        result.fail("raw-table", f"pipe-table text left unrendered: ...{snippet}...")

    # Links.
    internal = 0
    for href in dict.fromkeys(facts["links"]):
        if not href.startswith(base):
            continue
        internal += 1
        problem = _check_link(root, base, href)
        if problem:
            result.fail("link", problem)
    result.stats["links"] = internal

    # A link that names a chapter by number names the number the target page shows.
    for link in facts["namedLinks"]:
        said = CHAPTER_NUMBER.search(link["text"])
        if not said or not link["href"].startswith(base):
            continue
        shown = _chapter_number(root, link["href"][len(base):])
        if shown is not None and int(said.group(1) or said.group(2)) != shown:
            result.fail("chapter-ref", f"link {link['text'][:60]!r} leads to chapter {shown}")


def check_site(build_dir: str | Path, *, screenshots: str | Path | None = None,
               only: str | None = None, echo=print) -> list[PageResult]:
    """Check every page of the site in ``build_dir``; returns one result per page."""
    from playwright.sync_api import sync_playwright

    root = Path(build_dir).resolve()
    if not (root / "index.html").is_file():
        raise SystemExit(f"site_check: no index.html in {root}; build the book first (make book)")
    pages = [p for p in find_pages(root) if only is None or only in p]
    shots = Path(screenshots) if screenshots else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    server, base = serve(root)
    results: list[PageResult] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            for rel in pages:
                result = _check_redirect(root, rel) or _check_page(context, root, base, rel, shots)
                results.append(result)
                _echo_result(result, echo)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return results


def _check_redirect(root: Path, rel: str) -> PageResult | None:
    """A meta-refresh page is checked for its target only (it is never a page to read)."""
    match = REDIRECT.search((root / rel).read_text(encoding="utf-8", errors="replace")[:4000])
    if not match:
        return None
    result = PageResult(rel)
    target = (root / rel).parent / unquote(urldefrag(match.group(1).strip())[0])
    if not target.resolve().is_file():
        result.fail("link", f"redirect to missing page {match.group(1)}")
    result.stats["redirect"] = 1
    return result


def _check_page(context, root: Path, base: str, rel: str, shots: Path | None) -> PageResult:
    """Open one page in a fresh tab, with the network fenced to the local server."""
    result = PageResult(rel)

    def route_handler(route):
        url = route.request.url
        if url.startswith(base) or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            result.fail("network", f"blocked request to {url[:160]}")
            route.abort()

    def on_response(response):
        if response.status >= 400 and response.url.startswith(base) \
                and not response.url.endswith("/favicon.ico"):
            result.fail("network", f"HTTP {response.status} for {response.url[len(base):]}")

    def on_request_failed(request):
        if request.url.startswith(base) and "ERR_ABORTED" not in (request.failure or ""):
            result.fail("network", f"request failed: {request.url[len(base):]} ({request.failure})")

    def on_console(message):
        if message.type == "error" and not BENIGN_CONSOLE.search(message.text):
            if "Failed to load resource" in message.text or "ERR_" in message.text:
                return  # the failed or blocked request itself is reported as [network]
            result.fail("script", f"console error: {message.text[:200]}")

    def on_page_error(error):
        result.fail("script", f"uncaught exception: {str(error)[:200]}")

    page = context.new_page()
    page.route("**/*", route_handler)
    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)
    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    try:
        page.goto(base + rel, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        facts = page.evaluate(_PAGE_FACTS_JS)
        page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT_MS)
        facts["is_notebook"] = _is_notebook_page(rel, facts)
        _analyse(result, facts, root, base)
        if shots:
            name = rel.replace("/", "__").removesuffix(".html") + ".png"
            page.screenshot(path=str(shots / name), full_page=True)
    except Exception as exc:  # a page that cannot be loaded is a failure, not a crash
        result.fail("load", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        page.close()
    return result


def _echo_result(result: PageResult, echo) -> None:
    stats = ", ".join(f"{k} {v}" for k, v in result.stats.items())
    echo(f"{'ok  ' if result.ok else 'FAIL'}  {result.path}" + (f"  ({stats})" if stats else ""))
    for kind, message in result.problems:
        echo(f"        [{kind}] {message}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build_dir", nargs="?", default="_build/html")
    parser.add_argument("--screenshots", help="save a full-page screenshot of every page here")
    parser.add_argument("--only", help="check only pages whose path contains this text")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"site_check: {CHROMIUM} not found; install Debian's chromium "
              "(apt-get install -y chromium; `make browser` does it)", file=sys.stderr)
        return 2
    results = check_site(args.build_dir, screenshots=args.screenshots, only=args.only)
    failed = [r for r in results if not r.ok]
    print(f"site_check: {len(results)} pages, {len(results) - len(failed)} ok, {len(failed)} failed")
    if not results:
        print("site_check: no pages found", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
