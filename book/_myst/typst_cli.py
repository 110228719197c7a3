"""A ``typst`` command for mystmd, backed by the ``typst`` package from PyPI.

mystmd's Typst export runs ``typst compile FILE.typ`` and expects ``FILE.pdf`` next to it. The
Typst compiler is on PyPI only as a Python binding (``typst``, no executable), so ``make pdf``
installs this file as ``.venv-myst/bin/typst``. Only ``typst compile INPUT [OUTPUT]`` is
understood. Packages (``#import "@preview/..."``) are read from ``TYPST_PACKAGE_PATH`` (``make pdf``
points it at book/_myst/typst/packages), never downloaded. The PDF is reproducible: only the
fonts embedded in the compiler are used (never the machine's), and the creation date is
``SOURCE_DATE_EPOCH`` (default 0). Any Typst warning (a missing glyph, an unknown reference, ...)
is printed and fails the command, as an error does.
"""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "compile":
        print("usage: typst compile INPUT.typ [OUTPUT.pdf]", file=sys.stderr)
        return 2
    import typst

    source = Path(argv[1])
    output = Path(argv[2]) if len(argv) > 2 else source.with_suffix(".pdf")
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    packages = os.environ.get("TYPST_PACKAGE_PATH")
    try:
        _, warnings = typst.compile_with_warnings(
            str(source), output=str(output), root=str(source.parent),
            ignore_system_fonts=True, timestamp=stamp, package_path=packages,
            package_cache_path=packages)
    except Exception as error:  # the compiler's diagnostics, as the real CLI prints them
        details = [getattr(error, "diagnostic", ""), *getattr(error, "hints", []), *getattr(error, "trace", [])]
        print(f"typst error: {error}", *[d for d in details if d], sep="\n", file=sys.stderr)
        return 1
    for warning in warnings:
        print(f"typst warning: {getattr(warning, 'message', warning)}\n"
              f"{getattr(warning, 'diagnostic', '')}", file=sys.stderr)
    return 1 if warnings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
