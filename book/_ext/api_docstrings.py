"""Sphinx extension (local to this book): keep plain-text maths in docstrings literal.

The package's docstrings are written for ``help()`` as much as for the site, so they
use plain-text notation such as ``|det J|`` or ``|error in log p|``. In reStructuredText
``|word|`` is a *substitution reference*, and an undefined one is an error that fails
the ``-W`` build. This ``autodoc-process-docstring`` hook escapes such bar pairs so
they render as written. It leaves alone inline literals and roles (````...````,
``:math:`...```), literal/directive blocks introduced by ``::``, doctest lines and
grid tables or line blocks (lines starting with ``|`` or ``+``).
"""

from __future__ import annotations

import re

# Inline literals, roles with content, and interpreted text/links: never touched.
_PROTECTED = re.compile(r"(``.+?``|:[\w:.+-]+:`[^`]*`|`[^`]*`_{0,2})")
# What docutils would read as a substitution reference: |x...y| with no inner edge spaces.
_SUBSTITUTION = re.compile(r"(?<![\\\w|])\|(?=\S)([^|`]*?\S)\|(?![\w|])")


def escape_substitutions(line: str) -> str:
    """Backslash-escape ``|...|`` pairs outside inline literals and roles."""
    parts = _PROTECTED.split(line)
    for i in range(0, len(parts), 2):
        parts[i] = _SUBSTITUTION.sub(r"\\|\1\\|", parts[i])
    return "".join(parts)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def process_docstring(app, what, name, obj, options, lines):
    block_indent = None  # indentation of the line that opened a literal/directive block
    for i, line in enumerate(lines):
        stripped = line.strip()
        if block_indent is not None:
            if not stripped or _indent(line) > block_indent:
                continue
            block_indent = None
        if stripped.endswith("::"):
            block_indent = _indent(line)
        if not stripped or stripped.startswith((">>>", "...", "|", "+")):
            continue
        lines[i] = escape_substitutions(line)


def setup(app):
    app.connect("autodoc-process-docstring", process_docstring)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
