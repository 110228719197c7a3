"""pytest plugin: let nbval run the book's MyST-markdown notebooks.

nbval only collects ``.ipynb`` files. The notebooks of this book are MyST markdown
(jupytext ``format_name: myst``), so this plugin collects ``notebooks/NN_*.md``
through nbval's own collector, reading the file with jupytext instead of nbformat.
The sources carry no stored outputs: run with ``--nbval-lax``; the regression
checks are the ``assert`` cells inside the notebooks.

Use: ``python -m pytest -p tests.nbval_myst --nbval-lax --nbval-current-env notebooks``.
"""

from __future__ import annotations

import re
import types

import jupytext
from nbval import plugin as nbval_plugin

_NOTEBOOK_NAME = re.compile(r"^\d\d_[\w-]+\.md$")
_jupytext_reader = types.SimpleNamespace(read=lambda path, as_version=4: jupytext.read(path))


class MystNotebookFile(nbval_plugin.IPyNbFile):
    """nbval's notebook collector, reading a MyST ``.md`` notebook with jupytext."""

    def collect(self):
        real_nbformat = nbval_plugin.nbformat
        nbval_plugin.nbformat = _jupytext_reader  # only nbval's own reference
        try:
            yield from super().collect()
        finally:
            nbval_plugin.nbformat = real_nbformat


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and _NOTEBOOK_NAME.match(file_path.name):
        return MystNotebookFile.from_parent(parent, path=file_path)
    return None
