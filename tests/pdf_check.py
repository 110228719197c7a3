"""Check the book's PDF: it opens, has every chapter, and every chapter has a figure.

Usage::

    python -m tests.pdf_check _build/pdf/book.pdf [--notebooks notebooks]

The chapters are the notebooks ``notebooks/NN_*.md``; a chapter's title is its first ``# ``
heading. Each must be a top-level entry of the PDF's outline (its bookmarks), and the pages from
that entry up to the next top-level entry must hold at least one image (the notebook's figures
are PNG outputs of its cells). Prints the page count, the size and one line per chapter; exits
non-zero when the PDF does not open or a chapter or its figure is missing. Run with the PDF
environment's Python (``.venv-myst``, which has pypdf).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TITLE = re.compile(r"^# (.+?)\s*$", re.MULTILINE)
FENCED = re.compile(r"^(`{3,}|:{3,}).*?^\1\s*$", re.MULTILINE | re.DOTALL)  # code cells, directives


def chapter_titles(notebooks: Path) -> list[str]:
    titles = []
    for path in sorted(notebooks.glob("[0-9][0-9]_*.md")):
        match = TITLE.search(FENCED.sub("", path.read_text(encoding="utf-8")))
        if match is None:
            raise ValueError(f"{path} has no '# ' title")
        titles.append(match.group(1))
    return titles


def _plain(text: str) -> str:
    """A title as the PDF outline spells it: no Markdown emphasis or code marks, single spaces."""
    return " ".join(re.sub(r"[*_`$]", "", text).split())


def _images_on(page) -> int:
    """Image XObjects a page draws, also inside form XObjects (as Typst nests them)."""
    seen, count, stack = set(), 0, [page.get("/Resources")]
    while stack:
        resources = stack.pop()
        if resources is None:
            continue
        resources = resources.get_object()
        xobjects = resources.get("/XObject")
        if xobjects is None:
            continue
        for ref in xobjects.get_object().values():
            key = getattr(ref, "idnum", id(ref))
            if key in seen:
                continue
            seen.add(key)
            xobject = ref.get_object()
            if xobject.get("/Subtype") == "/Image":
                count += 1
            elif xobject.get("/Subtype") == "/Form":
                stack.append(xobject.get("/Resources"))
    return count


def check_pdf(pdf: Path, titles: list[str]) -> tuple[list[str], list[str]]:
    """(report lines, problems) for the PDF at ``pdf`` and the chapter ``titles``."""
    from pypdf import PdfReader

    reader = PdfReader(str(pdf))
    pages = len(reader.pages)
    report = [f"{pdf}: {pages} pages, {pdf.stat().st_size / 2**20:.1f} MiB"]
    problems = []
    if pages == 0:
        return report, [f"{pdf} has no pages"]
    top = [(_plain(entry.title), reader.get_destination_page_number(entry))
           for entry in reader.outline if not isinstance(entry, list)]
    starts = [page for _, page in top] + [pages]
    for title in titles:
        wanted = _plain(title)
        index = next((i for i, (name, _) in enumerate(top) if name == wanted), None)
        if index is None:
            problems.append(f"chapter {title!r} is not a top-level entry of the PDF's outline")
            continue
        first, end = top[index][1], max(starts[index + 1], top[index][1] + 1)
        images = sum(_images_on(reader.pages[p]) for p in range(first, end))
        report.append(f"  {title}: pages {first + 1}-{end}, {images} images")
        if images == 0:
            problems.append(f"chapter {title!r} (pages {first + 1}-{end}) has no image")
    return report, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", type=Path)
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"))
    args = parser.parse_args(argv)
    try:
        report, problems = check_pdf(args.pdf, chapter_titles(args.notebooks))
    except Exception as error:  # a PDF that does not open is a failed check, not a crash
        print(f"{args.pdf}: cannot read: {error}", file=sys.stderr)
        return 1
    print("\n".join(report))
    for problem in problems:
        print(f"{args.pdf}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
