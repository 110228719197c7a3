"""The browser check must fail on bad pages, not only pass on good ones.

A tiny fake site is written to a temporary directory: one good page (typeset maths, a
loaded image, working links) and one page per defect the checker exists to catch. The
checker runs on it in the real headless Chromium, exactly as ``make site-check`` runs it
on the book. No book build is needed; the whole test takes a few seconds.
"""

from __future__ import annotations

import base64
import importlib.util
import struct
import zlib
from pathlib import Path

import pytest

from tests import site_check

# A valid 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _png(width: int, height: int) -> bytes:
    """A grey ``width`` x ``height`` PNG (8-bit greyscale)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _mathjax_dir() -> Path:
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    assert spec is not None and spec.origin, "sphinx-mathjax-offline is not installed"
    return Path(spec.origin).parent / "static" / "mathjax"


def _page(body: str, *, head: str = "", depth: int = 0) -> str:
    up = "../" * depth
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>t</title>"
        "<script>window.MathJax = {options: {processHtmlClass: 'math'}};</script>"
        f"<script defer src='{up}_static/mathjax/tex-chtml.js'></script>{head}</head>"
        f"<body class='mathjax_ignore'><main>{body}</main></body></html>"
    )


GOOD = _page(
    "<h1 id='top'>Good</h1>"
    "<p>Inline <span class='math'>\\(p_X(x) = \\frac{1}{2}\\)</span> and display</p>"
    "<div class='math'>\\[\\log p_X(x) = \\log \\mathcal{N}(f(x); 0, I)\\]</div>"
    "<p><a href='#top'>self</a> <a href='notebooks/chapter.html#results'>chapter</a> "
    "<a href='https://example.org/paper'>an external link (not loaded)</a></p>"
    "<pre><code>print('a literal \\\\begin{x} in code is fine')</code></pre>"
    "<img src='_images/ok.png' alt='ok'>"
)

GOOD_NOTEBOOK = _page(
    "<h1 id='results'>Chapter</h1>"
    "<div class='cell'><div class='cell_input'><pre>plt.show()</pre></div>"
    "<div class='cell_output'><img src='../_images/ok.png' alt='figure'></div></div>"
    # a 2x figure shown at its design width (40 CSS px), in a column wide enough for it
    "<div style='width: 300px'><div class='cell'><div class='cell_output'>"
    "<img src='../_images/retina.png' width='40' alt='sharp figure'></div></div></div>"
    "<p><a href='../good.html'>back</a></p>",
    depth=1,
)

BAD_PAGES = {
    # maths left as raw TeX: MathJax is not on the page at all
    "raw_tex.html": (
        "<!DOCTYPE html><html><head><title>t</title></head><body><main>"
        "<p>Density <span class='math'>\\(p_X(x)\\)</span> and $$x^2$$ and "
        "\\begin{align} a \\end{align}</p></main></body></html>"
    ),
    # a notebook page whose cell outputs show no figure, and an image that does not load
    "notebooks/missing_figure.html": _page(
        "<div class='cell'><div class='cell_input'><pre>plt.plot(x)</pre></div>"
        "<div class='cell_output'><pre>[&lt;Line2D&gt;]</pre></div></div>"
        "<img src='../_images/gone.png' alt='gone'>",
        depth=1,
    ),
    # internal links to a missing page and to a missing anchor
    "broken_link.html": _page(
        "<p><a href='nope.html'>missing page</a> <a href='good.html#no-such-anchor'>bad anchor</a>"
        " <a href='#also-missing'>bad local anchor</a></p>"
    ),
    # resources from the network (blocked by the checker, never fetched)
    "external.html": _page(
        "<p>cdn</p><img src='https://example.com/figure.png' alt='remote'>",
        head="<link rel='stylesheet' href='https://cdn.jsdelivr.net/npm/some/theme.css'>",
    ),
    # TensorFlow log lines in a stderr block and a Python warning in a stream output
    "notebooks/noisy.html": _page(
        "<div class='cell'><div class='cell_output'>"
        "<div class='output stderr'><pre>2025-01-01 12:00:00.000000: I "
        "tensorflow/core/util/port.cc:153] oneDNN custom operations are on.</pre></div>"
        "<div class='output stream'><pre>/x.py:3: UserWarning: this is noise</pre></div>"
        "<img src='../_images/ok.png' alt='figure'></div></div>",
        depth=1,
    ),
    # layout defects in a narrow column: an equation and a code line too wide for it, a figure
    # shrunk below its design width and with fewer pixels than CSS pixels, raw pipe-table text
    "notebooks/layout.html": _page(
        "<div style='width: 300px'>"
        "<div class='math' style='overflow-x: auto'>\\[" + " + ".join(f"x_{{{i}}}" for i in range(60))
        + "\\]</div>"
        "<div class='cell'><div class='cell_input'><pre style='overflow-x: auto'>"
        "total = first_quantity + second_quantity  # " + "a long comment " * 4 + "</pre></div>"
        "<div class='cell_output'><img src='../_images/retina.png' width='600' "
        "style='max-width: 100%' alt='shrunk'></div></div>"
        "<p>| model | gap | |:--|--:| | a | 1 |</p></div>",
        depth=1,
    ),
    # links that name a chapter by a number other than the one its page shows ("5. Chapter")
    "wrong_chapter.html": _page(
        "<p>See <a href='notebooks/numbered.html'>chapter 4</a> and "
        "<a href='notebooks/numbered.html'>4 · Chapter</a>; "
        "<a href='notebooks/numbered.html'>chapter 5</a> is right.</p>"
    ),
    # a page script that throws
    "script_error.html": _page("<p>js</p><script>throw new Error('boom');</script>"),
    # a redirect page whose target does not exist
    "redirect.html": "<html><head><meta http-equiv='refresh' content='0; url=gone/index.html'></head></html>",
}

EXPECTED = {
    "raw_tex.html": {"raw-tex", "math"},
    "notebooks/missing_figure.html": {"figure", "network"},
    "broken_link.html": {"link"},
    "external.html": {"network", "figure"},
    "notebooks/noisy.html": {"stderr", "log-noise"},
    "script_error.html": {"script"},
    "wrong_chapter.html": {"chapter-ref"},
    "notebooks/layout.html": {"wide-math", "clipped-code", "long-code", "figure-size", "figure-dpi",
                              "raw-table"},
    "redirect.html": {"link"},
}


@pytest.fixture(scope="module")
def fake_site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "_images").mkdir()
    (root / "_images" / "ok.png").write_bytes(PNG)
    (root / "_images" / "retina.png").write_bytes(_png(80, 20))
    (root / "_static").mkdir()
    (root / "_static" / "mathjax").symlink_to(_mathjax_dir(), target_is_directory=True)
    (root / "notebooks").mkdir()
    (root / "index.html").write_text(GOOD, encoding="utf-8")
    (root / "good.html").write_text(GOOD, encoding="utf-8")
    (root / "notebooks" / "chapter.html").write_text(GOOD_NOTEBOOK, encoding="utf-8")
    (root / "notebooks" / "numbered.html").write_text(
        GOOD_NOTEBOOK.replace("<title>t</title>", "<title>5. Chapter</title>"), encoding="utf-8")
    for rel, html in BAD_PAGES.items():
        (root / rel).write_text(html, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def results(fake_site) -> dict[str, site_check.PageResult]:
    lines: list[str] = []
    checked = site_check.check_site(fake_site, echo=lines.append)
    print("\n".join(lines))
    return {r.path: r for r in checked}


def test_browser_is_installed():
    assert Path(site_check.CHROMIUM).exists(), "install Debian's chromium (make browser)"


def test_every_page_is_checked(results):
    expected = {"index.html", "good.html", "notebooks/chapter.html", "notebooks/numbered.html",
                *BAD_PAGES}
    assert set(results) == expected


@pytest.mark.parametrize("page", ["index.html", "good.html", "notebooks/chapter.html"])
def test_good_pages_pass(results, page):
    result = results[page]
    assert result.ok, result.problems
    if page != "notebooks/chapter.html":
        assert result.stats["math"] == 2  # both maths elements were found and typeset


@pytest.mark.parametrize("page", sorted(BAD_PAGES))
def test_bad_pages_fail_for_the_right_reason(results, page):
    result = results[page]
    assert not result.ok
    missing = EXPECTED[page] - result.kinds()
    assert not missing, f"{page}: expected {missing} among {result.problems}"


def test_details_name_the_defect(results):
    links = " ".join(m for _, m in results["broken_link.html"].problems)
    assert "nope.html" in links and "no-such-anchor" in links and "also-missing" in links
    network = " ".join(m for _, m in results["external.html"].problems)
    assert "cdn.jsdelivr.net" in network and "example.com" in network
    noise = " ".join(m for _, m in results["notebooks/noisy.html"].problems)
    assert "oneDNN" in noise and "UserWarning" in noise
    chapters = [m for kind, m in results["wrong_chapter.html"].problems if kind == "chapter-ref"]
    assert len(chapters) == 2 and all("leads to chapter 5" in m for m in chapters), chapters
    layout = dict(results["notebooks/layout.html"].problems)
    assert "x_{" not in layout["wide-math"] and "px wider than its column" in layout["wide-math"]
    assert "shown at 300 px" in layout["figure-size"] and "600 px wide" in layout["figure-size"]
    assert "code line of 103 > 88" in layout["long-code"], layout["long-code"]


def test_exit_status(fake_site, tmp_path, capsys):
    assert site_check.main([str(fake_site)]) == 1
    assert "failed" in capsys.readouterr().out
    # a site with only the good pages passes
    good = tmp_path / "good_site"
    (good / "_images").mkdir(parents=True)
    (good / "_images" / "ok.png").write_bytes(PNG)
    (good / "_static").mkdir()
    (good / "_static" / "mathjax").symlink_to(_mathjax_dir(), target_is_directory=True)
    (good / "notebooks").mkdir()
    (good / "index.html").write_text(GOOD.replace("notebooks/chapter.html#results", "good.html#top"))
    (good / "good.html").write_text(GOOD.replace("notebooks/chapter.html#results", "good.html"))
    assert site_check.main([str(good)]) == 0
