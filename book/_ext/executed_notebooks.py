"""Sphinx extension (local to this book): every chapter as an executed ``.ipynb``, and the launch links.

The chapters are MyST markdown; Colab opens ``.ipynb`` files only, and a downloaded notebook should
show what the page shows. When the HTML build has finished, this extension

* writes, for every notebook page ``<docname>`` (a page myst-nb read as a notebook), the file
  ``<outdir>/<docname>.ipynb`` next to its page (``notebooks/00_change_of_variables.ipynb``): the
  MyST source read as myst-nb reads it, with the outputs of the execution cache
  (``_build/.jupyter_cache``, which the build itself filled; nothing is executed again) and
  consecutive writes to one stream merged, as on the page (``nb_merge_streams``). Two cells come
  first: a line of markdown saying what the next cell is for, and the install cell
  (:func:`install_cell_source`), which installs the package on Colab and does nothing where it is
  installed. Cell ids are numbered, so a rebuild writes the same file. A page with no executed copy
  in the cache is a build warning;
* removes the copy sphinx-book-theme put in ``_sources/`` (myst-nb's ``jupyter_execute`` copy,
  which has no outputs when they come from the cache), so each chapter has one ``.ipynb``;
* copies the repository's ``.binder/`` (the environment mybinder.org builds) to ``<outdir>/.binder/``.

While each page is written (``html-page-context``, after the theme made its buttons) it points the
download button's ``.ipynb`` entry at that file, and the Colab and Binder buttons at the same file
on ``launch_branch`` (default ``gh-pages``), the branch the built site is published from:
``<colab_url>/github/<org>/<repo>/blob/<branch>/<docname>.ipynb`` and
``<binderhub_url>/v2/gh/<org>/<repo>/<branch>?labpath=<docname>.ipynb`` (JupyterLab). Organisation
and repository come from ``repository.url`` of ``_config.yml``, the services from its
``launch_buttons``. ``python -m tests.launch_check _build/html`` checks the result.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from urllib.parse import urlsplit

_EXECUTION_CACHE = Path(__file__).resolve().parents[1] / "_myst" / "execution_cache.py"

#: The environment variable the install cell reads its pip requirement from (default: the git URL).
INSTALL_SOURCE_VARIABLE = "GAUSSIANIZATION_INSTALL_SOURCE"

#: The markdown cell before the install cell.
INSTALL_NOTE = ("*For Colab and Binder:* the next cell installs this book's package, `gaussianization`, "
                "where it is missing (on Colab) and does nothing where it is installed (on Binder).")

_INSTALL_CELL = '''\
# Installs the book's package where it is missing (Colab); quiet; a no-op once installed.
import importlib.util

if importlib.util.find_spec("gaussianization") is None:
    import importlib, os, subprocess, sys

    # ${variable}, if set, names another pip requirement (a fork, a local clone).
    source = os.environ.get("{variable}",
                            "{requirement}")
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_ROOT_USER_ACTION="ignore")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source],
                         env=env, capture_output=True, text=True)
    if pip.returncode != 0:
        raise RuntimeError(f"pip could not install {{source}}:\\n{{pip.stdout}}{{pip.stderr}}")
    importlib.invalidate_caches()'''


def install_requirement(repository_url: str) -> str:
    """The pip requirement of the package and its plotting extra, from the repository's git URL."""
    return f"gaussianization[plot] @ git+{repository_url.rstrip('/')}"


def install_cell_source(repository_url: str) -> str:
    """The code of the install cell, the first code cell of every generated notebook."""
    return _INSTALL_CELL.format(variable=INSTALL_SOURCE_VARIABLE, requirement=install_requirement(repository_url))


def github_parts(repository_url: str) -> tuple[str, str]:
    """``(organisation, repository)`` of a ``https://github.com/<org>/<repo>`` URL."""
    parts = urlsplit(repository_url)
    path = parts.path.strip("/").removesuffix(".git").split("/")
    if parts.netloc != "github.com" or len(path) != 2:
        raise ValueError(f"not a GitHub repository URL: {repository_url!r}")
    return path[0], path[1]


def launch_urls(repository_url: str, launch_buttons: dict, branch: str, docname: str) -> dict[str, str]:
    """The Colab and Binder URLs (by button text) of ``<docname>.ipynb`` on ``branch``."""
    org, repo = github_parts(repository_url)
    path = f"{docname}.ipynb"
    colab, binder = (launch_buttons.get(key, "").rstrip("/") for key in ("colab_url", "binderhub_url"))
    urls = {}
    if colab:
        urls["Colab"] = f"{colab}/github/{org}/{repo}/blob/{branch}/{path}"
    if binder:
        urls["Binder"] = f"{binder}/v2/gh/{org}/{repo}/{branch}?labpath={path}"
    return urls


def with_install_cell(notebook, repository_url: str):
    """A copy of an executed notebook for Colab and Binder: the install cells first, stable ids,
    merged streams, and no MyST-only metadata."""
    import copy

    import nbformat
    from myst_nb.core.utils import coalesce_streams

    notebook = copy.deepcopy(notebook)
    for key in ("source_map", "jupytext"):
        notebook.metadata.pop(key, None)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
    notebook.cells[:0] = [nbformat.v4.new_markdown_cell(INSTALL_NOTE),
                          nbformat.v4.new_code_cell(install_cell_source(repository_url))]
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    nbformat.validate(notebook)
    return notebook


def executed_notebook(path: Path, cache_path: str):
    """The MyST notebook at ``path`` with its outputs from the cache (KeyError if none there).

    The one reader of the execution cache is ``book/_myst/execution_cache.py`` (mystmd's PDF and
    site use it too); this extension loads it by path, as Sphinx loads this file.
    """
    spec = importlib.util.spec_from_file_location("execution_cache", _EXECUTION_CACHE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.executed_notebook(path, Path(cache_path))


def notebook_pages(env) -> list[str]:
    """Docnames of the pages myst-nb read as notebooks (the test sphinx-book-theme uses too)."""
    return sorted(name for name in env.found_docs if "kernelspec" in env.metadata.get(name, {}))


def point_buttons(app, pagename, templatename, context, doctree):
    """Re-point a notebook page's download ``.ipynb`` entry and its Colab and Binder buttons."""
    if "kernelspec" not in app.env.metadata.get(pagename, {}):
        return
    options = app.config.html_theme_options
    urls = launch_urls(options["repository_url"], options.get("launch_buttons", {}),
                       app.config.launch_branch, pagename)
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []):
            if button.get("label") == "download-notebook-button":
                button["url"] = context["pathto"](f"{pagename}.ipynb", 1)
            elif group.get("label") == "launch-buttons" and button.get("text") in urls:
                button["url"] = urls[button["text"]]


def write_notebooks(app, exception):
    """Write every chapter's executed notebook into the site and copy the Binder environment."""
    if exception is not None or app.builder.format != "html":
        return
    import nbformat
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    env, outdir = app.env, Path(app.outdir)
    repository_url = app.config.html_theme_options["repository_url"]
    for docname in notebook_pages(env):
        source = Path(env.doc2path(docname))
        try:
            notebook = executed_notebook(source, str(env.mystnb_config.execution_cache_path))
        except KeyError:
            logger.warning(f"{source}: no executed copy in the execution cache; no .ipynb written",
                           location=docname)
            continue
        target = outdir / f"{docname}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(with_install_cell(notebook, repository_url), target)
        (outdir / "_sources" / f"{docname}.ipynb").unlink(missing_ok=True)
    binder = Path(app.srcdir) / ".binder"
    if not binder.is_dir():
        logger.warning(f"{binder} is missing: Binder would find no environment on {app.config.launch_branch}")
        return
    shutil.copytree(binder, outdir / ".binder", dirs_exist_ok=True)


def setup(app):
    app.add_config_value("launch_branch", "gh-pages", "html", types=[str])
    app.connect("html-page-context", point_buttons, priority=600)  # the theme's buttons: 501
    app.connect("build-finished", write_notebooks)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
