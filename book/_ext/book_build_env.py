"""Sphinx extension (local to this book): the environment the notebooks execute in.

Notebook kernels are child processes of the Sphinx build and inherit its environment.
Setting the variables here, before any notebook runs, keeps TensorFlow's C++ log lines
(``cpu_feature_guard`` ...) out of the rendered pages even when the book is built with a
bare ``jupyter-book build .`` instead of ``make book`` (which exports the same values).
Values already set by the caller win.

It also removes duplicated inline ``<script>`` blocks from every page: with Sphinx 7.4,
the inline scripts that sphinx-togglebutton and sphinx-thebe register after the builder
is initialised end up in the page twice, and the second copy of thebe's
``const THEBE_JS_URL = ...`` throws "Identifier 'THEBE_JS_URL' has already been declared"
in the browser on every page.
"""

from __future__ import annotations

import os

ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "2",  # hide TensorFlow INFO and WARNING lines from C++
    "KERAS_BACKEND": "tensorflow",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # a debugger notice ipykernel may print to stderr
}


def _script_key(script):
    # Inline scripts are registered with filename None or "" depending on the path they took.
    filename = getattr(script, "filename", str(script)) or ""
    attributes = getattr(script, "attributes", {}) or {}
    return str(filename), tuple(sorted((k, repr(v)) for k, v in attributes.items()))


def dedupe_scripts(app, pagename, templatename, context, doctree):
    """Keep the first of any identical script entries of a page."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    for key, value in ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    # autodoc imports the package, and so TensorFlow, into this process: keep its start-up notices
    # (oneDNN, absl) out of the build log, as gaussianization.setup() does in the notebooks.
    from gaussianization.notebook import quiet_tensorflow_import

    quiet_tensorflow_import()
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
