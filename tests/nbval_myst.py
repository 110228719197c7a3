"""pytest plugin: let nbval run the book's MyST-markdown notebooks.

nbval only collects ``.ipynb`` files. The notebooks of this book are MyST markdown
(jupytext ``format_name: myst``), so this plugin collects ``notebooks/NN_*.md``
through nbval's own collector, reading the file with jupytext instead of nbformat.
The sources carry no stored outputs: run with ``--nbval-lax``; the regression
checks are the ``assert`` cells inside the notebooks.

With ``--nbval-no-stderr`` a cell that writes anything to stderr fails, whatever else it
does: a TensorFlow log line or a warning would otherwise land on the rendered page.

A kernel that dies while starting (before it answers ``kernel_info``: for example
when another process took one of the TCP ports picked for it, which happens when two
nbval runs start kernels at the same moment, as ``make notebooks`` does) is started
again, up to ``KERNEL_START_ATTEMPTS`` times, with a note on the terminal; a notebook
never runs twice, and a kernel that cannot start fails the notebook with its stderr.

With ``--nbval-book-cache DIR`` (``make test`` passes ``_build/.jupyter_cache``),
a notebook whose every cell passed is also stored, with its outputs, in the
Jupyter Book execution cache, keyed exactly as the book build keys it. The book
build that follows then renders these outputs instead of executing the notebook
a second time. A notebook that failed is never cached.

Use: ``python -m pytest -p tests.nbval_myst --nbval-lax --nbval-current-env notebooks``.
"""

from __future__ import annotations

import copy
import re
import sys
import tempfile
import time
import types
from pathlib import Path

import jupytext
import pytest
from nbval import kernel as nbval_kernel
from nbval import plugin as nbval_plugin

_NOTEBOOK_NAME = re.compile(r"^\d\d_[\w-]+\.md$")
_jupytext_reader = types.SimpleNamespace(read=lambda path, as_version=4: jupytext.read(path))
KERNEL_START_ATTEMPTS = 3
_nbval_start_new_kernel = nbval_kernel.start_new_kernel


def start_kernel_with_retries(*, stderr=None, **kwargs):
    """nbval's ``start_new_kernel``, tried up to ``KERNEL_START_ATTEMPTS`` times.

    The kernel's own stderr (nbval sends it to ``os.devnull``) goes to a temporary file,
    so that a kernel that never starts is reported with what it printed.

    Raises:
        RuntimeError: every attempt failed; the message ends with the last kernel's stderr.
    """
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as log:
            try:
                return _nbval_start_new_kernel(stderr=log, **kwargs)
            except RuntimeError as error:
                log.seek(0)
                printed = log.read()[-4000:]
                if attempt == KERNEL_START_ATTEMPTS:
                    raise RuntimeError(f"{error} ({attempt} attempts); the kernel's stderr:\n"
                                       f"{printed}") from error
                sys.stderr.write(f"\nnbval_myst: the kernel did not start ({error}); "
                                 f"starting it again (attempt {attempt + 1}). Its stderr:\n{printed}\n")
    raise AssertionError("unreachable")


nbval_kernel.start_new_kernel = start_kernel_with_retries  # RunningKernel looks it up here


def pytest_addoption(parser):
    parser.getgroup("nbval").addoption(
        "--nbval-book-cache", default=None,
        help="Jupyter Book execution cache (e.g. _build/.jupyter_cache) to store passing notebooks in.",
    )
    parser.getgroup("nbval").addoption(
        "--nbval-no-stderr", action="store_true", default=False,
        help="fail any notebook cell that writes to stderr",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """With --nbval-no-stderr, fail a cell whose outputs include a stderr stream."""
    result = yield
    if item.config.getoption("nbval_no_stderr"):
        streams = [out for out in getattr(item, "test_outputs", None) or []
                   if out.get("output_type") == "stream" and out.get("name") == "stderr"]
        if streams:
            text = "".join(out.get("text", "") for out in streams)
            raise AssertionError(f"the cell wrote to stderr (it would appear on the page):\n{text}")
    return result


class MystNotebookFile(nbval_plugin.IPyNbFile):
    """nbval's notebook collector, reading a MyST ``.md`` notebook with jupytext."""

    def collect(self):
        real_nbformat = nbval_plugin.nbformat
        nbval_plugin.nbformat = _jupytext_reader  # only nbval's own reference
        try:
            self._started = time.perf_counter()
            yield from super().collect()
        finally:
            nbval_plugin.nbformat = real_nbformat

    def teardown(self):
        super().teardown()
        cache_dir = self.config.getoption("nbval_book_cache")
        if cache_dir:
            _store_in_book_cache(Path(self.path), list(self.session.items), Path(cache_dir),
                                 time.perf_counter() - self._started)


def _store_in_book_cache(path: Path, items, cache_dir: Path, seconds: float):
    """Cache the executed notebook the way myst-nb's ``execute_notebooks: cache`` would."""
    cells = [item for item in items if Path(getattr(item.parent, "path", "")) == path]
    outputs = [getattr(item, "test_outputs", None) for item in cells]
    failed = any(o is None or any(out.get("output_type") == "error" for out in o) for o in outputs)
    if not cells or failed:
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from myst_nb.core.read import read_myst_markdown_notebook

    notebook = read_myst_markdown_notebook(path.read_text(encoding="utf-8"), add_source_map=True, path=path)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if len(code_cells) != len(outputs):
        return  # the two readers disagree on the cells: let the book build execute it
    for count, (cell, outs) in enumerate(zip(code_cells, outputs), start=1):
        cell.outputs = copy.deepcopy(outs)
        cell.execution_count = count
        for out in cell.outputs:
            if out.get("output_type") == "execute_result":
                out["execution_count"] = count
    cache_dir.mkdir(parents=True, exist_ok=True)
    get_cache(str(cache_dir)).cache_notebook_bundle(
        CacheBundleIn(notebook, str(path.resolve()), data={"execution_seconds": seconds}),
        check_validity=False, overwrite=True,
    )


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and _NOTEBOOK_NAME.match(file_path.name):
        return MystNotebookFile.from_parent(parent, path=file_path)
    return None

